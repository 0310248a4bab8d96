//! ferry's benchmarks. [`harness`] is `ferry bench`: a transfer measured at several
//! channel counts against PostgreSQL's own COPY, and the reproducible `person` / `wide`
//! test tables; `bench/run.sh` drives it with the peers and writes `bench/RESULTS.md`.

pub mod harness;

pub use harness::{cmd, BenchArgs};
