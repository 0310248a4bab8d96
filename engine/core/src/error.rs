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
    /// An error with where it happened: the connector, split and column, around the
    /// error itself (its [`std::error::Error::source`]). It reads as the error's own
    /// message with the split and column put in front where the message does not name
    /// them already; its class, exit code and retry hint are the inner error's.
    #[error("{}", located(at, source))]
    At {
        /// Where.
        at: Box<Location>,
        /// What.
        #[source]
        source: Box<Error>,
    },
}

/// Where an error happened, as far as ferry knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The connector and its role (`postgresql writer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The split's index in the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<usize>,
    /// The split's description (`id >= 1 AND id < 26`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_description: Option<String>,
    /// The column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl Location {
    /// Fill what `self` does not know from `other`.
    fn or(mut self, other: &Location) -> Location {
        self.connector = self.connector.or_else(|| other.connector.clone());
        if self.split.is_none() {
            self.split = other.split;
            self.split_description = other.split_description.clone();
        }
        self.column = self.column.or_else(|| other.column.clone());
        self
    }
}

/// The one-line message of [`Error::At`]: today's message, with the split and the column
/// in front when it does not name them.
fn located(at: &Location, source: &Error) -> String {
    let inner = source.to_string();
    let mut out = String::new();
    if let (Some(i), Some(d)) = (at.split, &at.split_description) {
        if !inner.contains(d.as_str()) {
            out.push_str(&format!("split {i} ({d}): "));
        }
    }
    if let Some(c) = &at.column {
        if !inner.contains(c.as_str()) {
            out.push_str(&format!("column {c}: "));
        }
    }
    out + &inner
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
        match self.root() {
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
        match self.root() {
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
            Error::At { at, source } => Error::At {
                at,
                source: Box::new(source.context(ctx)),
            },
        }
    }

    /// The error itself, without where it happened: match on this for its class.
    pub fn root(&self) -> &Error {
        match self {
            Error::At { source, .. } => source.root(),
            other => other,
        }
    }

    /// Where it happened, as far as known (empty when nothing is).
    pub fn location(&self) -> Location {
        match self {
            Error::At { at, source } => (**at).clone().or(&source.location()),
            _ => Location::default(),
        }
    }

    fn locate(self, f: impl FnOnce(&mut Location)) -> Error {
        match self {
            Error::At { mut at, source } => {
                f(&mut at);
                Error::At { at, source }
            }
            Error::Cancelled => Error::Cancelled,
            other => {
                let mut at = Box::<Location>::default();
                f(&mut at);
                Error::At {
                    at,
                    source: Box::new(other),
                }
            }
        }
    }

    /// The same error, known to have happened in `connector` playing `role`
    /// (`postgresql`, `writer`); a connector already named stays.
    pub fn at_connector(self, connector: &str, role: &str) -> Error {
        self.locate(|at| {
            at.connector
                .get_or_insert_with(|| format!("{connector} {role}"));
        })
    }

    /// The same error, known to have happened in split `index` (`description`).
    pub fn at_split(self, index: usize, description: &str) -> Error {
        self.locate(|at| {
            if at.split.is_none() {
                at.split = Some(index);
                at.split_description = Some(description.to_string());
            }
        })
    }

    /// The same error, known to concern column `name`.
    pub fn at_column(self, name: &str) -> Error {
        self.locate(|at| {
            at.column.get_or_insert_with(|| name.to_string());
        })
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
    fn located_errors_keep_their_class_and_read_as_before() {
        let e = Error::transient("connection reset")
            .at_column("price")
            .at_split(3, "id >= 1 AND id < 26")
            .at_connector("postgresql", "writer");
        assert_eq!(
            e.to_string(),
            "split 3 (id >= 1 AND id < 26): column price: connection reset"
        );
        assert!(e.retry_hint());
        assert_eq!(e.exit_code(), 1);
        assert!(matches!(e.root(), Error::Remote { .. }));
        let at = e.location();
        assert_eq!(at.connector.as_deref(), Some("postgresql writer"));
        assert_eq!((at.split, at.column.as_deref()), (Some(3), Some("price")));
        // the source chain: the located error, then the error itself
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset"));
        // a message that names the split already is not prefixed twice
        let e =
            Error::data("split 3 (id >= 1 AND id < 26): bad").at_split(3, "id >= 1 AND id < 26");
        assert_eq!(e.to_string(), "split 3 (id >= 1 AND id < 26): bad");
        assert_eq!(
            e.context("attempt 2 of 3").to_string(),
            "attempt 2 of 3: split 3 (id >= 1 AND id < 26): bad"
        );
        assert_eq!(Error::config("x").at_split(0, "all").exit_code(), 2);
        assert!(matches!(
            Error::Cancelled.at_split(0, "all"),
            Error::Cancelled
        ));
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
