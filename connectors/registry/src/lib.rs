//! The connectors ferry knows, listed once. Adding a connector is one folder under
//! `connectors/` exporting a `CONNECTOR` descriptor ([`ferry_core::connector::Connector`])
//! and one line here (plus its dependency line in this crate's `Cargo.toml`).

use ferry_core::connector::{self, Connector};

/// Every connector, in the order lists and messages show them.
pub static CONNECTORS: &[&Connector] = &[
    &ferry_postgres::CONNECTOR,
    &ferry_odps::CONNECTOR,
    &ferry_parquet::CONNECTOR,
    &ferry_stream::CONNECTOR,
];

/// Install [`CONNECTORS`] for this process (job parsing and the factories look them up
/// there); call it first thing in `main` and in tests. Later calls change nothing.
pub fn install() {
    connector::install(CONNECTORS);
}
