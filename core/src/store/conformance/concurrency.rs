//! `apply` is serialisable per tenant: concurrent writers of one tenant get
//! gapless, distinct audit sequence numbers and one chain that verifies, and
//! a failing batch among concurrent ones fails alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Fx;
use crate::audit::ChainVerifier;
use crate::error::Error;
use crate::store::page::Pages;
use crate::store::{AuditQuery, Batch, Change, Kind, Row};

const WRITERS: u64 = 8;
const APPLIES: u64 = 50;

/// 8 writers x 50 applies in one tenant, all at once: the 400 events are
/// numbered exactly 2..=401 after the tenant's creation (seq 1), each
/// writer sees its own numbers rise, and the whole log verifies.
pub async fn concurrent_applies_number_the_audit_log_without_gaps(fx: Fx) {
    let t = fx.tenant("busy").await;
    let other = fx.tenant("quiet").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (store, chain, barrier) = (fx.store.clone(), fx.chain.clone(), barrier.clone());
        let draft = fx.draft("test.concurrent");
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut seqs = Vec::new();
            for i in 0..APPLIES {
                // Half the batches write a row, half record an event alone.
                let mut batch = Batch::new(draft.clone().detail("writer", w.to_string()));
                if i % 2 == 0 {
                    batch.push(Change::Insert(Row::new(
                        Kind::SeenWebhook,
                        format!("w{w}-{i:02}"),
                        b"{}".to_vec(),
                    )));
                }
                let record = store.apply(t, batch, &chain).await.unwrap();
                assert_eq!(record.tenant, t);
                seqs.push(record.seq);
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for h in handles {
        let seqs = h.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a writer's own events are numbered in its order: {seqs:?}"
        );
        for s in seqs {
            assert!(all.insert(s), "seq {s} was given twice");
        }
    }
    let total = WRITERS * APPLIES;
    assert_eq!(all, (2..=total + 1).collect::<BTreeSet<u64>>());

    let log = Pages::events(&*fx.store, t, AuditQuery::default())
        .collect()
        .await
        .unwrap();
    assert_eq!(log.len() as u64, total + 1);
    let mut verifier = ChainVerifier::new(fx.chain.as_ref(), t);
    for e in &log {
        verifier.push(e).unwrap();
    }
    assert_eq!(verifier.finish().count, total + 1);
    let rows = Pages::rows(
        &*fx.store,
        t,
        crate::store::ListQuery::new(Kind::SeenWebhook),
    )
    .collect()
    .await
    .unwrap();
    assert_eq!(rows.len() as u64, total / 2);
    // The other tenant's log was not touched.
    assert_eq!(fx.count_audit(other).await, 1);
}

/// Concurrent batches of which some fail: each failing batch fails alone,
/// with its own error and nothing of it stored (not its rows, not its
/// event), and every other batch is stored whole, its event in the gapless
/// chain. On a backend that commits concurrent batches together (SQLite's
/// group commit) the failing ones share a transaction with the others.
pub async fn a_failing_batch_among_concurrent_ones_fails_alone(fx: Fx) {
    let t = fx.tenant("t").await;
    let taken = Row::new(Kind::SeenWebhook, "taken", b"{}".to_vec());
    fx.apply(t, vec![Change::Insert(taken.clone())])
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (store, chain, barrier) = (fx.store.clone(), fx.chain.clone(), barrier.clone());
        let draft = fx.draft("test.mixed");
        let taken = taken.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut outcomes = Vec::new();
            for i in 0..10u64 {
                let own = Row::new(Kind::SeenWebhook, format!("w{w}-{i}"), b"{}".to_vec());
                let mut batch = Batch::new(draft.clone()).with(Change::Insert(own));
                // Every third batch ends with a change that fails.
                let fails = (w + i) % 3 == 0;
                if fails {
                    batch.push(if i % 2 == 0 {
                        Change::Insert(taken.clone())
                    } else {
                        Change::Update {
                            row: taken.clone(),
                            expected_version: 7,
                        }
                    });
                }
                let result = store.apply(t, batch, &chain).await;
                outcomes.push((format!("w{w}-{i}"), fails, result));
            }
            outcomes
        }));
    }
    let mut stored_seqs = BTreeSet::new();
    let mut ok = 0u64;
    for h in handles {
        for (id, fails, result) in h.await.unwrap() {
            let row = fx.store.get(t, Kind::SeenWebhook, &id).await.unwrap();
            match result {
                Ok(record) if !fails => {
                    assert!(row.is_some(), "{id} was reported applied but is missing");
                    assert!(stored_seqs.insert(record.seq));
                    ok += 1;
                }
                Err(Error::AlreadyExists { .. } | Error::Conflict { .. }) if fails => {
                    assert!(row.is_none(), "{id} of a failed batch was stored");
                }
                other => panic!("{id} (fails: {fails}): {other:?}"),
            }
        }
    }
    assert!(ok > 0 && ok < WRITERS * 10);
    let log = Pages::events(&*fx.store, t, AuditQuery::default())
        .collect()
        .await
        .unwrap();
    // Creation, the `taken` row, and one event per batch that succeeded.
    assert_eq!(log.len() as u64, 2 + ok);
    let mut verifier = ChainVerifier::new(fx.chain.as_ref(), t);
    for e in &log {
        verifier.push(e).unwrap();
    }
    let logged: BTreeSet<u64> = log.iter().skip(2).map(|e| e.seq).collect();
    assert_eq!(logged, stored_seqs);
    let taken_now = fx.store.get(t, Kind::SeenWebhook, "taken").await.unwrap();
    assert_eq!(taken_now.map(|r| r.version), Some(1));
}
