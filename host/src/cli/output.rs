//! What commands print. Every line to standard output goes through [`outln!`]/[`out!`], so
//! that a reader that stops reading (`dpost memo validate … | head -1`) ends the command
//! quietly with [`super::Exit::OutputClosed`] instead of a panic in `println!`.
//!
//! Why not SIGPIPE's default action (what C tools get, killed by the signal): it is one
//! setting for the whole process, and `dpost serve` and the simulators must never die because
//! a peer went away; an error that travels up with `?` also lets a command finish what it
//! holds (temporary files, the store) the way every other error does.

use std::fmt;
use std::io::{self, Write as _};

/// Standard output has no reader any more: nothing went wrong with the job, but nobody hears
/// the rest.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct OutputClosed;

/// Writes to standard output; a closed pipe is [`OutputClosed`], any other failure an error
/// that says it was standard output.
pub fn print(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    closed_or(io::stdout().lock().write_fmt(args))
}

/// Writes bytes (a document's content) to standard output, as [`print`] does.
pub fn write_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    closed_or(io::stdout().lock().write_all(bytes))
}

fn closed_or(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(OutputClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to standard output")),
    }
}

/// Writes to standard error, ignoring failure: standard error is where a failure would be
/// told, so when it is closed there is nobody left to tell.
pub fn print_error(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Whether `e` is, or was caused by, a closed standard output.
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<OutputClosed>())
}

/// `println!` that returns `anyhow::Result<()>` instead of panicking; use with `?`.
macro_rules! outln {
    () => {
        $crate::cli::output::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns `anyhow::Result<()>` instead of panicking; use with `?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::print(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::print_error(format_args!("{}\n", format_args!($($arg)*)))
    };
}
