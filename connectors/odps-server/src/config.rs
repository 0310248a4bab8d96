//! What `ferry odps serve` serves: storage root, address, keys, injected faults.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Who may call the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Verify V2 and V4 signatures against this key pair.
    Keys {
        /// AccessKeyId.
        access_id: String,
        /// AccessKeySecret (never logged).
        access_key: String,
    },
    /// Accept every request.
    None,
}

/// Faults the server injects, for client retry tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultInjection {
    /// Drop the connection of a block PUT after this many body bytes.
    pub drop_block_put_after_bytes: Option<u64>,
    /// How many block PUTs to break that way.
    pub times: u32,
}

/// Options of [`serve`] / [`start`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Storage root.
    pub root: PathBuf,
    /// Address to bind (the CLI defaults to 127.0.0.1:9300).
    pub listen: SocketAddr,
    /// Authentication.
    pub auth: Auth,
    /// Project used when a request names none (informational).
    pub default_project: Option<String>,
    /// Fault injection.
    pub fault: Option<FaultInjection>,
}

impl ServeOptions {
    /// Options for a root on 127.0.0.1 with an OS-chosen port and no auth.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServeOptions {
            root: root.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            auth: Auth::None,
            default_project: None,
            fault: None,
        }
    }
}
