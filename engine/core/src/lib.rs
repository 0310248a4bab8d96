//! ferry-core: what every part of ferry shares.
//!
//! * [`job`]: the job model — DataWorks v1 / v2 and DataX job JSON (comments allowed),
//!   scheduling variables, settings (`speed`, `errorLimit`).
//! * [`catalog`]: named datasources (`l_PostGreSql`, `odps_first`) kept in a JSON file.
//! * [`params`]: strict parameter parsing with JSON paths and "did you mean" hints.
//! * [`plugin`]: the Reader / Writer / BatchSink traits every connector implements.
//! * [`dirty`]: dirty records and the collector that counts them against `errorLimit`.
//! * [`error`]: one error type, classified by who is at fault.

pub mod catalog;
pub mod connector;
pub mod dirty;
pub mod error;
pub mod job;
pub mod params;
pub mod plugin;
pub mod vars;

pub use error::{Error, Result};
