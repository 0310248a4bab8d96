//! ferry's parquet connector.
