//! ferry's PostgreSQL connector (`postgresql` / `postgresqlreader` / `postgresqlwriter`),
//! for PostgreSQL, HybridDB / AnalyticDB for PostgreSQL and Greenplum.

pub mod writer;
