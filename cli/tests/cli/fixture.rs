//! A temp directory with a key file and a SQLite store path, the binary
//! run in it with a clean environment, and the core library for seeding
//! data the CLI has no command to write.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::SqliteStore;
use secrets_core::vault::{Caller, Vault, VaultConfig};
use secrets_core::{Clock, SecretString, SystemClock, TenantId};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_secrets-core");
pub const PASSWORD: &str = "correct horse battery staple";

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as exactly one JSON value (`from_str` refuses trailing data).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim_end()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}): {:?}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output otherwise.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit {} (wanted {code})\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts the exit code and that stdout is one JSON error document
    /// with `code`.
    #[track_caller]
    pub fn expect_error(self, exit: i32, code: &str) -> Self {
        let run = self.expect(exit);
        let v = run.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        run
    }
}

/// A scratch directory with a master key file and a store path.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key_file: PathBuf,
    pub db: PathBuf,
}

impl Fixture {
    /// A fresh directory and key (written by `keygen`).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("master.key");
        let db = dir.path().join("secrets.db");
        let f = Self { dir, key_file, db };
        f.bare(&["keygen", "--out", f.key_file.to_str().unwrap()], "")
            .expect(0);
        f
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store_url(&self) -> String {
        format!("sqlite:{}", self.db.display())
    }

    /// The binary with no SECRETS_CORE_* variable but the quick costs.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SECRETS_CORE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("SECRETS_CORE_PASSWORD_COST", "10")
            .env("SECRETS_CORE_KDF_ITERATIONS", "65536")
            .current_dir(self.dir.path());
        cmd
    }

    /// Runs `cmd` with `stdin`.
    pub fn run_command(mut cmd: Command, stdin: &str) -> Run {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        // A command that does not read stdin may exit first: ignore EPIPE.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let out: Output = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// Runs the binary with `args` only (no store, no key).
    pub fn bare(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        Self::run_command(cmd, stdin)
    }

    /// Runs the binary on this store with this key (through the
    /// environment, as a script would).
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.command();
        cmd.env("SECRETS_CORE_STORE", self.store_url())
            .env("SECRETS_CORE_KEY_FILE", &self.key_file)
            .args(args);
        Self::run_command(cmd, stdin)
    }

    /// `bootstrap` of `tenant` with the test password.
    pub fn bootstrap(&self, tenant: TenantId) {
        self.run(
            &[
                "bootstrap",
                "--login",
                "ada@example.com",
                "--tenant",
                &tenant.to_string(),
            ],
            &format!("{PASSWORD}\n"),
        )
        .expect(0);
    }

    /// The master key of the key file.
    pub fn master(&self) -> MasterKey {
        MasterKey::from_base64(&std::fs::read_to_string(&self.key_file).unwrap()).unwrap()
    }

    /// Runs `f` with a Vault of the core over this store (for seeding),
    /// with `clock`.
    pub fn with_vault<T>(&self, clock: Arc<dyn Clock>, f: impl AsyncFnOnce(&Vault) -> T) -> T {
        self.with_vault_on(&self.db, None, clock, f)
    }

    /// Runs `f` with a Vault of the core over the SQLite file `db`, with
    /// its tenant keys in the SQLite file `keys` if given.
    pub fn with_vault_on<T>(
        &self,
        db: &Path,
        keys: Option<&Path>,
        clock: Arc<dyn Clock>,
        f: impl AsyncFnOnce(&Vault) -> T,
    ) -> T {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut config = VaultConfig::default();
            config.password_cost = 10;
            let store = Arc::new(SqliteStore::open(db).await.unwrap());
            let ring = Arc::new(KeyRing::new(self.master()));
            let vault = match keys {
                None => Vault::new(store, ring, clock, config).await.unwrap(),
                Some(keys) => {
                    let keys = Arc::new(SqliteStore::open(keys).await.unwrap());
                    Vault::with_key_store(store, keys, ring, clock, config)
                        .await
                        .unwrap()
                }
            };
            f(&vault).await
        })
    }

    /// Bootstraps `tenant` (through the core) and stores `n` app secrets in
    /// it (app `web`, names `S0000`...).
    pub fn seed(&self, tenant: TenantId, n: usize) {
        self.with_vault(Arc::new(SystemClock), async |vault| {
            seed_in(vault, tenant, n).await;
        });
    }

    /// A raw connection to the SQLite file (for tampering).
    pub fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }
}

/// Bootstraps `tenant` if it has no user yet and stores `n` secrets.
pub async fn seed_in(vault: &Vault, tenant: TenantId, n: usize) {
    let pw = SecretString::from(PASSWORD);
    vault
        .ensure_bootstrapped(tenant, "seeded", "ada@example.com", &pw, None)
        .await
        .unwrap();
    let caller = Caller::system(tenant);
    let names: Vec<String> = (0..n).map(|i| format!("S{i:04}")).collect();
    for chunk in names.chunks(50) {
        let values: Vec<(&str, Vec<u8>)> = chunk
            .iter()
            .map(|name| (name.as_str(), format!("value of {name}").into_bytes()))
            .collect();
        vault.set_secrets(&caller, "web", values).await.unwrap();
    }
}

/// Every subcommand path of the tree (`["audit", "verify"]`, ...), the
/// root included as `[]`.
pub fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        out.push(prefix.to_vec());
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&secrets_core_cli::command(), &[], &mut out);
    out
}

pub fn tenant_bytes(t: TenantId) -> Vec<u8> {
    t.as_bytes().to_vec()
}
