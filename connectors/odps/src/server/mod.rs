//! `ferry odps serve`.
