//! ferry-runtime.
