//! State sizes that matter on a microcontroller (design.md: decoder < 48 bytes, connection
//! < 256 bytes, buffers excluded; the connection here includes its 125-byte control buffer).

use realtime_core::Rng;
use realtime_core::ws::Connection;
use realtime_core::ws::frame::FrameDecoder;
use realtime_core::ws::utf8::Utf8Validator;

#[test]
fn decoder_and_connection_stay_small() {
    assert!(size_of::<FrameDecoder>() < 48, "decoder: {}", size_of::<FrameDecoder>());
    assert!(size_of::<Connection>() < 256, "connection: {}", size_of::<Connection>());
    assert!(size_of::<Utf8Validator>() <= 4);
    assert!(size_of::<Rng>() <= 24);
}
