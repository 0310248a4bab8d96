//! The tunnel wire layer, shared by the local server and the client: CRC-32C, ODPS type
//! strings and the Arrow mapping, the record codec, the Arrow framing, whole-body
//! compression and request signing. There is no second codec anywhere in ferry.

pub mod arrow_frame;
pub mod compress;
pub mod crc;
pub mod record;
pub mod sign;
pub mod types;

pub use compress::Compression;
pub use types::{arrow_type, odps_type_for_arrow, OdpsType};
