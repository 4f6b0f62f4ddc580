//! What reaches the operator: human text on stdout, or exactly one JSON
//! document with `--json`; errors and progress on stderr; progress bars only
//! when stderr is a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::args::Global;
use crate::exit::{Exit, Failure};

/// A command's result: the JSON document, the text for a human, and the
/// exit code (not always 0: a report with findings exits 3).
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) json: Value,
    pub(crate) text: String,
    pub(crate) exit: Exit,
}

impl Report {
    /// A successful report.
    pub(crate) fn ok(json: Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
            exit: Exit::Ok,
        }
    }

    /// The same report with another exit code.
    pub(crate) fn exit(mut self, exit: Exit) -> Self {
        self.exit = exit;
        self
    }
}

/// Writes `bytes` and a newline to stdout; a closed pipe is not worth a
/// panic.
fn stdout_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Prints the result and returns the exit code.
pub(crate) fn finish(global: &Global, result: Result<Report, Failure>) -> ExitCode {
    match result {
        Ok(report) => {
            if global.json {
                stdout_line(&report.json.to_string());
            } else if !global.quiet || report.exit != Exit::Ok {
                let text = report.text.trim_end();
                if !text.is_empty() {
                    stdout_line(text);
                }
            }
            ExitCode::from(report.exit as u8)
        }
        Err(failure) => {
            if global.json {
                stdout_line(&error_json(failure.code(), &failure.message()).to_string());
            }
            stderr_line(&format!("secrets-core: {}", failure.message()));
            ExitCode::from(failure.exit() as u8)
        }
    }
}

/// The JSON document of a failure.
pub(crate) fn error_json(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// clap's own outcome: help and version on stdout (exit 0), usage errors
/// on stderr with exit 2 (and, with `--json`, as a JSON error on stdout).
pub(crate) fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind as K;
    let informational = matches!(e.kind(), K::DisplayHelp | K::DisplayVersion)
        || e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand && !json;
    if informational {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(Exit::Usage as u8));
    }
    if json {
        let message = e.render().to_string();
        let first = message.lines().next().unwrap_or("usage error");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        stdout_line(&error_json("usage", first).to_string());
    }
    let _ = e.print();
    ExitCode::from(Exit::Usage as u8)
}

/// A progress bar with `total` steps, drawn on stderr only when stderr is
/// a terminal and the operator did not ask for quiet; hidden otherwise (no
/// escape codes ever reach a file or a pipe).
pub(crate) fn progress(global: &Global, total: u64, what: &str) -> ProgressBar {
    let draw = !global.no_progress && !global.quiet && std::io::stderr().is_terminal();
    if !draw {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
