//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same harnesses the cargo-fuzz targets call, so every seed and every
//! crash a fuzzer ever found is checked by an ordinary `cargo test`, on
//! stable, without cargo-fuzz.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

/// A harness: must not panic, whatever the bytes.
type Harness = fn(&[u8]);

/// Every fuzz target, by the name of its corpus directory, and the harness
/// it runs. A new target is one line here.
const HARNESSES: &[(&str, Harness)] = &[
    ("envelope_open", secrets_core::fuzz::envelope_open),
    ("jwt_decode", secrets_core::fuzz::jwt_decode),
    ("stored_hash_parse", secrets_core::fuzz::stored_hash_parse),
    ("token_parse", secrets_core::fuzz::token_parse),
    ("webhook_verify", secrets_core::fuzz::webhook_verify),
];

/// Fewer files than this in a target's corpus means it went missing.
const MIN_FILES_PER_TARGET: usize = 10;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// The regular files of `dir`, sorted, so failures are reproducible.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_directory_has_a_harness() {
    let root = corpus_root();
    let mut dirs: Vec<String> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("fuzz corpus missing at {}: {e}", root.display()))
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no corpus directories in {}",
        root.display()
    );
    for dir in &dirs {
        assert!(
            HARNESSES.iter().any(|(name, _)| name == dir),
            "fuzz/corpus/{dir} has no harness in HARNESSES",
        );
    }
}

#[test]
fn every_harness_replays_its_corpus_without_panicking() {
    let root = corpus_root();
    for (name, harness) in HARNESSES {
        let dir = root.join(name);
        assert!(
            dir.is_dir(),
            "no corpus for fuzz target `{name}` at {}",
            dir.display()
        );
        let files = files_in(&dir);
        assert!(
            files.len() >= MIN_FILES_PER_TARGET,
            "fuzz/corpus/{name} has {} files, expected at least {MIN_FILES_PER_TARGET}",
            files.len(),
        );
        for file in &files {
            let data = fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{name}` panicked on {}",
                file.display()
            );
        }
    }
}
