//! ferry-bench: shared helpers for the benches.
