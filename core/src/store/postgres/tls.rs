//! The connection string and the transport: `sslmode` and `sslrootcert`
//! (which the driver does not parse) are taken out of the string here, and
//! the rest is the driver's.
//!
//! - `verify-full` (the default): TLS through rustls (ring provider), the
//!   server's certificate checked against the given CA and its name against
//!   the host; the driver's own mode is `require`, so a server that does not
//!   speak TLS is an error, never a silent plaintext fallback.
//! - `disable`: plaintext, only when asked for by name.
//! - Anything else (`prefer`, `require`, `verify-ca`, ...) is refused: each
//!   either falls back to plaintext or skips a check.
//! - A Unix-domain socket (`host=/var/run/postgresql`, or the directory
//!   percent-encoded as the URL's host) is plaintext whatever the mode, as
//!   libpq has it: PostgreSQL offers no TLS there, and the socket never
//!   leaves the machine (its file permissions and the server's `local`
//!   rules guard it). No CA is needed then. A host list that mixes sockets
//!   with TCP hosts under `verify-full` is refused, since the sockets in it
//!   could never connect.

use std::str::FromStr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// How the store reaches the server.
pub(super) enum Transport {
    /// Plaintext (`sslmode=disable`).
    Plain,
    /// TLS, verify-full.
    Tls(MakeRustlsConnect),
}

/// Splits `url` into the driver's configuration and the transport.
/// `ca_pem` is the CA from the options, used when the string names none.
pub(super) fn parse(
    url: &str,
    ca_pem: Option<&[u8]>,
) -> Result<(tokio_postgres::Config, Transport)> {
    let mut sslmode = None;
    let mut rootcert = None;
    let rest = if let Some((base, query)) = url.split_once('?') {
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(v.to_owned()),
                Some(("sslrootcert", v)) => rootcert = Some(percent_decode(v)?),
                _ => kept.push(pair),
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        // key=value form (values with spaces must be quoted; sslmode and
        // sslrootcert values may not be).
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some(("sslmode", v)) => sslmode = Some(v.to_owned()),
                Some(("sslrootcert", v)) => rootcert = Some(v.to_owned()),
                _ => kept.push(word),
            }
        }
        kept.join(" ")
    };
    let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        Error::invalid(
            "postgres url",
            format!("the driver refused it ({e}); see the libpq connection string format"),
        )
    })?;
    let mode = sslmode.as_deref().unwrap_or("verify-full");
    let sockets = config.get_hosts().iter().filter(|h| is_socket(h)).count();
    // `hostaddr=` sends every host over TCP (the host is then only a name).
    let only_sockets =
        config.get_hostaddrs().is_empty() && sockets > 0 && sockets == config.get_hosts().len();
    if mode == "disable" || (mode == "verify-full" && only_sockets) {
        config.ssl_mode(SslMode::Disable);
        return Ok((config, Transport::Plain));
    }
    match mode {
        "verify-full" if sockets > 0 && config.get_hostaddrs().is_empty() => Err(Error::invalid(
            "postgres url",
            "the host list mixes Unix sockets with TCP hosts: TLS (verify-full) is not \
                 available over a Unix socket, so list only sockets or only TCP hosts",
        )),
        "verify-full" => {
            config.ssl_mode(SslMode::Require);
            let pem = match (&rootcert, ca_pem) {
                (Some(path), _) => std::fs::read(path).map_err(|e| {
                    Error::invalid(
                        "sslrootcert",
                        format!("could not read the CA file `{path}`: {e}"),
                    )
                })?,
                (None, Some(pem)) => pem.to_vec(),
                (None, None) => {
                    return Err(Error::invalid(
                        "sslmode",
                        "verify-full (the default) needs a CA: give `sslrootcert=` or \
                         `PostgresOptions::root_certificates_pem`, or say `sslmode=disable` \
                         for plaintext",
                    ));
                }
            };
            Ok((config, Transport::Tls(connector(&pem)?)))
        }
        other => Err(Error::invalid(
            "sslmode",
            format!(
                "`{other}` is not supported: use `verify-full` (the default) or, for \
                 plaintext, `disable`"
            ),
        )),
    }
}

/// Whether `host` is a Unix-domain socket directory.
fn is_socket(host: &Host) -> bool {
    match host {
        Host::Tcp(_) => false,
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

/// A rustls connector (ring provider) trusting exactly the CAs in `pem`.
fn connector(pem: &[u8]) -> Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert =
            cert.map_err(|_| Error::invalid("sslrootcert", "the CA file is not valid PEM"))?;
        roots
            .add(cert)
            .map_err(|_| Error::invalid("sslrootcert", "a CA certificate does not parse"))?;
    }
    if roots.is_empty() {
        return Err(Error::invalid(
            "sslrootcert",
            "the CA file holds no certificate",
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| Error::Internal {
        what: "setting up TLS for PostgreSQL",
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Decodes `%XX` escapes of a URL query value.
fn percent_decode(v: &str) -> Result<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid("postgres url", "a `%` escape is malformed"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("postgres url", "a value is not UTF-8"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_verify_full_and_disable_are_accepted() {
        let (c, t) = parse("postgres://app@localhost/db?sslmode=disable", None).unwrap();
        assert!(matches!(t, Transport::Plain));
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        for mode in ["prefer", "require", "verify-ca", "allow", "bogus"] {
            let url = format!("postgres://app@localhost/db?sslmode={mode}");
            assert!(matches!(
                parse(&url, None),
                Err(Error::InvalidInput {
                    field: "sslmode",
                    ..
                })
            ));
        }
        // The default is verify-full, which needs a CA: never plaintext.
        assert!(matches!(
            parse("postgres://app@localhost/db", None),
            Err(Error::InvalidInput {
                field: "sslmode",
                ..
            })
        ));
        assert!(matches!(
            parse("host=localhost user=app sslmode=verify-full", None),
            Err(Error::InvalidInput {
                field: "sslmode",
                ..
            })
        ));
        assert!(matches!(
            parse(
                "postgres://app@localhost/db?sslrootcert=/nonexistent%2Fca.pem",
                None
            ),
            Err(Error::InvalidInput {
                field: "sslrootcert",
                ..
            })
        ));
        assert!(matches!(
            parse("postgres://app@localhost/db", Some(b"not pem")),
            Err(Error::InvalidInput {
                field: "sslrootcert",
                ..
            })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_unix_socket_is_plaintext_without_a_ca_and_is_not_mixed_with_tcp() {
        for url in [
            "host=/var/run/postgresql user=app dbname=db",
            "host=/var/run/postgresql user=app dbname=db sslmode=verify-full",
            "host=/var/run/postgresql user=app dbname=db sslmode=disable",
            "postgres://app@%2Fvar%2Frun%2Fpostgresql/db",
            "postgres://app@/db?host=/var/run/postgresql",
        ] {
            let (c, t) = parse(url, None).unwrap();
            assert!(matches!(t, Transport::Plain), "{url}");
            assert_eq!(c.get_ssl_mode(), SslMode::Disable, "{url}");
        }
        // A weak or unknown mode is refused there too.
        assert!(matches!(
            parse("host=/var/run/postgresql user=app sslmode=prefer", None),
            Err(Error::InvalidInput {
                field: "sslmode",
                ..
            })
        ));
        // Mixed with a TCP host under verify-full: refused, CA or not.
        for ca in [None, Some(&b"not read"[..])] {
            assert!(matches!(
                parse("host=/var/run/postgresql,localhost user=app", ca),
                Err(Error::InvalidInput {
                    field: "postgres url",
                    ..
                })
            ));
        }
        // `hostaddr=` makes it TCP: verify-full, which needs a CA.
        assert!(matches!(
            parse("host=/var/run/postgresql hostaddr=127.0.0.1 user=app", None),
            Err(Error::InvalidInput {
                field: "sslmode",
                ..
            })
        ));
        // Mixed, plaintext asked for: every host plaintext.
        let (_, t) = parse(
            "host=/var/run/postgresql,localhost user=app sslmode=disable",
            None,
        )
        .unwrap();
        assert!(matches!(t, Transport::Plain));
    }
}
