//! Beyond the listed attacks: random sequences of Vault operations by
//! several users and credentials, checked after every step against a small
//! reference model of who may do what (invariants I1 to I5).
//!
//! The model keeps users (role, enabled, credential epoch) and credentials
//! (owner, epoch, scopes fixed at creation, expiry, revoked) and predicts,
//! from the rules of docs/THREAT_MODEL.md written independently here,
//! whether each operation is allowed. After every step it checks that:
//!
//! - the Vault allowed exactly what the model predicts (I2: nobody grants
//!   what they do not hold; I5: the last enabled Admin stays);
//! - every credential authenticates exactly when the model says it stands
//!   (I3: disabled, deleted, revoked, expired ones stop at once), and then
//!   grants no more than its owner's current role and no more than its
//!   creator held when it was made (I1);
//! - the users the Vault lists are the model's.
//!
//! Pairs of user changes also run concurrently; the Vault's outcome must be
//! one of the two orders the model allows. `cargo test` runs a few cases;
//! CI runs many more (`PROPTEST_CASES`, see `.ci/run`).

#[allow(unused_imports)]
use super::*;

use proptest::prelude::*;
use secrets_core::Error;
use secrets_core::error::TokenRejection;
use secrets_core::rbac::{Permission, Policy, Scopes};

/// The built-in permissions, by bit: how generated scope masks map.
const PERMS: [Permission; 13] = [
    Permission::ReadApps,
    Permission::ListSecretNames,
    Permission::WriteSecrets,
    Permission::InjectSecrets,
    Permission::StartAgentSession,
    Permission::ManageWebhooks,
    Permission::ConnectIntegrations,
    Permission::ManageApiTokens,
    Permission::ManageUsers,
    Permission::ManageSettings,
    Permission::ReadAuditLog,
    Permission::OverrideDeployGate,
    Permission::ManageOwnApiTokens,
];

#[derive(Clone, Debug)]
enum Op {
    CreateUser {
        by: usize,
        role: Role,
    },
    ChangeRole {
        by: usize,
        user: usize,
        role: Role,
    },
    Disable {
        by: usize,
        user: usize,
    },
    Enable {
        by: usize,
        user: usize,
    },
    Delete {
        by: usize,
        user: usize,
    },
    Mint {
        by: usize,
        owner: usize,
        scopes: Option<u16>,
        ttl: Option<u64>,
    },
    StartAgent {
        by: usize,
        scopes: Option<u16>,
    },
    Revoke {
        cred: usize,
    },
    Advance {
        secs: u64,
    },
    /// Two user changes at the same moment.
    Pair(Box<Op>, Box<Op>),
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Viewer), Just(Role::Developer), Just(Role::Admin)]
}

fn user_change() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    prop_oneof![
        (i(), i(), role()).prop_map(|(by, user, role)| Op::ChangeRole { by, user, role }),
        (i(), i()).prop_map(|(by, user)| Op::Disable { by, user }),
        (i(), i()).prop_map(|(by, user)| Op::Enable { by, user }),
        (i(), i()).prop_map(|(by, user)| Op::Delete { by, user }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    let mask = || proptest::option::weighted(0.7, 1u16..(1 << PERMS.len()));
    prop_oneof![
        3 => (i(), role()).prop_map(|(by, role)| Op::CreateUser { by, role }),
        4 => user_change(),
        4 => (i(), i(), mask(), proptest::option::of(prop_oneof![Just(0u64), 1u64..7200]))
            .prop_map(|(by, owner, scopes, ttl)| Op::Mint { by, owner, scopes, ttl }),
        2 => (i(), mask()).prop_map(|(by, scopes)| Op::StartAgent { by, scopes }),
        1 => i().prop_map(|cred| Op::Revoke { cred }),
        1 => (1u64..5000).prop_map(|secs| Op::Advance { secs }),
        2 => (user_change(), user_change()).prop_map(|(a, b)| Op::Pair(Box::new(a), Box::new(b))),
    ]
}

#[derive(Clone, Debug)]
struct MUser {
    id: UserId,
    role: Role,
    disabled: bool,
    deleted: bool,
    epoch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CredKind {
    Login,
    Token,
    Agent,
}

#[derive(Clone, Debug)]
struct MCred {
    kind: CredKind,
    owner: usize,
    epoch: u64,
    /// The scopes stored: the most it may ever grant (its creator's grant
    /// at creation, narrowed to the owner's role then).
    scopes: Scopes,
    expires_at: Option<Timestamp>,
    revoked: bool,
    /// The presented secret (tokens and agents), or the caller (login).
    secret: Option<String>,
    id: Option<String>,
}

#[derive(Clone, Debug)]
struct Model {
    policy: Policy,
    users: Vec<MUser>,
    creds: Vec<MCred>,
    now: Timestamp,
}

impl Model {
    fn perms(&self, role: Role) -> Scopes {
        self.policy.role_scopes(role)
    }

    /// Whether a credential stands now.
    fn alive(&self, c: &MCred) -> bool {
        let u = &self.users[c.owner];
        !u.deleted
            && !u.disabled
            && c.epoch >= u.epoch
            && !c.revoked
            && c.expires_at.is_none_or(|e| self.now < e)
    }

    /// What a standing credential grants now.
    fn grant(&self, c: &MCred) -> Option<Scopes> {
        self.alive(c)
            .then(|| self.perms(self.users[c.owner].role).intersect(c.scopes))
    }

    fn enabled_admins_except(&self, except: usize) -> usize {
        self.users
            .iter()
            .enumerate()
            .filter(|(i, u)| *i != except && !u.deleted && !u.disabled && u.role == Role::Admin)
            .count()
    }

    /// Predicts a user change by credential `by` on user `user` and applies
    /// it if allowed. Returns whether it is allowed.
    fn user_change(&mut self, op: &Op) -> bool {
        let (by, user) = match op {
            Op::ChangeRole { by, user, .. }
            | Op::Disable { by, user }
            | Op::Enable { by, user }
            | Op::Delete { by, user } => (*by, *user),
            _ => unreachable!(),
        };
        let Some(grant) = self.grant(&self.creds[by]) else {
            return false;
        };
        let target = &self.users[user];
        if target.deleted
            || !grant.contains(Permission::ManageUsers)
            || !self.perms(target.role).is_within(grant)
        {
            return false;
        }
        let leaves_admins = |new_role: Role, gone: bool| {
            target.role == Role::Admin && !target.disabled && (gone || new_role != Role::Admin)
        };
        let last = self.enabled_admins_except(user) == 0;
        match op {
            Op::ChangeRole { role, .. } => {
                // Demoting an Admin, even a disabled one, needs another.
                let demotes = target.role == Role::Admin && *role != Role::Admin;
                if !self.perms(*role).is_within(grant) || (demotes && last) {
                    return false;
                }
                self.users[user].role = *role;
            }
            Op::Disable { .. } => {
                if leaves_admins(target.role, true) && last {
                    return false;
                }
                let u = &mut self.users[user];
                u.disabled = true;
                u.epoch += 1;
            }
            Op::Enable { .. } => self.users[user].disabled = false,
            Op::Delete { .. } => {
                if leaves_admins(target.role, true) && last {
                    return false;
                }
                self.users[user].deleted = true;
            }
            _ => unreachable!(),
        }
        true
    }
}

/// The scopes a generated mask asks for, as names (`None`: `"*"`).
fn names(policy: &Policy, mask: Option<u16>) -> Vec<String> {
    match mask {
        None => vec!["*".to_owned()],
        Some(m) => PERMS
            .iter()
            .enumerate()
            .filter(|(i, _)| m & (1 << i) != 0)
            .map(|(_, p)| policy.name(*p).to_owned())
            .collect(),
    }
}

fn requested(mask: Option<u16>) -> Scopes {
    match mask {
        None => Scopes::all(),
        Some(m) => Scopes::only(
            &PERMS
                .iter()
                .enumerate()
                .filter(|(i, _)| m & (1 << i) != 0)
                .map(|(_, p)| *p)
                .collect::<Vec<_>>(),
        ),
    }
}

struct Run {
    fx: Fx,
    model: Model,
}

impl Run {
    async fn new(backend: Backend) -> Self {
        let fx = Fx::new(backend).await;
        let policy = Policy::new();
        let model = Model {
            users: vec![MUser {
                id: fx.admin_id,
                role: Role::Admin,
                disabled: false,
                deleted: false,
                epoch: 0,
            }],
            creds: vec![MCred {
                kind: CredKind::Login,
                owner: 0,
                epoch: 0,
                scopes: policy.role_scopes(Role::Admin),
                expires_at: None,
                revoked: false,
                secret: None,
                id: None,
            }],
            now: Timestamp::from_unix_seconds(1_750_000_000),
            policy,
        };
        Self { fx, model }
    }

    /// A caller for credential `i`, as a host gets one per request.
    async fn caller(&self, i: usize) -> Option<Caller> {
        let c = &self.model.creds[i];
        let vault = &self.fx.vault;
        match c.kind {
            CredKind::Login => Some(self.fx.admin.clone()),
            CredKind::Token => vault
                .authenticate_api_token(c.secret.as_deref()?, None)
                .await
                .ok(),
            CredKind::Agent => vault
                .authenticate_agent(c.secret.as_deref()?, None)
                .await
                .ok(),
        }
    }

    async fn user_change(&self, op: &Op) -> secrets_core::Result<()> {
        let vault = &self.fx.vault;
        let (by, user) = match op {
            Op::ChangeRole { by, user, .. }
            | Op::Disable { by, user }
            | Op::Enable { by, user }
            | Op::Delete { by, user } => (*by, *user),
            _ => unreachable!(),
        };
        let Some(caller) = self.caller(by).await else {
            return Err(Error::InvalidToken {
                reason: TokenRejection::Revoked,
            });
        };
        let id = self.model.users[user].id;
        match op {
            Op::ChangeRole { role, .. } => vault.change_role(&caller, id, *role).await,
            Op::Disable { .. } => vault.disable_user(&caller, id).await,
            Op::Enable { .. } => vault.enable_user(&caller, id).await,
            Op::Delete { .. } => vault.delete_user(&caller, id).await,
            _ => unreachable!(),
        }
    }

    /// Maps generated indexes onto what exists.
    fn fit(&self, op: Op) -> Op {
        let (u, c) = (self.model.users.len(), self.model.creds.len());
        match op {
            Op::CreateUser { by, role } => Op::CreateUser { by: by % c, role },
            Op::ChangeRole { by, user, role } => Op::ChangeRole {
                by: by % c,
                user: user % u,
                role,
            },
            Op::Disable { by, user } => Op::Disable {
                by: by % c,
                user: user % u,
            },
            Op::Enable { by, user } => Op::Enable {
                by: by % c,
                user: user % u,
            },
            Op::Delete { by, user } => Op::Delete {
                by: by % c,
                user: user % u,
            },
            Op::Mint {
                by,
                owner,
                scopes,
                ttl,
            } => Op::Mint {
                by: by % c,
                owner: owner % u,
                scopes,
                ttl,
            },
            Op::StartAgent { by, scopes } => Op::StartAgent { by: by % c, scopes },
            Op::Revoke { cred } => Op::Revoke { cred: cred % c },
            Op::Advance { secs } => Op::Advance { secs },
            Op::Pair(a, b) => Op::Pair(Box::new(self.fit(*a)), Box::new(self.fit(*b))),
        }
    }

    async fn step(&mut self, op: Op) {
        let op = self.fit(op);
        let vault = self.fx.vault.clone();
        match &op {
            Op::CreateUser { by, role } => {
                let grant = self.model.grant(&self.model.creds[*by]);
                let expect = grant.is_some_and(|g| {
                    g.contains(Permission::ManageUsers) && self.model.perms(*role).is_within(g)
                });
                let login = format!("u{}@example.com", self.model.users.len());
                let got = match self.caller(*by).await {
                    Some(c) => vault.create_user(&c, &login, *role, None).await,
                    None => Err(Error::InvalidToken {
                        reason: TokenRejection::Revoked,
                    }),
                };
                assert_eq!(got.is_ok(), expect, "{op:?}: {got:?}");
                if let Ok(id) = got {
                    self.model.users.push(MUser {
                        id,
                        role: *role,
                        disabled: false,
                        deleted: false,
                        epoch: 0,
                    });
                    // Every user gets a `*` token from the host, to act with.
                    let owner = self.model.users.len() - 1;
                    let t = vault
                        .mint_api_token(&Caller::system(self.fx.tenant), id, "own", &["*"], None)
                        .await
                        .unwrap();
                    self.push_cred(
                        CredKind::Token,
                        owner,
                        self.model.perms(*role),
                        None,
                        t.token.expose_secret(),
                        t.id,
                    );
                }
            }
            Op::ChangeRole { .. } | Op::Disable { .. } | Op::Enable { .. } | Op::Delete { .. } => {
                let expect = self.model.user_change(&op);
                let got = self.user_change(&op).await;
                assert_eq!(got.is_ok(), expect, "{op:?}: {got:?}");
            }
            Op::Pair(a, b) => {
                let (ra, rb) = tokio::join!(self.user_change(a), self.user_change(b));
                let outcomes = (ra.is_ok(), rb.is_ok());
                let mut ab = self.model.clone();
                let ab_ok = (ab.user_change(a), ab.user_change(b));
                let mut ba = self.model.clone();
                let ba_ok = {
                    let second = ba.user_change(b);
                    (ba.user_change(a), second)
                };
                let mut fits: Vec<Model> = [(ab, ab_ok), (ba, ba_ok)]
                    .into_iter()
                    .filter(|(_, ok)| *ok == outcomes)
                    .map(|(m, _)| m)
                    .collect();
                assert!(!fits.is_empty(), "{op:?}: {ra:?} {rb:?}");
                // Both orders can succeed with different ends (disable and
                // enable one user): the store says which order ran.
                self.model = if fits.len() == 1 {
                    fits.remove(0)
                } else {
                    self.the_one_the_store_holds(fits).await
                };
            }
            Op::Mint {
                by,
                owner,
                scopes,
                ttl,
            } => {
                let m = &self.model;
                let c = &m.creds[*by];
                let ttl_d = ttl.map(Duration::from_secs);
                let expires = ttl_d.map(|t| m.now.saturating_add(t));
                let wanted = m.grant(c).map(|g| {
                    let r = requested(*scopes);
                    (g, if r == Scopes::all() { g } else { r })
                });
                let o = &m.users[*owner];
                let stored = m.perms(o.role);
                let expect = match wanted {
                    Some((g, w)) => {
                        c.kind != CredKind::Agent
                            && (g.contains(Permission::ManageApiTokens)
                                || (c.owner == *owner
                                    && g.contains(Permission::ManageOwnApiTokens)))
                            && ttl.is_none_or(|t| t >= 1)
                            && c.expires_at.is_none_or(|e| expires.is_some_and(|x| x <= e))
                            && !o.deleted
                            && !o.disabled
                            && w.is_within(g)
                            && !w.intersect(stored).is_empty()
                    }
                    None => false,
                };
                let names = names(&m.policy, *scopes);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let got = match self.caller(*by).await {
                    Some(caller) => vault.mint_api_token(&caller, o.id, "t", &refs, ttl_d).await,
                    None => Err(Error::InvalidToken {
                        reason: TokenRejection::Revoked,
                    }),
                };
                assert_eq!(got.is_ok(), expect, "{op:?}: {got:?}");
                if let (Ok(t), Some((_, w))) = (got, wanted) {
                    let scopes = w.intersect(stored);
                    self.push_cred(
                        CredKind::Token,
                        *owner,
                        scopes,
                        expires,
                        t.token.expose_secret(),
                        t.id,
                    );
                }
            }
            Op::StartAgent { by, scopes } => {
                let m = &self.model;
                let c = &m.creds[*by];
                let wanted = m.grant(c).map(|g| {
                    let r = requested(*scopes);
                    (g, if r == Scopes::all() { g } else { r })
                });
                let expect = wanted.is_some_and(|(g, w)| {
                    c.kind == CredKind::Login
                        && g.contains(Permission::StartAgentSession)
                        && w.is_within(g)
                        && !w.is_empty()
                });
                let names = names(&m.policy, *scopes);
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let owner = c.owner;
                let got = match self.caller(*by).await {
                    Some(caller) => vault.start_agent_session(&caller, "bot", &refs, None).await,
                    None => Err(Error::InvalidToken {
                        reason: TokenRejection::Revoked,
                    }),
                };
                assert_eq!(got.is_ok(), expect, "{op:?}: {got:?}");
                if let (Ok(s), Some((_, w))) = (got, wanted) {
                    let expires = Some(self.model.now.saturating_add(Duration::from_secs(3600)));
                    self.push_cred(
                        CredKind::Agent,
                        owner,
                        w,
                        expires,
                        s.token.expose_secret(),
                        s.id,
                    );
                }
            }
            Op::Revoke { cred } => {
                let c = &self.model.creds[*cred];
                if c.kind == CredKind::Token && !self.model.users[c.owner].deleted {
                    let id = c.id.clone().unwrap();
                    vault
                        .revoke_api_token(&Caller::system(self.fx.tenant), &id)
                        .await
                        .unwrap();
                    self.model.creds[*cred].revoked = true;
                }
            }
            Op::Advance { secs } => {
                let d = Duration::from_secs(*secs);
                self.fx.advance(d);
                self.model.now = self.model.now.saturating_add(d);
            }
        }
        self.check().await;
    }

    /// Of models that explain the outcomes equally, the one whose users
    /// match the store's (the first, if none does: `check` then fails).
    async fn the_one_the_store_holds(&self, mut fits: Vec<Model>) -> Model {
        let listed = self
            .fx
            .vault
            .list_users(&Caller::system(self.fx.tenant), None)
            .await
            .unwrap();
        let holds = |m: &Model| {
            m.users.iter().all(|u| {
                let found = listed.iter().find(|l| l.id == u.id);
                match found {
                    None => u.deleted,
                    Some(l) => !u.deleted && (l.role, l.disabled) == (u.role, u.disabled),
                }
            })
        };
        let i = fits.iter().position(holds).unwrap_or(0);
        fits.swap_remove(i)
    }

    fn push_cred(
        &mut self,
        kind: CredKind,
        owner: usize,
        scopes: Scopes,
        expires_at: Option<Timestamp>,
        secret: &str,
        id: String,
    ) {
        let epoch = self.model.users[owner].epoch;
        self.model.creds.push(MCred {
            kind,
            owner,
            epoch,
            scopes,
            expires_at,
            revoked: false,
            secret: Some(secret.to_owned()),
            id: Some(id),
        });
    }

    /// The invariants, after every step.
    async fn check(&self) {
        let m = &self.model;
        // The users are the model's, and an enabled Admin remains (I5).
        let listed = self
            .fx
            .vault
            .list_users(&Caller::system(self.fx.tenant), None)
            .await
            .unwrap();
        let live: Vec<&MUser> = m.users.iter().filter(|u| !u.deleted).collect();
        assert_eq!(listed.len(), live.len());
        for u in &live {
            let l = listed.iter().find(|l| l.id == u.id).unwrap();
            assert_eq!((l.role, l.disabled), (u.role, u.disabled), "{u:?}");
        }
        assert!(listed.iter().any(|u| u.role == Role::Admin && !u.disabled));
        // Every credential stands exactly when the model says (I3), and
        // grants no more than its owner now and its creator then (I1).
        for (i, c) in m.creds.iter().enumerate() {
            let got = self.caller(i).await;
            let want = m.grant(c);
            if c.kind == CredKind::Login {
                // Held, not re-authenticated: checked by the operations.
                continue;
            }
            assert_eq!(got.is_some(), want.is_some(), "credential {i}: {c:?}");
            if let (Some(caller), Some(want)) = (got, want) {
                assert_eq!(caller.role(), m.users[c.owner].role);
                let effective = m.policy.effective(caller.role(), caller.scopes());
                assert_eq!(effective, want, "credential {i}");
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

fn run(backend: Backend, ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut run = Run::new(backend).await;
        for op in ops {
            run.step(op).await;
        }
    });
}

// One property per backend, outside `vault_test!`: proptest generates the
// operations, and a backend with a slower write gets shorter sequences. A
// new backend needs its line here too.
proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_on_memory(ops in proptest::collection::vec(op(), 1..40)) {
        run(Backend::Memory, ops);
    }

    #[test]
    fn invariants_hold_on_sqlite(ops in proptest::collection::vec(op(), 1..25)) {
        run(Backend::Sqlite, ops);
    }
}
