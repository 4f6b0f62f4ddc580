//! The `secrets-core` binary: everything is in the library, so that the
//! integration tests can walk the same command tree.

fn main() -> std::process::ExitCode {
    secrets_core_cli::run()
}
