//! Criterion benchmarks for issue 2: `secrets-core` encryption at rest beside
//! the peer a user would otherwise pick, in the same run.
//!
//! - `seal_open/{64,1024,65536}`, `seal/*`, `open/*`: [`KeyRing`] against the
//!   `ring` crate's AES-256-GCM with a fresh `getrandom` nonce per seal and
//!   associated data of the same length; and against the bare `aes-gcm` crate
//!   (which `secrets-core` uses underneath), the same way.
//! - `open_stored_1k`: opening one stored 1 KiB value with a ring loaded once,
//!   against running PBKDF2 (65,536 iterations) for every value and then
//!   opening with `aes-gcm`.
//! - `keyring_load/{65536,600000}`: [`KeyRing::from_passphrase`] against the
//!   bare PBKDF2-HMAC-SHA256 of the `pbkdf2` and `ring` crates.
//!
//! Every setup checks that its round trip gives the plaintext back before
//! anything is timed. See `benches/README.md` for the figures.

// Benchmark setup: a failure here is a broken benchmark, and panicking with a
// message is the right report; none of this code ships.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce as AesGcmNonce};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrets_core::SecretString;
use secrets_core::crypto::{Context, KdfParams, KeyId, KeyRing, MIN_ITERATIONS, MasterKey};
use sha2::Sha256;

/// Plaintext sizes for the seal / open groups.
const SIZES: [usize; 3] = [64, 1024, 65_536];
/// The stored-value size of `open_stored_1k`.
const STORED_LEN: usize = 1024;
/// Iteration counts of `keyring_load`: the library's floor and its default.
const LOAD_ITERATIONS: [u32; 2] = [65_536, 600_000];

const OURS: &str = "secrets-core";
const RING: &str = "ring+getrandom";
/// The `aes-gcm` crate `secrets-core` is built on, used bare: it separates the
/// envelope's own cost from the cost of the AES-GCM implementation underneath.
const AES_GCM: &str = "aes-gcm+getrandom";

/// The 3-part context every `secrets-core` seal is bound to.
fn context() -> Context {
    Context::new(["tenant-0001", "provider_key", "openai"])
}

/// The associated data `secrets-core` authenticates for [`context`] under key
/// 1 (version, key id, encoded context: `docs/FORMATS.md`), so the reference
/// authenticates exactly as many bytes.
fn reference_aad() -> Vec<u8> {
    let mut aad = vec![1u8];
    aad.extend_from_slice(&KeyId::FIRST.get().to_be_bytes());
    aad.extend_from_slice(context().as_bytes());
    aad
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn our_ring() -> KeyRing {
    KeyRing::new(MasterKey::generate().unwrap())
}

fn ring_key() -> LessSafeKey {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap())
}

/// What a `ring` user writes to seal: copy the plaintext into an owned buffer,
/// take a fresh nonce from the operating system, seal in place.
fn ring_seal(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> ([u8; NONCE_LEN], Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).unwrap();
    let mut buf = Vec::with_capacity(plaintext.len() + AES_256_GCM.tag_len());
    buf.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .unwrap();
    (nonce, buf)
}

fn aes_gcm_cipher() -> Aes256Gcm {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    Aes256Gcm::new_from_slice(&key).unwrap()
}

/// What an `aes-gcm` user writes to seal: a fresh nonce from the operating
/// system, then `Aead::encrypt` into a new buffer.
fn aes_gcm_seal(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> ([u8; 12], Vec<u8>) {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).unwrap();
    let sealed = cipher
        .encrypt(
            &AesGcmNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap();
    (nonce, sealed)
}

fn aes_gcm_open(cipher: &Aes256Gcm, aad: &[u8], nonce: &[u8; 12], sealed: &[u8]) -> Vec<u8> {
    cipher
        .decrypt(&AesGcmNonce::from(*nonce), Payload { msg: sealed, aad })
        .unwrap()
}

fn seal_open(c: &mut Criterion) {
    let ours = our_ring();
    let ctx = context();
    let key = ring_key();
    let cipher = aes_gcm_cipher();
    let aad = reference_aad();
    let mut group = c.benchmark_group("seal_open");
    for size in SIZES {
        let pt = plaintext(size);
        // Both round trips give the plaintext back.
        let sealed = ours.seal(&pt, &ctx).unwrap();
        assert_eq!(ours.open(&sealed, &ctx).unwrap().expose_secret(), pt);
        let (nonce, mut buf) = ring_seal(&key, &aad, &pt);
        let opened = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut buf,
            )
            .unwrap();
        assert_eq!(opened, pt.as_slice());
        let (nonce, sealed) = aes_gcm_seal(&cipher, &aad, &pt);
        assert_eq!(aes_gcm_open(&cipher, &aad, &nonce, &sealed), pt);

        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new(OURS, size), &pt, |b, pt| {
            b.iter(|| {
                let sealed = ours.seal(black_box(pt), &ctx).unwrap();
                ours.open(black_box(&sealed), &ctx).unwrap()
            });
        });
        group.bench_with_input(BenchmarkId::new(RING, size), &pt, |b, pt| {
            b.iter(|| {
                let (nonce, mut buf) = ring_seal(&key, &aad, black_box(pt));
                let opened = key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad),
                        black_box(&mut buf),
                    )
                    .unwrap();
                black_box(opened.len());
                buf
            });
        });
        group.bench_with_input(BenchmarkId::new(AES_GCM, size), &pt, |b, pt| {
            b.iter(|| {
                let (nonce, sealed) = aes_gcm_seal(&cipher, &aad, black_box(pt));
                aes_gcm_open(&cipher, &aad, &nonce, black_box(&sealed))
            });
        });
    }
    group.finish();
}

fn seal(c: &mut Criterion) {
    let ours = our_ring();
    let ctx = context();
    let key = ring_key();
    let cipher = aes_gcm_cipher();
    let aad = reference_aad();
    let mut group = c.benchmark_group("seal");
    for size in SIZES {
        let pt = plaintext(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new(OURS, size), &pt, |b, pt| {
            b.iter(|| ours.seal(black_box(pt), &ctx).unwrap());
        });
        group.bench_with_input(BenchmarkId::new(RING, size), &pt, |b, pt| {
            b.iter(|| ring_seal(&key, &aad, black_box(pt)));
        });
        group.bench_with_input(BenchmarkId::new(AES_GCM, size), &pt, |b, pt| {
            b.iter(|| aes_gcm_seal(&cipher, &aad, black_box(pt)));
        });
    }
    group.finish();
}

/// Both sides start from stored bytes they only borrow (a row read from a
/// database) and end with the plaintext in a buffer they own: `KeyRing::open`
/// copies into a new buffer, so the `ring` side copies the stored bytes into a
/// `Vec` and opens that in place.
fn open(c: &mut Criterion) {
    let ours = our_ring();
    let ctx = context();
    let key = ring_key();
    let cipher = aes_gcm_cipher();
    let aad = reference_aad();
    let mut group = c.benchmark_group("open");
    for size in SIZES {
        let pt = plaintext(size);
        let sealed = ours.seal(&pt, &ctx).unwrap();
        let (nonce, stored) = ring_seal(&key, &aad, &pt);
        let (aes_nonce, aes_stored) = aes_gcm_seal(&cipher, &aad, &pt);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new(OURS, size), &sealed, |b, sealed| {
            b.iter(|| ours.open(black_box(sealed), &ctx).unwrap());
        });
        group.bench_with_input(BenchmarkId::new(RING, size), &stored, |b, stored| {
            b.iter(|| {
                let mut buf = black_box(stored.as_slice()).to_vec();
                let len = key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad),
                        &mut buf,
                    )
                    .unwrap()
                    .len();
                buf.truncate(len);
                buf
            });
        });
        group.bench_with_input(BenchmarkId::new(AES_GCM, size), &aes_stored, |b, stored| {
            b.iter(|| aes_gcm_open(&cipher, &aad, &aes_nonce, black_box(stored)));
        });
    }
    group.finish();
}

/// Opening one stored 1 KiB value: `secrets-core` derives its keys once when
/// the ring is loaded; the naive design runs PBKDF2 for every value read.
fn open_stored_1k(c: &mut Criterion) {
    let passphrase = SecretString::new("correct horse battery staple".to_owned());
    let salt = b"sixteen byte salt".to_vec();
    let ctx = context();
    let aad = reference_aad();
    let pt = plaintext(STORED_LEN);

    // Ours: the ring is loaded (PBKDF2 at 65,536 iterations) once, up front.
    let ours = KeyRing::from_passphrase(
        &passphrase,
        &KdfParams::new(MIN_ITERATIONS, salt.clone()).unwrap(),
    )
    .unwrap();
    let sealed = ours.seal(&pt, &ctx).unwrap();
    assert_eq!(ours.open(&sealed, &ctx).unwrap().expose_secret(), pt);

    // Naive: PBKDF2-HMAC-SHA256 (65,536 iterations) per value, then aes-gcm.
    let naive_open = |stored: &[u8], nonce: &[u8; 12]| -> Vec<u8> {
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            passphrase.expose_secret().as_bytes(),
            &salt,
            MIN_ITERATIONS,
            &mut key,
        );
        Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .decrypt(
                &AesGcmNonce::from(*nonce),
                Payload {
                    msg: stored,
                    aad: &aad,
                },
            )
            .unwrap()
    };
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).unwrap();
    let naive_stored = {
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            passphrase.expose_secret().as_bytes(),
            &salt,
            MIN_ITERATIONS,
            &mut key,
        );
        Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt(
                &AesGcmNonce::from(nonce),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap()
    };
    assert_eq!(naive_open(&naive_stored, &nonce), pt);

    let mut group = c.benchmark_group("open_stored_1k");
    group.bench_function(OURS, |b| {
        b.iter(|| ours.open(black_box(&sealed), &ctx).unwrap());
    });
    // Tens of milliseconds an iteration: few samples, one iteration each.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("pbkdf2-per-value+aes-gcm", |b| {
        b.iter(|| naive_open(black_box(&naive_stored), &nonce));
    });
    group.finish();
}

/// Loading a ring from a passphrase, beside the bare PBKDF2 of the `pbkdf2`
/// crate (what `secrets-core` calls) and of `ring`.
fn keyring_load(c: &mut Criterion) {
    let passphrase = SecretString::new("correct horse battery staple".to_owned());
    let salt = b"sixteen byte salt".to_vec();
    let mut group = c.benchmark_group("keyring_load");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for iterations in LOAD_ITERATIONS {
        let params = KdfParams::new(iterations, salt.clone()).unwrap();
        group.bench_with_input(BenchmarkId::new(OURS, iterations), &params, |b, params| {
            b.iter(|| KeyRing::from_passphrase(black_box(&passphrase), params).unwrap());
        });
        group.bench_with_input(
            BenchmarkId::new("pbkdf2", iterations),
            &iterations,
            |b, &iterations| {
                b.iter(|| {
                    let mut key = [0u8; 32];
                    pbkdf2::pbkdf2_hmac::<Sha256>(
                        black_box(passphrase.expose_secret().as_bytes()),
                        &salt,
                        iterations,
                        &mut key,
                    );
                    key
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("ring::pbkdf2", iterations),
            &iterations,
            |b, &iterations| {
                let n = NonZeroU32::new(iterations).unwrap();
                b.iter(|| {
                    let mut key = [0u8; 32];
                    ring::pbkdf2::derive(
                        ring::pbkdf2::PBKDF2_HMAC_SHA256,
                        n,
                        &salt,
                        black_box(passphrase.expose_secret().as_bytes()),
                        &mut key,
                    );
                    key
                });
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine; command-line flags override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = seal_open, seal, open, open_stored_1k, keyring_load
}
criterion_main!(benches);
