//! Stored rows with their integrity tags, as a database writer without the
//! master key could leave them.

use std::sync::LazyLock;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::crypto::{KeyRing, MasterKey};
use crate::id::{TenantId, UserId};
use crate::store::records::{self, Record};
use crate::store::{Kind, Row};

/// The master key of the row-tag vector in `docs/FORMATS.md`, so that the
/// vector's row is a seed that verifies.
const MASTER: [u8; 32] = [0x42; 32];

static RING: LazyLock<KeyRing> = LazyLock::new(|| KeyRing::new(MasterKey::from_array(MASTER)));

/// Which optional fields a row has (the flags byte of `decode`).
const PARENT: u8 = 0x01;
const OWNER: u8 = 0x02;
const LOOKUP: u8 = 0x04;
const EXPIRES: u8 = 0x08;
const SEALED: u8 = 0x10;
const TAG: u8 = 0x20;

/// Decodes arbitrary bytes into a row and checks its tag the way every
/// read does, then decodes its body as the record of its kind, the way the
/// Vault does. Returns whether the tag verified.
///
/// Layout (integers big-endian; `field` is a u16 length then the bytes):
///
/// ```text
/// tenant(16) kind(1: index in Kind::ALL) flags(1) version(8)
/// [expires_at_ms(8)] [owner(16)] [tag(32)]   ; as flags 0x08, 0x02, 0x20 say
/// id(field, UTF-8) [parent(field, UTF-8)] [lookup(field)] [sealed(field)]
/// body(the rest)                             ; as flags 0x01, 0x04, 0x10 say
/// ```
///
/// Must never panic, and the tag verifies exactly when it equals the tag
/// recomputed here, independently, from the description in
/// `docs/FORMATS.md` ("Row tag"): a row whose tag does not match is never
/// accepted. A verified row moved to another tenant, read at another
/// version, or with a bit of its tag changed, no longer verifies. A body
/// that decodes as its record and passes the record's checks re-encodes to
/// a row that decodes to the same record.
pub fn stored_row(data: &[u8]) -> bool {
    let Some((tenant, row)) = decode(data) else {
        return false;
    };
    let verifies = check_tag(tenant, &row);
    if verifies {
        let mut other_tenant = *tenant.as_bytes();
        if let Some(b) = other_tenant.first_mut() {
            *b ^= 0x01;
        }
        if let Ok(other_tenant) = TenantId::from_slice(&other_tenant) {
            assert!(
                !check_tag(other_tenant, &row),
                "a row verified in another tenant"
            );
        }
        let mut later = row.clone();
        later.version = row.version.wrapping_add(1);
        assert!(
            !check_tag(tenant, &later),
            "a row verified at another version"
        );
        let mut flipped = row.clone();
        if let Some(b) = flipped.tag.as_mut().and_then(|t| t.last_mut()) {
            *b ^= 0x80;
        }
        assert!(
            !check_tag(tenant, &flipped),
            "a row verified with another tag"
        );
    }

    // What else reads an arbitrary row: none of it may panic.
    let _ = row.validate();
    let _ = row.sealed_key();
    let _ = format!("{row:?}");
    let _ = Row::context(tenant, row.kind, &row.id);
    decode_record(&row);
    verifies
}

/// The Vault's check of `row`'s tag, which must agree with the tag
/// recomputed here.
fn check_tag(tenant: TenantId, row: &Row) -> bool {
    let verifies = crate::vault::row_tag_verifies(&RING, tenant, row);
    let matches = expected_tag(tenant, row).is_some_and(|t| row.tag == Some(t));
    assert_eq!(
        verifies, matches,
        "the row tag check disagrees with the format"
    );
    verifies
}

/// The row tag, as `docs/FORMATS.md` describes it ("Row tag"):
/// `HMAC-SHA256(row_key, canonical(tenant, row, version))` with
/// `row_key = HMAC-SHA256(master, "secrets-core/v1/subkey/row-integrity")`.
fn expected_tag(tenant: TenantId, row: &Row) -> Option<[u8; 32]> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
        out.extend_from_slice(&u32::try_from(bytes.len()).ok()?.to_be_bytes());
        out.extend_from_slice(bytes);
        Some(())
    }
    fn opt(out: &mut Vec<u8>, bytes: Option<&[u8]>) -> Option<()> {
        match bytes {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                put(out, b)?;
            }
        }
        Some(())
    }
    let mut subkey = Hmac::<Sha256>::new_from_slice(&MASTER).ok()?;
    subkey.update(b"secrets-core/v1/subkey/row-integrity");
    let row_key = subkey.finalize().into_bytes();

    let mut canonical = Vec::new();
    put(&mut canonical, b"secrets-core/v1/row")?;
    canonical.extend_from_slice(tenant.as_bytes());
    put(&mut canonical, row.kind.as_str().as_bytes())?;
    put(&mut canonical, row.id.as_bytes())?;
    opt(&mut canonical, row.parent.as_ref().map(String::as_bytes))?;
    opt(
        &mut canonical,
        row.owner.as_ref().map(|o| o.as_bytes().as_slice()),
    )?;
    opt(&mut canonical, row.lookup.as_deref())?;
    match row.expires_at {
        None => canonical.push(0),
        Some(t) => {
            canonical.push(1);
            canonical.extend_from_slice(&t.unix_millis().to_be_bytes());
        }
    }
    canonical.extend_from_slice(&row.version.to_be_bytes());
    put(&mut canonical, &row.body)?;
    opt(&mut canonical, row.sealed.as_deref())?;

    let mut mac = Hmac::<Sha256>::new_from_slice(&row_key).ok()?;
    mac.update(&canonical);
    Some(mac.finalize().into_bytes().into())
}

/// Reads the layout of [`stored_row`]; `None` when the bytes end early, the
/// kind index is out of range or a text field is not UTF-8.
fn decode(data: &[u8]) -> Option<(TenantId, Row)> {
    let mut r = Reader(data);
    let tenant = TenantId::from_slice(r.take(16)?).ok()?;
    let kind = *Kind::ALL.get(usize::from(r.byte()?))?;
    let flags = r.byte()?;
    let version = u64::from_be_bytes(r.array()?);
    let expires_at = if flags & EXPIRES != 0 {
        Some(Timestamp::from_unix_millis(i64::from_be_bytes(r.array()?)))
    } else {
        None
    };
    let owner = if flags & OWNER != 0 {
        Some(UserId::from_slice(r.take(16)?).ok()?)
    } else {
        None
    };
    let tag = if flags & TAG != 0 {
        Some(r.array::<32>()?)
    } else {
        None
    };
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).ok();
    let id = text(r.field()?)?;
    let parent = if flags & PARENT != 0 {
        Some(text(r.field()?)?)
    } else {
        None
    };
    let lookup = if flags & LOOKUP != 0 {
        Some(r.field()?.to_vec())
    } else {
        None
    };
    let sealed = if flags & SEALED != 0 {
        Some(r.field()?.to_vec())
    } else {
        None
    };
    let mut row = Row::new(kind, id, r.0.to_vec());
    row.parent = parent;
    row.owner = owner;
    row.lookup = lookup;
    row.expires_at = expires_at;
    row.version = version;
    row.sealed = sealed;
    row.tag = tag;
    Some((tenant, row))
}

/// The unread rest of the input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }
}

/// Decodes the row's body as the record of its kind.
fn decode_record(row: &Row) {
    match row.kind {
        Kind::User => round_trip::<records::User>(row),
        Kind::ApiToken => round_trip::<records::ApiToken>(row),
        Kind::AgentSession => round_trip::<records::AgentSession>(row),
        Kind::RefreshFamily => round_trip::<records::RefreshFamily>(row),
        Kind::RefreshToken => round_trip::<records::RefreshToken>(row),
        Kind::AppSecret => round_trip::<records::AppSecret>(row),
        Kind::AppSecretPrevious => round_trip::<records::AppSecretPrevious>(row),
        Kind::AppArchive => round_trip::<records::AppArchive>(row),
        Kind::SettingSecret => round_trip::<records::SettingSecret>(row),
        Kind::WebhookEndpoint => round_trip::<records::WebhookEndpoint>(row),
        Kind::WebhookPreviousSecret => round_trip::<records::WebhookPreviousSecret>(row),
        Kind::OAuthState => round_trip::<records::OAuthState>(row),
        Kind::OAuthConnection => round_trip::<records::OAuthConnection>(row),
        Kind::SeenWebhook => round_trip::<records::SeenWebhook>(row),
        Kind::DeployEvaluation => round_trip::<records::DeployEvaluation>(row),
        // A kind added later is fuzzed for its tag only until it gets its
        // line here.
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

/// A record that decodes from `row` and passes its checks re-encodes to a
/// row that decodes to the same record.
fn round_trip<R: Record + PartialEq>(row: &Row) {
    let Ok(stored) = R::from_row(row.clone()) else {
        return;
    };
    assert_eq!(stored.version, row.version);
    assert!(stored.sealed == row.sealed);
    if stored.record.validate().is_err() {
        return;
    }
    let Ok(again) = stored.record.to_row(stored.sealed.clone()) else {
        return;
    };
    assert_eq!(again.kind, row.kind);
    assert!(
        R::from_row(again).is_ok_and(|back| back.record == stored.record),
        "a record did not round-trip through its row"
    );
}
