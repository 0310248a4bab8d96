//! `ferry job new` (the wizard) and `ferry job template` (commented job templates).

use clap::Subcommand;
use ferry_core::{Error, Result};

/// `ferry job ...`
#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Walk through a new job in the terminal and save it.
    ///
    /// Example: ferry job new
    New,
    /// Print a commented job template for a reader and a writer.
    ///
    /// Example: ferry job template --reader postgresql --writer odps
    Template,
}

/// Run a `ferry job` subcommand.
pub async fn cmd(c: JobCmd) -> Result<i32> {
    match c {
        JobCmd::New | JobCmd::Template => Err(Error::config("ferry job: not implemented yet")),
    }
}
