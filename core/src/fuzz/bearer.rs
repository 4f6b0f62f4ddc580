//! Bearer values: `vault::parse_bearer`, the parsing and routing behind
//! `Vault::authenticate_bearer`.

use crate::error::{Error, TokenRejection};
use crate::vault::{BearerKind, MAX_BEARER_LEN, TokenPrefixes, parse_bearer};

/// What [`parse_bearer`] made of a value: the kind and the credential, or
/// the reason of the refusal (`None`: an error other than
/// [`Error::InvalidToken`]).
type Outcome<'a> = Result<(BearerKind, &'a str), Option<TokenRejection>>;

fn outcome<'a>(value: &'a str, prefixes: &TokenPrefixes) -> Outcome<'a> {
    match parse_bearer(value, prefixes) {
        Ok(bearer) => Ok((bearer.kind(), bearer.expose_secret())),
        Err(Error::InvalidToken { reason }) => Err(Some(reason)),
        Err(_) => Err(None),
    }
}

/// Whether `b` may appear in a credential (docs/FORMATS.md, "Bearer
/// values": `A-Z a-z 0-9 _ - .`).
fn in_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The credential of `value` by the documented rule, written independently
/// of the parser: a leading `bearer` in any case followed by one or more
/// spaces is removed, with those spaces; nothing else is.
fn credential_of(value: &str) -> &str {
    match value.get(..7) {
        Some(head) if head.eq_ignore_ascii_case("bearer ") => {
            value.get(7..).unwrap_or_default().trim_start_matches(' ')
        }
        _ => value,
    }
}

/// The kind the documented rule routes an in-alphabet credential to under
/// the default prefixes (`scp`, `sca`, `scr`): a `.` means a JWT access
/// token, else the text before the first `_` is the prefix. `None`: refused.
fn documented_kind(credential: &str) -> Option<BearerKind> {
    if credential.contains('.') {
        return Some(BearerKind::AccessToken);
    }
    let prefix = credential.split_once('_').map_or("", |(p, _)| p);
    match prefix {
        "scp" => Some(BearerKind::ApiToken),
        "sca" => Some(BearerKind::AgentToken),
        _ => None,
    }
}

/// Feeds arbitrary text (lossy UTF-8) to [`parse_bearer`] with the default
/// prefixes. Returns whether the value was accepted.
///
/// Must never panic, and:
/// - a value over [`MAX_BEARER_LEN`] bytes is refused `too_large`;
/// - an accepted value is ASCII, and its credential is a non-empty suffix
///   of it, all of `A-Z a-z 0-9 _ - .`;
/// - what is accepted, and the kind it routes to, is exactly what the
///   documented rule says (an independent implementation here): a `.` means
///   a JWT access token, else the text before the first `_` is the prefix,
///   `scp` an API token and `sca` an agent session; a value with a refresh
///   token's prefix (`scr_`) is refused `wrong_prefix`;
/// - `Bearer ` in any case (the first input byte chooses which letters are
///   upper case) before the bare value gives the same result, when the
///   value itself does not start with a space or a scheme and fits.
pub fn bearer_value(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let prefixes = TokenPrefixes::default();
    let got = outcome(&text, &prefixes);
    assert!(
        got != Err(None),
        "a bearer value refused with another error"
    );

    if text.len() > MAX_BEARER_LEN {
        assert_eq!(got, Err(Some(TokenRejection::TooLarge)));
        return false;
    }
    assert_ne!(got, Err(Some(TokenRejection::TooLarge)));

    let credential = credential_of(&text);
    let well_formed = !credential.is_empty() && credential.bytes().all(in_alphabet);
    let expected = if well_formed {
        documented_kind(credential)
    } else {
        None
    };
    match got {
        Ok((kind, routed)) => {
            assert!(text.is_ascii(), "a non-ASCII bearer value was accepted");
            assert!(!routed.is_empty() && routed.bytes().all(in_alphabet));
            assert!(text.ends_with(routed));
            assert_eq!(routed, credential, "routed another credential");
            assert_eq!(Some(kind), expected, "routed against the documented rule");
        }
        Err(reason) => {
            assert_eq!(expected, None, "a documented credential was refused");
            if !well_formed {
                assert_eq!(reason, Some(TokenRejection::Malformed));
            } else if credential.starts_with("scr_") {
                assert_eq!(reason, Some(TokenRejection::WrongPrefix));
            }
        }
    }

    // The same value behind a scheme of any case.
    let mask = data.first().copied().unwrap_or_default();
    let scheme: String = "bearer"
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if mask & (1 << i) != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let spaces = " ".repeat(usize::from(mask >> 6) + 1);
    let with_scheme = format!("{scheme}{spaces}{text}");
    if !text.starts_with(' ')
        && credential_of(&text).len() == text.len()
        && with_scheme.len() <= MAX_BEARER_LEN
    {
        assert_eq!(
            outcome(&with_scheme, &prefixes),
            got,
            "`Bearer ` changed the result"
        );
    }
    got.is_ok()
}
