//! Every exit status certsd documents, in one place (README "Exit codes").
//!
//! Scripts branch on these numbers, so they are a contract: change them only
//! with a CHANGELOG entry.

use std::process::ExitCode;

/// A documented exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Success; with `plan --detailed-exitcode`: nothing to change.
    Success = 0,
    /// Any failure other than a usage error: bad files, I/O, a refused edit.
    Failure = 1,
    /// `plan --detailed-exitcode` only: changes are pending.
    ChangesPending = 2,
    /// The command line itself is wrong (unknown flag, bad host name, bad URL ...).
    Usage = 64,
}

impl Code {
    /// The exit code for an error that reached `main`.
    pub fn for_error(err: &anyhow::Error) -> Code {
        if err.downcast_ref::<UsageError>().is_some() {
            Code::Usage
        } else {
            Code::Failure
        }
    }
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code as u8)
    }
}

/// An error in what the user typed: exits with [`Code::Usage`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand: an `anyhow::Error` that exits 64.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Prints clap's message and maps it: `--help`/`--version` exit 0, the rest 64.
pub fn clap_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = err.print();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Code::Success.into(),
        // `certsd` alone prints help, but a script that ran it made a mistake.
        _ => Code::Usage.into(),
    }
}

/// A closed stdout (`certsd plan | head`) is not an error worth reporting.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_numbers() {
        assert_eq!(Code::Success as u8, 0);
        assert_eq!(Code::Failure as u8, 1);
        assert_eq!(Code::ChangesPending as u8, 2);
        assert_eq!(Code::Usage as u8, 64);
    }

    #[test]
    fn usage_errors_map_to_64_even_with_context() {
        let err = usage("bad host").context("while reading flags");
        assert_eq!(Code::for_error(&err), Code::Usage);
        let other = anyhow::anyhow!("disk full");
        assert_eq!(Code::for_error(&other), Code::Failure);
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe");
        let err = anyhow::Error::new(io).context("writing diff");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
