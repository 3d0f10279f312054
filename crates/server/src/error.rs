//! Why the system could not start, or a command could not finish.

use curatore_config::ConfigError;
use std::fmt;

/// A start-up or command failure, with the exit code a binary should end
/// with: bad configuration 2, anything at run time 1. The message names the
/// variable or the cause, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// Bad configuration: the message names the variable and the problem.
    Config(String),
    /// Anything at run time (database unreachable, migration failed, …).
    Runtime(String),
}

impl StartError {
    /// 2 for configuration, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(err: ConfigError) -> Self {
        Self::Config(err.to_string())
    }
}
