//! --help everywhere, and no secret ever as an argument value.

use clap::ValueHint;

use crate::fixture::{Fixture, command_paths};

const ENV_VARS: [&str; 4] = [
    "SECRETS_CORE_STORE",
    "SECRETS_CORE_KEY_FILE",
    "SECRETS_CORE_PASSPHRASE",
    "SECRETS_CORE_PASSWORD_COST",
];

#[test]
fn every_help_lists_env_vars_and_exit_codes() {
    let f = Fixture::new();
    let paths = command_paths();
    assert!(paths.len() >= 12, "{paths:?}");
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = f.bare(&args, "").expect(0);
        for var in ENV_VARS {
            assert!(run.stdout.contains(var), "{path:?} --help lacks {var}");
        }
        assert!(run.stdout.contains("Exit codes:"), "{path:?}");
        for line in [
            "0  ok",
            "1  failed",
            "2  usage",
            "3  integrity finding",
            "4  refused",
            "5  key or authentication error",
        ] {
            assert!(run.stdout.contains(line), "{path:?} --help lacks `{line}`");
        }
    }
}

/// Walks clap's tree: an argument that takes a value may not be named for
/// a secret, and one named for a key must be a path; the passphrase
/// switches take no value.
#[test]
fn no_command_takes_a_secret_as_an_argument_value() {
    let secretish = ["password", "passphrase", "secret", "token", "pass"];
    // Named after a secret, holding none: a number.
    let not_secrets = ["password_cost"];
    let mut checked = 0;
    let mut stack = vec![secrets_core_cli::command()];
    while let Some(cmd) = stack.pop() {
        for arg in cmd.get_arguments() {
            let name = arg.get_id().as_str().to_ascii_lowercase();
            let takes_value = arg.get_action().takes_values();
            checked += 1;
            if !takes_value || not_secrets.contains(&name.as_str()) {
                continue;
            }
            assert!(
                !secretish.iter().any(|s| name.contains(s)),
                "`{}` of `{}` takes a value and is named for a secret",
                name,
                cmd.get_name()
            );
            if name == "key_store" {
                // The store of the tenant keys, as --store: a URL, and its
                // keys are sealed in it.
                assert_eq!(arg.get_value_hint(), ValueHint::Url, "`{name}`");
            } else if name.contains("key") {
                assert_eq!(
                    arg.get_value_hint(),
                    ValueHint::FilePath,
                    "`{name}` of `{}` must be a path to a key file, never a key",
                    cmd.get_name()
                );
            }
        }
        stack.extend(cmd.get_subcommands().cloned());
    }
    assert!(checked > 20);
    // The passphrase really is reachable: as a switch, not a value.
    let root = secrets_core_cli::command();
    let switch = root
        .get_arguments()
        .find(|a| a.get_id() == "passphrase_stdin")
        .unwrap();
    assert!(!switch.get_action().takes_values());
}

#[test]
fn an_unknown_flag_exits_2() {
    let f = Fixture::new();
    f.bare(&["--no-such-flag"], "").expect(2);
    f.bare(&["doctor", "--no-such-flag"], "").expect(2);
    f.bare(&["audit", "verify", "--tenant", "not-a-uuid"], "")
        .expect(2);
    f.bare(&["--json", "prune", "--no-such-flag"], "")
        .expect_error(2, "usage");
}
