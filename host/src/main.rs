//! The `dpost` program.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use dpost::cli::{Cli, Exit};

fn main() -> ExitCode {
    // Everything dpost writes (the store, message files) is personal data: private to its
    // owner, whatever umask it was started with.
    dpost::store::permissions::private_umask();
    let cli = Cli::parse();
    let filter = match dpost::cli::logging::filter(cli.log.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return Exit::Error.into();
        }
    };
    dpost::cli::logging::init(filter, cli.log_format);
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
