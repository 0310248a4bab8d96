//! ferry-runtime: runs a job.
//!
//! Builds the reader, then the writer (which may adopt the reader's schema), compiles
//! the transform, prepares the writer, plans splits and runs `channels` workers. Each
//! worker pulls splits from a shared queue; its reader side decodes and transforms
//! batches into a bounded channel that its writer side drains into one sink, so memory
//! stays flat. When every worker has finished, the writer commits all receipts at once;
//! on any failure it aborts and the target is left as it was.

pub mod sharded;
pub mod state;
pub mod store;
pub mod summary;
pub mod throttle;
pub mod verify;

mod run;

pub use run::{run_job, JobPlan, Plugins, RunOptions, Sharding};
pub use state::StateOptions;
pub use summary::Summary;
