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

use secrets_core::fuzz;

/// A harness: must not panic, whatever the bytes. The newer ones also say
/// whether they accepted the input.
#[derive(Clone, Copy)]
enum Harness {
    Silent(fn(&[u8])),
    Says(fn(&[u8]) -> bool),
}
use Harness::{Says, Silent};

impl Harness {
    /// Runs it: whether the input was accepted, if the harness says.
    fn run(self, data: &[u8]) -> Option<bool> {
        match self {
            Silent(harness) => {
                harness(data);
                None
            }
            Says(harness) => Some(harness(data)),
        }
    }
}

/// Every fuzz target, by the name of its corpus directory, and the harness
/// it runs. A new target is one line here.
const HARNESSES: &[(&str, Harness)] = &[
    ("envelope_open", Silent(fuzz::envelope_open)),
    ("jwt_decode", Silent(fuzz::jwt_decode)),
    ("stored_hash_parse", Silent(fuzz::stored_hash_parse)),
    ("token_parse", Silent(fuzz::token_parse)),
    ("webhook_verify", Silent(fuzz::webhook_verify)),
    ("cors_preflight", Says(fuzz::cors_preflight)),
    ("endpoint_url", Says(fuzz::endpoint_url)),
    ("github_signature", Says(fuzz::github_signature)),
    ("oauth_token_response", Says(fuzz::oauth_token_response)),
    ("pkce_verifier", Says(fuzz::pkce_verifier)),
    ("stored_row", Says(fuzz::stored_row)),
    ("webhook_headers", Says(fuzz::webhook_headers)),
    ("webhook_secret", Says(fuzz::webhook_secret)),
    ("bearer_value", Says(fuzz::bearer_value)),
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

/// Every `[[bin]]` of `fuzz/Cargo.toml` is replayed here: a target added
/// there without a line in [`HARNESSES`] would never run in `cargo test`.
#[test]
fn every_cargo_fuzz_target_has_a_harness() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml");
    let manifest = fs::read_to_string(&manifest).unwrap();
    let mut targets = 0;
    for block in manifest.split("[[bin]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_else(|| panic!("a [[bin]] without a name in fuzz/Cargo.toml"));
        assert!(
            HARNESSES.iter().any(|(n, _)| *n == name),
            "fuzz target `{name}` has no harness in HARNESSES"
        );
        targets += 1;
    }
    assert_eq!(targets, HARNESSES.len(), "a harness without a fuzz target");
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
            let outcome = std::panic::catch_unwind(|| harness.run(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{name}` panicked on {}",
                file.display()
            );
        }
    }
}

/// A seed named `ok_*` must be accepted and one named `bad_*` refused, so
/// the corpus pins known answers and its valid seeds really reach the
/// paths past the parser (a seed that silently stopped verifying would
/// leave them unfuzzed).
#[test]
fn seeds_named_ok_are_accepted_and_seeds_named_bad_are_refused() {
    let root = corpus_root();
    let mut pinned = 0;
    for (name, harness) in HARNESSES {
        if let Silent(_) = harness {
            continue;
        }
        let mut ok = 0;
        for file in files_in(&root.join(name)) {
            let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
            let want = if file_name.starts_with("ok_") {
                true
            } else if file_name.starts_with("bad_") {
                false
            } else {
                continue;
            };
            let got = harness.run(&fs::read(&file).unwrap());
            assert_eq!(
                got,
                Some(want),
                "fuzz/corpus/{name}/{file_name}: accepted is {got:?}, the name says {want}"
            );
            ok += usize::from(want);
            pinned += 1;
        }
        assert!(ok > 0, "fuzz/corpus/{name} has no seed named ok_*");
    }
    assert!(pinned > 0);
}
