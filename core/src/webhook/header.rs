//! The `webhook-signature` header, parsed: a pure function of its text
//! (no key, no clock), so that it can be fuzzed on its own.

use base64::engine::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{Error, Result, WebhookRejection};

use super::asymmetric::{SIGNATURE_B64_LEN, SIGNATURE_LEN};
use super::mac::V1;

/// The signature version of the asymmetric (Ed25519) scheme.
pub(super) const V1A: &str = "v1a";

/// The most entries a `webhook-signature` header may hold. A sender signs
/// with one key, two during a rotation; the limit bounds the Ed25519
/// verifications one request can cost (entries times keys).
pub(crate) const MAX_SIGNATURES: usize = 32;

/// One entry of a `webhook-signature` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// `v1,<value>`: the base64 text of an HMAC-SHA256, compared as text.
    V1(&'a str),
    /// `v1a,<value>`: the 64 signature bytes, or `None` when the value is
    /// not the canonical base64 (with padding) of 64 bytes. Such an entry
    /// never verifies, and is no error: a `v1` value that is not base64 is
    /// not one either.
    V1a(Option<[u8; SIGNATURE_LEN]>),
    /// Another version (a future one): ignored.
    Other,
}

/// Parses a `webhook-signature` header: entries separated by spaces (runs
/// of spaces tolerated), each `version,value` with both non-empty.
///
/// # Errors
///
/// [`Error::Webhook`]: `EmptySignature` for a header with no entry,
/// `MalformedSignature` for an entry without a comma or with an empty
/// version or value, `TooManySignatures` beyond [`MAX_SIGNATURES`] entries.
pub(crate) fn parse_signature_header(header: &str) -> Result<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    for entry in header.split(' ').filter(|e| !e.is_empty()) {
        if entries.len() == MAX_SIGNATURES {
            return Err(Error::Webhook {
                reason: WebhookRejection::TooManySignatures,
            });
        }
        let parsed = match entry.split_once(',') {
            Some((version, value)) if !version.is_empty() && !value.is_empty() => match version {
                V1 => Entry::V1(value),
                V1A => Entry::V1a(decode_v1a(value)),
                _ => Entry::Other,
            },
            _ => {
                return Err(Error::Webhook {
                    reason: WebhookRejection::MalformedSignature,
                });
            }
        };
        entries.push(parsed);
    }
    if entries.is_empty() {
        return Err(Error::Webhook {
            reason: WebhookRejection::EmptySignature,
        });
    }
    Ok(entries)
}

/// The 64 bytes of a `v1a` value: canonical standard base64 with padding
/// (88 characters), nothing else.
fn decode_v1a(value: &str) -> Option<[u8; SIGNATURE_LEN]> {
    if value.len() != SIGNATURE_B64_LEN {
        return None;
    }
    let mut buf = [0u8; SIGNATURE_LEN + 2];
    let len = B64.decode_slice(value.as_bytes(), &mut buf).ok()?;
    let bytes = buf.get(..len)?;
    bytes.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn reason(header: &str) -> WebhookRejection {
        match parse_signature_header(header) {
            Err(Error::Webhook { reason }) => reason,
            other => panic!("{header:?}: {other:?}"),
        }
    }

    #[test]
    fn entries_by_version() {
        let sig = B64.encode([7u8; 64]);
        let header = format!("v1,abc  v1a,{sig} v2,xyz v1a,short");
        let entries = parse_signature_header(&header).unwrap();
        assert_eq!(
            entries,
            [
                Entry::V1("abc"),
                Entry::V1a(Some([7; 64])),
                Entry::Other,
                Entry::V1a(None),
            ]
        );
    }

    #[test]
    fn v1a_values_are_canonical_base64_of_64_bytes() {
        let good = B64.encode([0xa5u8; 64]);
        assert_eq!(decode_v1a(&good), Some([0xa5; 64]));
        let unpadded = good.trim_end_matches('=');
        let url_safe = B64.encode([0xffu8; 64]).replace('/', "_").replace('+', "-");
        // `pQ==` ends the base64 of the last 0xa5; `pR==` sets a trailing
        // bit: the same bytes, a second spelling, refused.
        let non_canonical = format!("{}R==", &good[..good.len() - 3]);
        for bad in [
            unpadded,
            url_safe.as_str(),
            non_canonical.as_str(),
            &B64.encode([1u8; 63]),
            &B64.encode([1u8; 65]),
            "",
        ] {
            assert_eq!(decode_v1a(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(reason(""), WebhookRejection::EmptySignature);
        assert_eq!(reason("   "), WebhookRejection::EmptySignature);
        for bad in ["v1", "v1,", ",abc", "v1a", "v1a,", "v1,abc v1a"] {
            assert_eq!(reason(bad), WebhookRejection::MalformedSignature, "{bad}");
        }
        let many = vec!["v1,abc"; MAX_SIGNATURES].join(" ");
        assert_eq!(parse_signature_header(&many).unwrap().len(), MAX_SIGNATURES);
        let too_many = format!("{many} v1,abc");
        assert_eq!(reason(&too_many), WebhookRejection::TooManySignatures);
    }
}
