//! One error type for ferry, classified by who is at fault.
//!
//! Messages never contain passwords or access keys: connectors must redact before
//! building an error (see [`redact`]).

use std::fmt;

/// Result with ferry's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ferry's error, by fault. Each variant carries a human message that already names
/// the file, JSON path, connector, split, column or row where known.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job file or a parameter is wrong (exit code 2).
    #[error("{0}")]
    Config(String),
    /// Could not reach or log in to a system.
    #[error("{0}")]
    Connect(String),
    /// Tables, columns or types do not match what the job says.
    #[error("{0}")]
    Schema(String),
    /// A value could not be read, converted or written.
    #[error("{0}")]
    Data(String),
    /// The remote system refused or failed a request.
    #[error("{message}")]
    Remote {
        /// What happened, already readable.
        message: String,
        /// Whether trying again may help (connection reset, serialization failure...).
        retryable: bool,
    },
    /// Local I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (path, operation).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The job was cancelled (Ctrl-C, another channel failed).
    #[error("cancelled")]
    Cancelled,
    /// The dirty-record limit (`errorLimit`) was exceeded.
    #[error("{0}")]
    ErrorLimit(String),
    /// A bug in ferry.
    #[error("internal error (this is a bug in ferry): {0}")]
    Internal(String),
}

impl Error {
    /// Config error with a message.
    pub fn config(msg: impl fmt::Display) -> Self {
        Error::Config(msg.to_string())
    }
    /// Connect error with a message.
    pub fn connect(msg: impl fmt::Display) -> Self {
        Error::Connect(msg.to_string())
    }
    /// Schema error with a message.
    pub fn schema(msg: impl fmt::Display) -> Self {
        Error::Schema(msg.to_string())
    }
    /// Data error with a message.
    pub fn data(msg: impl fmt::Display) -> Self {
        Error::Data(msg.to_string())
    }
    /// Internal error with a message.
    pub fn internal(msg: impl fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
    /// Remote error that a retry will not fix.
    pub fn remote(msg: impl fmt::Display) -> Self {
        Error::Remote {
            message: msg.to_string(),
            retryable: false,
        }
    }
    /// Remote error that a retry may fix.
    pub fn transient(msg: impl fmt::Display) -> Self {
        Error::Remote {
            message: msg.to_string(),
            retryable: true,
        }
    }
    /// I/O error with context.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// Whether retrying the failed operation may help: a remote error marked transient
    /// (connection closed, admin shutdown, serialization failure, deadlock, too many
    /// connections, a 5xx or 429, a time-out) or a local I/O error of the network kind.
    /// Everything else — bad data, constraints, types, auth, missing objects, the
    /// dirty-record limit, cancel — is never retried.
    pub fn retry_hint(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            Error::Remote { retryable, .. } => *retryable,
            Error::Io { source, .. } => matches!(
                source.kind(),
                K::TimedOut
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::NotConnected
            ),
            _ => false,
        }
    }

    /// Process exit code for this error: 2 for usage and configuration mistakes, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            _ => 1,
        }
    }

    /// Prefix the message with context ("reader postgresql: ..."), keeping the class.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        match self {
            Error::Config(m) => Error::Config(format!("{ctx}: {m}")),
            Error::Connect(m) => Error::Connect(format!("{ctx}: {m}")),
            Error::Schema(m) => Error::Schema(format!("{ctx}: {m}")),
            Error::Data(m) => Error::Data(format!("{ctx}: {m}")),
            Error::Remote { message, retryable } => Error::Remote {
                message: format!("{ctx}: {message}"),
                retryable,
            },
            Error::Io { context, source } => Error::Io {
                context: format!("{ctx}: {context}"),
                source,
            },
            Error::ErrorLimit(m) => Error::ErrorLimit(format!("{ctx}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{ctx}: {m}")),
            Error::Cancelled => Error::Cancelled,
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Data(e.to_string())
    }
}

/// Replace every occurrence of each secret in `text` with `***`.
/// Use it on any driver or server message that might echo a URL or a key.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.is_empty() {
            out = out.replace(s, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_secret() {
        let r = redact(
            "postgres://u:hunter2@h/db failed: hunter2",
            &["hunter2", ""],
        );
        assert_eq!(r, "postgres://u:***@h/db failed: ***");
    }

    #[test]
    fn classes_map_to_exit_codes() {
        assert_eq!(Error::config("x").exit_code(), 2);
        assert_eq!(Error::data("x").exit_code(), 1);
        assert!(Error::transient("reset").retry_hint());
        assert!(!Error::remote("denied").retry_hint());
        assert_eq!(
            Error::schema("no column").context("writer").to_string(),
            "writer: no column"
        );
    }
}
