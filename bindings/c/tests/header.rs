//! The committed header cannot drift: it is generated again here, by the
//! pinned cbindgen, and compared byte for byte. With
//! `SECRETS_CORE_BLESS=1` the test rewrites it instead.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

/// The version defines, from this crate's version.
fn version_defines() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split(['.', '-', '+']);
    let mut next = || parts.next().unwrap_or("0").to_owned();
    let (major, minor, patch) = (next(), next(), next());
    format!(
        "\n#define SC_VERSION \"{version}\"\n#define SC_VERSION_MAJOR {major}\n#define SC_VERSION_MINOR {minor}\n#define SC_VERSION_PATCH {patch}\n"
    )
}

fn generate() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    config.after_includes = Some(version_defines());
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_matches_the_source() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/secrets_core.h");
    let fresh = generate();
    if std::env::var_os("SECRETS_CORE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/secrets_core.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/secrets_core.h differs from what cbindgen generates from src/: \
         run `SECRETS_CORE_BLESS=1 cargo test -p secrets-core-c --test header` and commit it"
    );
}

#[test]
fn header_version_is_the_crate_version() {
    let header = generate();
    let expected = format!("#define SC_VERSION \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(header.contains(&expected), "{expected} missing");
    // Everything the library exports is declared, and nothing test-only
    // escapes its guard.
    assert!(header.contains("sc_result sc_vault_open("));
    let guard = header
        .find("#if defined(SC_TESTING)")
        .expect("SC_TESTING guard");
    let panic = header
        .find("sc_test_panic")
        .expect("sc_test_panic declared");
    assert!(panic > guard);
}
