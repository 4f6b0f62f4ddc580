//! Secrets and confirmations from the operator: stdin lines, the TTY
//! without echo, the environment. Never from an argument value.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use secrets_core::{Error, SecretString};
use zeroize::Zeroizing;

use crate::exit::Failure;

/// The next line of stdin without its line ending, or `None` at the end.
/// Every read shares std's one stdin buffer, so a passphrase on the first
/// line and a password on the second are read in that order.
pub(crate) fn stdin_line(what: &str) -> Result<Option<SecretString>, Failure> {
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Io(format!("could not read the {what} from stdin: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    // Moves the buffer (no copy is left behind unwiped).
    Ok(Some(SecretString::new(std::mem::take(&mut *line))))
}

/// The next line of stdin, which must be there.
pub(crate) fn required_stdin_line(what: &'static str) -> Result<SecretString, Failure> {
    stdin_line(what)?.ok_or_else(|| {
        Failure::Core(Error::invalid(
            what,
            "stdin ended before it was given (one line, ended by a newline)",
        ))
    })
}

/// Whether stdin is a terminal (then secrets are prompted for, unechoed).
pub(crate) fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks for a secret on the terminal (prompt on stderr), without echo.
fn ask(what: &str, prompt: &str) -> Result<SecretString, Failure> {
    let term = console::Term::stderr();
    term.write_str(prompt)
        .and_then(|()| term.read_secure_line())
        .map(SecretString::new)
        .map_err(|e| Failure::Io(format!("could not read the {what} from the terminal: {e}")))
}

/// Asks for a secret on the terminal, without echo, once.
pub(crate) fn prompt_once(what: &str) -> Result<SecretString, Failure> {
    ask(what, &format!("{what}: "))
}

/// Asks for a secret on the terminal, without echo, twice; the entries
/// must match.
pub(crate) fn prompt_twice(what: &'static str) -> Result<SecretString, Failure> {
    let first = ask(what, &format!("{what}: "))?;
    let second = ask(what, &format!("{what} again: "))?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Failure::Core(Error::invalid(
            what,
            "the two entries differ",
        )));
    }
    Ok(first)
}

/// Asks the operator to type `expected` to confirm `action` (on stderr;
/// the answer is stdin's next line, terminal or not). Refused (exit 4)
/// unless it matches exactly.
pub(crate) fn confirm(action: &str, expected: &str) -> Result<(), Failure> {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{action}: type `{expected}` to confirm: ");
    let _ = err.flush();
    drop(err);
    let answer = stdin_line("confirmation")?;
    if !stdin_is_terminal() {
        // The answer was not echoed by a terminal: end the prompt's line.
        let _ = writeln!(std::io::stderr());
    }
    match answer {
        Some(a) if a.expose_secret().trim() == expected => Ok(()),
        _ => Err(Failure::NotConfirmed(format!(
            "{action}: not confirmed (type `{expected}`, or pass --yes)"
        ))),
    }
}
