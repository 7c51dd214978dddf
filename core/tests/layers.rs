//! The layers stay layers: `ws` uses nothing above it, and `phoenix` (the generic Phoenix
//! Channels protocol) uses nothing of `supabase` or of the client that composes the two. Read
//! from the sources, since Rust has no visibility rule that says it.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The code lines of `layer` (comments aside) that name one of `forbidden`.
fn uses(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer);
    let files = sources(&dir);
    assert!(files.len() > 3, "{layer}: {} files", files.len());
    let mut found = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, code));
                }
            }
        }
    }
    found
}

#[test]
fn phoenix_uses_nothing_of_supabase_or_the_client() {
    let found = uses("phoenix", &["crate::supabase", "crate::client", "super::super::"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn ws_uses_nothing_above_it() {
    let found = uses("ws", &["crate::supabase", "crate::client", "crate::phoenix"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_check_sees_a_use() {
    // The scan itself works: the client does use both layers.
    assert!(!uses("client", &["crate::supabase"]).is_empty());
    assert!(!uses("client", &["crate::phoenix"]).is_empty());
}
