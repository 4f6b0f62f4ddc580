//! `secrets-core`, the operator's command: keys, the first admin, the audit
//! chain, backups, pruning, tenant export and erasure, migrations and a
//! deployment check, from a shell or a script.
//!
//! A thin front end: every rule lives in `secrets_core`; this crate parses
//! arguments, reads secrets from where an operator keeps them (a key file,
//! stdin, the environment, never an argument value), calls the core, and
//! prints the result as text or as one JSON document, with an exit code from
//! one table ([`Exit`]).
//!
//! ```
//! let help = secrets_core_cli::command().render_long_help().to_string();
//! assert!(help.contains("SECRETS_CORE_STORE"));
//! assert!(help.contains("Exit codes"));
//! ```

mod args;
mod commands;
mod exit;
mod input;
mod open;
mod output;

use std::process::ExitCode;

use clap::FromArgMatches as _;

pub use args::command;
pub use exit::Exit;

/// Runs the command line of this process and returns its exit code:
/// parses the arguments (clap's own usage errors exit 2), runs the command
/// on a Tokio runtime, and prints its result. The whole of the binary:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     secrets_core_cli::run()
/// }
/// ```
#[must_use]
pub fn run() -> ExitCode {
    let json = std::env::args_os().any(|a| a == "--json");
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return output::usage_error(&e, json),
    };
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(&e, json),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let failure = exit::Failure::Io(format!("could not start the async runtime: {e}"));
            return output::finish(&cli.global, Err(failure));
        }
    };
    let result = runtime.block_on(commands::run(&cli));
    output::finish(&cli.global, result)
}
