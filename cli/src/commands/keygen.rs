//! `keygen`: a new random master key in a file of its own.

use serde_json::json;

use secrets_core::crypto::MasterKey;

use crate::args::Keygen;
use crate::commands::write_file;
use crate::exit::Failure;
use crate::output::Report;

/// Writes a fresh master key, base64 and a newline, to a new 0600 file.
pub(crate) fn keygen(args: &Keygen) -> Result<Report, Failure> {
    let key = MasterKey::generate()?;
    let text = zeroize::Zeroizing::new(format!("{}\n", key.to_base64().expose_secret()));
    write_file(&args.out, args.force, text.as_bytes())?;
    let path = args.out.display().to_string();
    Ok(Report::ok(
        json!({"key_file": path}),
        format!(
            "wrote a new master key to {path} (mode 0600)\n\
             keep a copy off this host: without it nothing sealed under it can be opened"
        ),
    ))
}
