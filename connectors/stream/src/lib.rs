//! ferry's stream connector.
