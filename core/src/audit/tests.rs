use super::*;
use crate::crypto::MasterKey;

fn record() -> AuditRecord {
    AuditRecord {
        tenant: TenantId::DEFAULT,
        seq: 1,
        event: AuditDraft::new(
            Actor::User(UserId::from_uuid(uuid::Uuid::from_u128(7))),
            "user.create",
            "user/x",
            Timestamp::from_unix_seconds(1),
        ),
        prev_hash: [0; 32],
        hash: [0; 32],
    }
}

#[test]
fn actor_text_round_trips_and_rejects_garbage() {
    let u = UserId::generate();
    for a in [
        Actor::System,
        Actor::Anonymous,
        Actor::User(u),
        Actor::ApiToken {
            token: "t1".into(),
            owner: u,
        },
        Actor::Agent {
            session: "a@b".into(),
            on_behalf_of: u,
        },
    ] {
        assert_eq!(a.to_string().parse::<Actor>().unwrap(), a);
    }
    for bad in ["", "user:", "user:nope", "token:@x", "robot:1@2", "agent:x"] {
        assert!(bad.parse::<Actor>().is_err(), "{bad}");
    }
}

#[test]
fn every_field_changes_the_link() {
    let chain = AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[1; 32]).unwrap()));
    let base = chain.link(&record()).unwrap();
    let mut variants = Vec::new();
    let mut r = record();
    r.seq = 2;
    variants.push(r);
    let mut r = record();
    r.prev_hash[0] = 1;
    variants.push(r);
    let mut r = record();
    r.event.action.push('x');
    variants.push(r);
    let mut r = record();
    r.event.target.push('x');
    variants.push(r);
    let mut r = record();
    r.event.source = Some(String::new());
    variants.push(r);
    let mut r = record();
    r.event.outcome = Outcome::Denied;
    variants.push(r);
    let mut r = record();
    r.event.at = Timestamp::from_unix_millis(1001);
    variants.push(r);
    let mut r = record();
    r.event.details.insert("k".into(), "v".into());
    variants.push(r);
    let mut r = record();
    r.event.actor = Actor::System;
    variants.push(r);
    let mut r = record();
    r.tenant = TenantId::generate();
    variants.push(r);
    for v in &variants {
        assert_ne!(chain.link(v).unwrap(), base, "{v:?}");
    }
    let other = AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[2; 32]).unwrap()));
    assert_ne!(other.link(&record()).unwrap(), base);
}

#[test]
fn draft_limits() {
    let ok = record().event;
    assert!(ok.validate().is_ok());
    let mut d = ok.clone();
    d.action = String::new();
    assert!(d.validate().is_err());
    let mut d = ok.clone();
    d.target = "x".repeat(MAX_TARGET_LEN + 1);
    assert!(matches!(
        d.validate(),
        Err(Error::TooLarge { what: "target", .. })
    ));
    let mut d = ok.clone();
    d.action = "a\nb".into();
    assert!(d.validate().is_err());
    let mut d = ok;
    for i in 0..=MAX_DETAILS {
        d.details.insert(i.to_string(), String::new());
    }
    assert!(d.validate().is_err());
}

proptest::proptest! {
    /// Whatever a client puts in the text of an event, the sanitized
    /// event is accepted, keeps every character that fits (escaped if
    /// a control), and never grows past a limit.
    #[test]
    fn sanitized_drafts_always_validate(
        source in proptest::prelude::any::<String>(),
        target in proptest::prelude::any::<String>(),
        value in ".{0,1200}",
        pad in 0usize..2000,
    ) {
        let mut d = record().event;
        d.source = Some(format!("{source}{}", "\u{7}".repeat(pad % 300)));
        d.target = format!("{target}{}", "é".repeat(pad));
        d.details.insert("login".into(), value.clone());
        d.sanitize();
        proptest::prop_assert!(d.validate().is_ok());
        let v = &d.details["login"];
        if !value.chars().any(char::is_control) && value.len() <= MAX_DETAIL_LEN {
            proptest::prop_assert_eq!(v, &value);
        }
        proptest::prop_assert!(v.trim_end_matches('…').chars().all(|c| !c.is_control()));
    }
}

#[test]
fn clean_text_cuts_on_char_boundaries_and_escapes() {
    assert_eq!(clean_text("a\u{1b}b", 100), "a\\u{1b}b");
    assert_eq!(clean_text("abcdef", 4), "a…");
    assert_eq!(clean_text("ééé", 5), "é…");
    assert_eq!(clean_text("abc", 3), "abc");
    assert_eq!(clean_text("abcd", 2), "");
    assert_eq!(clean_text("", 0), "");
}

#[test]
fn record_json_round_trips() {
    let mut r = record();
    r.hash = [0xab; 32];
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(&"ab".repeat(32)));
    assert_eq!(serde_json::from_str::<AuditRecord>(&json).unwrap(), r);
}

fn chain_of(chain: &AuditChain, n: u64) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::new();
    for seq in 1..=n {
        let mut r = record();
        r.seq = seq;
        r.event.target = format!("t{seq}");
        r.prev_hash = out.last().map_or([0; 32], |p| p.hash);
        r.hash = chain.link(&r).unwrap();
        out.push(r);
    }
    out
}

fn verify(chain: &AuditChain, log: &[AuditRecord]) -> Result<ChainSummary> {
    let mut v = ChainVerifier::new(chain, TenantId::DEFAULT);
    for r in log {
        v.push(r)?;
    }
    Ok(v.finish())
}

#[test]
fn verify_detects_edits_deletions_insertions_and_reordering() {
    let chain = AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[3; 32]).unwrap()));
    let log = chain_of(&chain, 6);
    let ok = verify(&chain, &log).unwrap();
    assert_eq!((ok.count, ok.head), (6, log[5].hash));

    let mut edited = log.clone();
    edited[2].event.action = "user.delete".into();
    assert!(matches!(
        verify(&chain, &edited),
        Err(Error::AuditChainBroken { seq: 3, .. })
    ));

    let mut deleted = log.clone();
    deleted.remove(3);
    assert!(matches!(
        verify(&chain, &deleted),
        Err(Error::AuditChainBroken { seq: 4, .. })
    ));

    let mut reordered = log.clone();
    reordered.swap(1, 2);
    assert!(matches!(
        verify(&chain, &reordered),
        Err(Error::AuditChainBroken { seq: 2, .. })
    ));

    // An inserted event forged without the key, renumbering the rest.
    let mut inserted = log[..2].to_vec();
    let mut forged = record();
    forged.seq = 3;
    forged.prev_hash = log[1].hash;
    forged.hash = [7; 32];
    inserted.push(forged);
    assert!(matches!(
        verify(&chain, &inserted),
        Err(Error::AuditChainBroken { seq: 3, .. })
    ));

    // Re-linking after an edit needs the key: another key's links fail.
    let other = AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[4; 32]).unwrap()));
    assert!(matches!(
        verify(&other, &log),
        Err(Error::AuditChainBroken { seq: 1, .. })
    ));
}

#[test]
fn checkpoints_are_signed() {
    let chain = AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[3; 32]).unwrap()));
    let cp = chain.checkpoint(
        TenantId::DEFAULT,
        6,
        [9; 32],
        Timestamp::from_unix_seconds(5),
    );
    chain.verify_checkpoint(&cp).unwrap();
    let json = serde_json::to_string(&cp).unwrap();
    assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
    for tamper in [
        |c: &mut Checkpoint| c.count -= 1,
        |c: &mut Checkpoint| c.head[0] ^= 1,
        |c: &mut Checkpoint| c.tenant = TenantId::generate(),
        |c: &mut Checkpoint| c.at = Timestamp::EPOCH,
    ] {
        let mut bad = cp.clone();
        tamper(&mut bad);
        assert!(matches!(
            chain.verify_checkpoint(&bad),
            Err(Error::Unauthenticated)
        ));
    }
}
