//! Exit codes, the same for every command so scripts can rely on them.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, and everything checked out.
    Ok,
    /// 1: done, but what was checked failed (a response that does not verify, an invalid
    /// message, strings that differ).
    CheckFailed,
    /// 2: could not do the job (bad arguments, unreadable file, unusable key). Also what
    /// `main` returns for any error.
    Error,
    /// 141: standard output was closed before the command had said everything (`| head`);
    /// the code a shell shows for a program ended by SIGPIPE, which is what this is. The job
    /// may not be finished, so it is neither 0 nor a verdict.
    OutputClosed,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::CheckFailed => 1,
            Exit::Error => 2,
            Exit::OutputClosed => 141,
        })
    }
}
