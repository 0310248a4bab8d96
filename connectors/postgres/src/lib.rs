//! ferry's PostgreSQL connector (`postgresql` / `postgresqlreader` / `postgresqlwriter`),
//! for PostgreSQL, HybridDB / AnalyticDB for PostgreSQL and Greenplum.
//!
//! * [`conn`]: endpoints, TLS, connecting, error mapping (shared by reader and writer).
//! * [`types`]: the one PostgreSQL ⇄ Arrow type mapping table.
//! * [`reader`]: [`PostgresReaderFactory`] / [`PostgresReader`] (binary `COPY TO`), and
//!   [`preview`].
//! * [`copy_binary`]: the binary COPY decoder; [`split`]: split planning; [`config`]: the
//!   reader's parameters.
//! * [`writer`]: the writer (binary `COPY FROM`).

pub mod config;
pub mod conn;
pub mod copy_binary;
pub mod reader;
pub mod split;
pub mod types;
pub mod writer;

pub use conn::{pg_error, PgEndpoint, SslMode};
pub use reader::{preview, PostgresReader, PostgresReaderFactory};
pub use types::{arrow_field, table_columns, PgColumn, PgScalar};
