//! The committed fuzz corpora replayed on stable: every file of `fuzz/corpus/<target>/` through
//! the harness its target runs, so `cargo test` keeps passing what the fuzzer found.

use std::fs;
use std::path::Path;

use realtime_core::fuzzing::TARGETS;

fn corpus_dir(target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

#[test]
fn every_committed_corpus_replays_through_its_harness() {
    let mut empty = Vec::new();
    for &(target, harness) in TARGETS {
        let dir = corpus_dir(target);
        let entries = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no corpus for fuzz target {target} at {}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("a corpus directory entry").path();
            let input = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            // A failing input names itself before the harness panics.
            eprintln!("replaying {}", path.display());
            harness(&input);
            replayed += 1;
        }
        if replayed == 0 {
            empty.push(target);
        }
    }
    assert!(empty.is_empty(), "empty corpora (run the fuzzer and commit them): {empty:?}");
}

#[test]
fn every_corpus_directory_belongs_to_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let entries = fs::read_dir(&root).unwrap_or_else(|e| panic!("no corpora at {}: {e}", root.display()));
    for entry in entries {
        let name = entry.expect("a corpus entry").file_name();
        let name = name.to_string_lossy();
        assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/corpus/{name} has no harness in TARGETS");
    }
}
