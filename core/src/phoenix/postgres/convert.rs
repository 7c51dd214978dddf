//! The lossless column converter (filled in by the converter work).
