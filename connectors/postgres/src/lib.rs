//! ferry's PostgreSQL connector (`postgresql` / `postgresqlreader` / `postgresqlwriter`),
//! for PostgreSQL, HybridDB / AnalyticDB for PostgreSQL and Greenplum.
//!
//! * [`conn`]: endpoints, TLS, connecting, error mapping (shared by reader and writer).
//! * [`types`]: the one PostgreSQL ⇄ Arrow type mapping table.

pub mod conn;
pub mod types;
pub mod writer;

pub use conn::{pg_error, PgEndpoint, SslMode};
pub use types::{arrow_field, table_columns, PgColumn, PgScalar};
