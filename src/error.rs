//! One error type for failures the user must act on, carrying the exit code.
//!
//! Internal plumbing uses `anyhow`; anything that should reach the user as
//! "one clear line saying what is wrong and what to do" is a [`Failure`], and
//! `main` maps it to the exit codes of the original pgcopydb.

use std::fmt;

/// Exit codes, compatible with the original pgcopydb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    BadArgs = 1,
    BadConfig = 2,
    BadState = 3,
    Pgsql = 4,
    Source = 6,
    Target = 7,
    Internal = 12,
}

/// A failure with a message meant for the user and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn new(exit: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }
    pub fn args(message: impl Into<String>) -> Self {
        Self::new(ExitCode::BadArgs, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ExitCode::BadConfig, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ExitCode::BadState, message)
    }
    pub fn source(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Source, message)
    }
    pub fn target(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Target, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for any error: a [`Failure`] anywhere in the chain decides,
/// otherwise it is an internal error.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map(|f| f.exit)
        .unwrap_or(ExitCode::Internal)
}
