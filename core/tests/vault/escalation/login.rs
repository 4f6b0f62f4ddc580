//! Attacks on password login and refresh: enumeration by timing, absurd
//! bcrypt costs, upgrade races, look-alike logins, the unknown login kept
//! verbatim, concurrent refreshes (attacks 7, 8, 9 and 21-23), and access
//! tokens outliving their user's state (invariant I3).

use super::*;
#[allow(unused_imports)]
use secrets_core::error::TokenRejection;

use secrets_core::Error;
use secrets_core::audit::{AuditChain, AuditDraft, AuditLinker, Outcome};
use secrets_core::password::PasswordPolicy;
use secrets_core::store::records::User;
use secrets_core::store::{Batch, Change, Record, StoreExt};

/// Writes a user row straight into the store, as an operator holding the
/// master key (a migration) or an earlier version of the library would have:
/// the row carries the tag only a key holder can compute.
async fn write_user(fx: &Fx, user: &User, expected_version: Option<u64>) {
    let linker: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&fx.ring));
    let draft = AuditDraft::new(
        secrets_core::audit::Actor::System,
        "test.write_user",
        format!("user/{}", user.id),
        fx.now(),
    );
    let mut row = user.to_row(None).unwrap();
    let version = expected_version.map_or(1, |v| v + 1);
    row.tag = Some(keyholder_tag(fx.tenant, &row, version));
    let change = match expected_version {
        None => Change::Insert(row),
        Some(v) => Change::Update {
            row,
            expected_version: v,
        },
    };
    fx.store
        .apply(fx.tenant, Batch::new(draft).with(change), &linker)
        .await
        .unwrap();
}

async fn user_row(fx: &Fx, id: UserId) -> secrets_core::store::Stored<User> {
    fx.store
        .get_record::<User>(fx.tenant, &id.to_string())
        .await
        .unwrap()
        .unwrap()
}

/// The cost of a stored hash (`$2b$NN$...`).
fn cost_of(hash: &str) -> u32 {
    hash[4..6].parse().unwrap()
}

/// A second vault over the fixture's store, key ring and clock, with
/// another bcrypt cost (an operator who changed the configuration).
async fn vault_at_cost(fx: &Fx, cost: u32) -> Vault {
    Vault::new(
        fx.store.clone(),
        fx.ring.clone(),
        Arc::new(fx.clock.clone()),
        {
            let mut c = config();
            c.password_cost = cost;
            c
        },
    )
    .await
    .unwrap()
}

async fn try_login(
    vault: &Vault,
    fx: &Fx,
    login: &str,
    password: &str,
    source: Option<&str>,
) -> secrets_core::Result<secrets_core::vault::Session> {
    vault
        .login(fx.tenant, login, &SecretString::from(password), source)
        .await
}

// ---------------------------------------------------------------------------
// I3: an access token stops with its user's state.

// A disabled user's access token kept working for its 15 minutes.
vault_test!(
    async fn a_disabled_users_access_token_is_refused(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let s = try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let r = fx
            .vault
            .authenticate_access_token(s.access_token.expose_secret(), Some("192.0.2.9"))
            .await;
        assert!(matches!(r, Err(Error::InvalidToken { .. })), "{r:?}");
        let refused = fx.audited("auth.access_token").await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].event.outcome, Outcome::Denied);
        assert_eq!(refused[0].event.target, format!("user/{dev_id}"));
        // Enabling the user again does not revive it either (the lead's
        // disable raises the credential epoch; this holds without it too).
        fx.vault.enable_user(&fx.admin, dev_id).await.unwrap();
        let mut u = user_row(&fx, dev_id).await;
        u.record.credential_epoch += 1;
        write_user(&fx, &u.record, Some(u.version)).await;
        let r = fx
            .vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidToken { .. })), "{r:?}");
    }
);

// A deleted user's access token kept working.
vault_test!(
    async fn a_deleted_users_access_token_is_refused(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let s = try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        fx.vault.delete_user(&fx.admin, dev_id).await.unwrap();
        let r = fx
            .vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidToken { .. })), "{r:?}");
        assert_eq!(fx.audited("auth.access_token").await.len(), 1);
    }
);

// A demoted Admin's access token still acted as Admin (the JWT's role).
vault_test!(
    async fn a_demoted_admins_access_token_acts_with_the_current_role(fx) {
        let (id, _) = fx.user("second@example.com", Role::Admin).await;
        let s = try_login(&fx.vault, &fx, "second@example.com", PASSWORD, None)
            .await
            .unwrap();
        fx.vault
            .change_role(&fx.admin, id, Role::Viewer)
            .await
            .unwrap();
        let caller = fx
            .vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(caller.role(), Role::Viewer);
        let r = fx
            .vault
            .create_user(&caller, "mallory@example.com", Role::Admin, None)
            .await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    }
);

// A credential epoch raised after the token was issued (the user was
// disabled and enabled again) kills the access token and the login's
// refresh tokens, while a fresh login works.
vault_test!(
    async fn tokens_from_before_the_credential_epoch_are_refused(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let s = try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        let mut u = user_row(&fx, dev_id).await;
        u.record.credential_epoch += 1;
        write_user(&fx, &u.record, Some(u.version)).await;
        let r = fx
            .vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await;
        assert!(matches!(r, Err(Error::InvalidToken { .. })), "{r:?}");
        let r = fx
            .vault
            .refresh(s.refresh_token.expose_secret(), None)
            .await;
        assert!(
            matches!(r, Err(Error::InvalidToken { reason: TokenRejection::Revoked })),
            "{r:?}"
        );
        let fresh = try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        let caller = fx
            .vault
            .authenticate_access_token(fresh.access_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(caller.user(), Some(dev_id));
        fx.vault
            .refresh(fresh.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
);

// ---------------------------------------------------------------------------
// Attack 7 (login part): a hostile source address switched auditing off.

vault_test!(
    async fn a_hostile_source_cannot_switch_off_failed_login_auditing(fx) {
        let source: String = "\u{1b}[2J\r\n\0".repeat(26) + &"x".repeat(260 - 26 * 7);
        assert_eq!(source.len(), 260);
        let before = fx.audited("auth.login").await.len();
        for _ in 0..10 {
            let r = try_login(&fx.vault, &fx, "admin@example.com", "wrong", Some(&source)).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        }
        let events = fx.audited("auth.login").await;
        let failed: Vec<_> = events[before..]
            .iter()
            .filter(|e| e.event.outcome == Outcome::Failed)
            .collect();
        assert_eq!(failed.len(), 10, "every failed login is audited");
        for e in failed {
            let s = e.event.source.as_deref().unwrap();
            assert!(s.len() <= secrets_core::audit::MAX_SOURCE_LEN, "{s:?}");
            assert!(!s.chars().any(char::is_control), "{s:?}");
        }
        // The right password still logs in (it answered `TooLarge`).
        try_login(&fx.vault, &fx, "admin@example.com", PASSWORD, Some(&source))
            .await
            .unwrap();
    }
);

// ---------------------------------------------------------------------------
// Attack 8: after a cost raise, an unknown login cost 2^12 and a known
// account's wrong password 2^10: the accounts not yet upgraded showed.

vault_test!(
    async fn unknown_and_known_logins_cost_the_same_work_after_a_cost_raise(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        assert_eq!(cost_of(user_row(&fx, dev_id).await.record.password_hash.as_deref().unwrap()), 10);
        // The documented upgrade path: raise the cost.
        let vault = vault_at_cost(&fx, 12).await;
        let policy_work = 1_u64 << 12;
        let mut spent = Vec::new();
        for (login, password) in [
            ("nobody@example.com", "whatever"),       // unknown
            ("dev@example.com", "wrong password"),   // known, cost 10
            ("admin@example.com", "wrong password"), // known, cost 10
            ("Nobody2@Example.com", "x"),            // unknown
        ] {
            let before = vault.bcrypt_rounds();
            let r = try_login(&vault, &fx, login, password, None).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
            spent.push(vault.bcrypt_rounds() - before);
        }
        assert_eq!(spent, [policy_work; 4], "the same bcrypt work either way");
        // A refused login name costs what an unknown one does.
        let before = vault.bcrypt_rounds();
        let r = try_login(&vault, &fx, "ad\u{200B}min@example.com", PASSWORD, None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        assert_eq!(vault.bcrypt_rounds() - before, policy_work);
        // A disabled account too.
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let before = vault.bcrypt_rounds();
        let r = try_login(&vault, &fx, "dev@example.com", PASSWORD, None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        assert_eq!(vault.bcrypt_rounds() - before, policy_work);
    }
);

// A stored hash at cost 31 held a thread for days; a login now refuses
// it after the policy's work, and the refusal is audited with its reason.
vault_test!(
    async fn an_absurd_stored_cost_is_bounded_and_audited(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let mut u = user_row(&fx, dev_id).await;
        let cheap = PasswordPolicy::new(10)
            .unwrap()
            .hash(&SecretString::from(PASSWORD))
            .unwrap();
        u.record.password_hash = Some(cheap.replacen("$2b$10$", "$2b$31$", 1));
        write_user(&fx, &u.record, Some(u.version)).await;
        let before = fx.vault.bcrypt_rounds();
        let r = try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        assert_eq!(fx.vault.bcrypt_rounds() - before, 1 << 10);
        let last = fx.audited("auth.login").await.pop().unwrap();
        assert_eq!(last.event.outcome, Outcome::Failed);
        assert_eq!(last.event.target, format!("user/{dev_id}"));
        assert_eq!(
            last.event.details.get("reason").map(String::as_str),
            Some("hash_cost_over_bound")
        );
    }
);

// After an operator lowers the cost, hashes above it are rehashed down at
// the next successful login.
vault_test!(
    async fn a_hash_above_the_policy_cost_is_rehashed_at_the_policy_cost(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let raised = vault_at_cost(&fx, 11).await;
        try_login(&raised, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(cost_of(user_row(&fx, dev_id).await.record.password_hash.as_deref().unwrap()), 11);
        // Lowered again: verifying the cost-11 hash is slower than an
        // unknown login (documented), and it is rehashed at 10.
        try_login(&fx.vault, &fx, "dev@example.com", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(cost_of(user_row(&fx, dev_id).await.record.password_hash.as_deref().unwrap()), 10);
    }
);

// ---------------------------------------------------------------------------
// Attack 9: while a hash was upgraded, 5 of 6 concurrent correct-password
// logins failed with `Conflict`.

vault_test!(
    async fn concurrent_logins_during_a_hash_upgrade_all_succeed(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let vault = vault_at_cost(&fx, 11).await;
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let vault = vault.clone();
            let tenant = fx.tenant;
            tasks.push(tokio::spawn(async move {
                vault
                    .login(
                        tenant,
                        "dev@example.com",
                        &SecretString::from(PASSWORD),
                        None,
                    )
                    .await
            }));
        }
        for t in tasks {
            let s = t.await.unwrap().unwrap();
            vault
                .authenticate_access_token(s.access_token.expose_secret(), None)
                .await
                .unwrap();
        }
        let hash = user_row(&fx, dev_id).await.record.password_hash.unwrap();
        assert_eq!(cost_of(&hash), 11, "upgraded by one of them");
        let rehashed = fx.audited("user.password_rehash").await;
        assert!(!rehashed.is_empty() && rehashed.len() <= 6, "{}", rehashed.len());
        let logins = fx.audited("auth.login").await;
        let ok = logins
            .iter()
            .filter(|e| e.event.outcome == Outcome::Allowed && e.event.target == format!("user/{dev_id}"))
            .count();
        assert_eq!(ok, 6 + 1, "six logins and the fixture's");
    }
);

// ---------------------------------------------------------------------------
// Attack 21: look-alike logins were new users rendering as an existing one.

vault_test!(
    async fn look_alike_logins_cannot_be_created(fx) {
        for lookalike in [
            "ad\u{200B}min@example.com",            // zero-width space
            "admin\u{2060}@example.com",            // word joiner
            "\u{FEFF}admin@example.com",            // byte-order mark
            "adm\u{00AD}in@example.com",            // soft hyphen
            "\u{0430}dmin@example.com",             // Cyrillic a
            "admin@ex\u{0430}mpl\u{0435}.com",      // Cyrillic a and e
            "ａｄｍｉｎ@example.com",               // full-width letters
            "ADMIN@EXAMPLE.COM",                    // case
            "\u{202E}moc.elpmaxe@nimda",            // right-to-left override
            "admin@example.com\u{202C}",            // pop directional formatting
            "\u{0251}dmin@example.com",             // Latin alpha
        ] {
            let r = fx
                .vault
                .create_user(
                    &fx.admin,
                    lookalike,
                    Role::Viewer,
                    Some(&SecretString::from("attacker's own password")),
                )
                .await;
            assert!(
                matches!(
                    r,
                    Err(Error::AlreadyExists { .. } | Error::InvalidInput { field: "login", .. })
                ),
                "{lookalike:?}: {r:?}"
            );
        }
        let users = fx.vault.list_users(&fx.admin, None).await.unwrap();
        assert_eq!(users.len(), 1, "{users:?}");
        // The full-width spelling is the same login, for the real user.
        let s = try_login(&fx.vault, &fx, "ＡＤＭＩＮ@example.com", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(s.user, fx.admin_id);
        // Genuine non-ASCII names still work.
        let id = fx
            .vault
            .create_user(&fx.admin, "Олег@почта.рф", Role::Viewer, Some(&SecretString::from(PASSWORD)))
            .await
            .unwrap();
        let s = try_login(&fx.vault, &fx, "олег@ПОЧТА.рф", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(s.user, id);
    }
);

/// Writes, as an earlier version did, a Developer whose login is not in the
/// normal form (`ﬁ` ligature, kept as typed), with the shared password.
async fn write_fish_user(fx: &Fx) -> User {
    let hash = PasswordPolicy::new(10)
        .unwrap()
        .hash(&SecretString::from(PASSWORD))
        .unwrap();
    let old = User {
        id: UserId::generate(),
        login: "\u{FB01}sh@example.com".into(),
        role: Role::Developer,
        password_hash: Some(hash),
        disabled: false,
        created_at: fx.now(),
        credential_epoch: 0,
        credentials_revoked_at: None,
    };
    write_user(fx, &old, None).await;
    old
}

// A row written by an earlier version, under a login that is not in the
// normal form (`ﬁ` ligature, kept as typed): it still logs in, and the
// login stays unique.
vault_test!(
    async fn a_row_written_the_old_way_still_logs_in(fx) {
        let old = write_fish_user(&fx).await;
        let s = try_login(&fx.vault, &fx, "\u{FB01}sh@example.com", PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(s.user, old.id);
        // Rewriting it (here: disabling it) keeps its lookup key, so the
        // revocation cannot fail on a key collision.
        fx.vault.disable_user(&fx.admin, old.id).await.unwrap();
        let r = try_login(&fx.vault, &fx, "\u{FB01}sh@example.com", PASSWORD, None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
    }
);

// The same, on a SQLite file opened again by a new process (store and vault
// built afresh from the file): its rows, written the old way, log in.
// SQLite only: it reopens the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_from_the_previous_version_still_logs_in() {
    let fx = Fx::new(Backend::Sqlite).await;
    assert_eq!(fx.backend, Backend::Sqlite);
    let old = write_fish_user(&fx).await;
    let path = fx.dir.as_ref().unwrap().path().join("vault.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let vault = Vault::new(store, fx.ring.clone(), Arc::new(fx.clock.clone()), config())
        .await
        .unwrap();
    for (login, id) in [
        ("\u{FB01}sh@example.com", old.id),
        ("Admin@Example.com", fx.admin_id),
    ] {
        let s = vault
            .login(fx.tenant, login, &SecretString::from(PASSWORD), None)
            .await
            .unwrap();
        assert_eq!(s.user, id);
    }
}

// ---------------------------------------------------------------------------
// Attack 22: a failed login for an unknown name was audited verbatim (often
// a password typed into the login field).

vault_test!(
    async fn an_unknown_login_is_audited_as_a_keyed_hash_never_as_text(fx) {
        let typed = "Tr0ub4dor&3-Hunter2";
        for _ in 0..2 {
            let r = try_login(&fx.vault, &fx, typed, "x", None).await;
            assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        }
        let r = try_login(&fx.vault, &fx, "another-typo", "x", None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");
        // A known user typed in another case: audited by id.
        let r = try_login(&fx.vault, &fx, "ADMIN@example.com", "Wrong-Passw0rd", None).await;
        assert!(matches!(r, Err(Error::InvalidCredentials)), "{r:?}");

        let all = fx.audit().await;
        for e in &all {
            let text = format!("{:?}", e.event).to_lowercase();
            for needle in ["tr0ub4dor", "hunter2", "another-typo", "wrong-passw0rd"] {
                assert!(!text.contains(&needle.to_lowercase()), "{needle} in {text}");
            }
        }
        let failed: Vec<_> = fx
            .audited("auth.login")
            .await
            .into_iter()
            .filter(|e| e.event.outcome == Outcome::Failed)
            .collect();
        assert_eq!(failed.len(), 4);
        let tag = |i: usize| failed[i].event.details.get("login_hmac").cloned().unwrap();
        assert_eq!(failed[0].event.target, "login/unknown");
        assert_eq!(tag(0), tag(1), "repeated attempts correlate");
        assert_ne!(tag(0), tag(2));
        assert_eq!(tag(0).len(), 16);
        assert_eq!(failed[3].event.target, format!("user/{}", fx.admin_id));
    }
);

// ---------------------------------------------------------------------------
// Attack 23: three or more concurrent refreshes of one token logged the
// user out (two succeeded, then the family was revoked).

async fn concurrent_refreshes(fx: &Fx, n: usize) {
    let s = try_login(&fx.vault, fx, "admin@example.com", PASSWORD, None)
        .await
        .unwrap();
    let token = s.refresh_token.expose_secret().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let vault = fx.vault.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(
            async move { vault.refresh(&token, None).await },
        ));
    }
    let mut returned = Vec::new();
    for t in tasks {
        let s = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{n} refreshes: {e}"));
        fx.vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await
            .unwrap();
        returned.push(s.refresh_token.expose_secret().to_owned());
    }
    // Every token handed out still works, whichever one a tab kept.
    for t in &returned {
        fx.vault
            .refresh(t, None)
            .await
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    // Past the window, reusing the original token is a replay: revoked.
    fx.advance(Duration::from_secs(60));
    let r = fx.vault.refresh(&token, None).await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidToken {
                reason: TokenRejection::Reused
            })
        ),
        "{r:?}"
    );
    let r = fx.vault.refresh(&returned[0], None).await;
    assert!(matches!(r, Err(Error::InvalidToken { .. })), "{r:?}");
}

vault_test!(
    async fn three_concurrent_refreshes_keep_the_user_logged_in(fx) {
        concurrent_refreshes(&fx, 3).await;
    }
);

vault_test!(
    async fn five_concurrent_refreshes_keep_the_user_logged_in(fx) {
        concurrent_refreshes(&fx, 5).await;
    }
);

vault_test!(
    async fn ten_concurrent_refreshes_keep_the_user_logged_in(fx) {
        concurrent_refreshes(&fx, 10).await;
    }
);
