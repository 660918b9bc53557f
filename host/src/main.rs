//! The `dpost` program.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use dpost::cli::{Cli, Exit};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Everything dpost writes (the store, message files) is personal data: private to its
    // owner, whatever umask it was started with.
    dpost::store::permissions::private_umask();
    let cli = Cli::parse();
    let filter = match &cli.log {
        Some(directive) => EnvFilter::try_new(directive),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("warn")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: --log: {e}");
            return Exit::Error.into();
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.run() {
        Ok(exit) => exit.into(),
        // Whoever read the output went away: nothing to report, and nobody to report it to.
        Err(e) if dpost::cli::output_closed(&e) => Exit::OutputClosed.into(),
        Err(e) => {
            // Standard error may be closed too; then there is nobody left to tell.
            let _ = writeln!(std::io::stderr(), "error: {}", dpost::error_text::of(&e));
            Exit::Error.into()
        }
    }
}
