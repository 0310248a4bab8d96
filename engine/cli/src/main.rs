//! `ferry`: run DataX / DataWorks jobs between PostgreSQL, MaxCompute and Parquet.

fn main() {
    ferry_cli::main_with(&[]);
}
