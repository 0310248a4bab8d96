//! ferry's MaxCompute (ODPS) connector: the tunnel wire layer shared by client and
//! server, the local MaxCompute-compatible server (`ferry odps serve`), and the
//! `odps` / `odpsreader` / `odpswriter` plugins.

pub mod wire;
pub mod server;
