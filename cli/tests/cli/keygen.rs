//! keygen.

use crate::fixture::Fixture;

#[test]
fn keygen_writes_a_0600_key_and_refuses_to_overwrite() {
    let f = Fixture::new();
    let out = f.path("new.key");
    let path = out.to_str().unwrap();
    let run = f.bare(&["--json", "keygen", "--out", path], "").expect(0);
    assert_eq!(run.json()["key_file"], path);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(secrets_core::crypto::MasterKey::from_base64(&text).is_ok());
    assert!(!run.stdout.contains(text.trim()), "the key reached stdout");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Again: refused, the file untouched.
    f.bare(&["--json", "keygen", "--out", path], "")
        .expect_error(4, "already_exists");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    // With --force: a new key.
    f.bare(&["keygen", "--out", path, "--force"], "").expect(0);
    assert_ne!(std::fs::read_to_string(&out).unwrap(), text);
}
