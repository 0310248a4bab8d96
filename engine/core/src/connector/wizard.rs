//! What the job wizard (`ferry job new`, the console's New job) asks of a connector and
//! writes into its parameters, stated by the connector: the wizard itself names none.

/// A connector's answers to the wizard's questions. Each field is one question the wizard
/// may ask or one key it may write; a connector without a [`Wizard`] is not offered.
#[derive(Debug, Clone, Copy)]
pub struct Wizard {
    /// Its "table" is a path (a file, a folder or a glob) on this machine rather than a
    /// table on a server: the wizard offers it by name next to the catalog's datasources,
    /// asks for a path, writes `path`, and a target takes the source's columns.
    pub paths: bool,
    /// Tables may be partitioned (MaxCompute): ask a partition when a table has partition
    /// keys, and write `partition`.
    pub partitions: bool,
    /// A reader takes a `where` filter: ask for one. `Some(true)`: write `"where": ""`
    /// when none is given (DataX's PostgreSQL template has the key).
    pub filter: Option<bool>,
    /// A reader takes `splitPk`: ask for it, suggesting the browser's split key; always
    /// written.
    pub split_key: bool,
    /// A reader's `column` entries may be SQL expressions, not only columns and constants.
    pub expressions: bool,
    /// A column name as the reader's `column` list must spell it (quoted where needed).
    pub quote: fn(&str) -> String,
    /// A writer takes `preSql` / `postSql` in this language (`SQL`, `ODPS SQL`); `.1`:
    /// write them even when empty.
    pub sql_hooks: Option<(&'static str, bool)>,
    /// A writer's conflict modes (`writeMode`): the choices with their meaning, and the
    /// mode a written spelling (`replace`, `update`) stands for.
    pub conflict: Option<Conflict>,
    /// How a writer empties its target first.
    pub truncate: Truncate,
}

/// A writer's conflict modes, written as `writeMode`.
#[derive(Debug, Clone, Copy)]
pub struct Conflict {
    /// `(mode, meaning)`; the first is the default.
    pub modes: &'static [(&'static str, &'static str)],
    /// The mode a spelling stands for (`insert`, `ignore`, `update`), if any.
    pub parse: fn(&str) -> Option<&'static str>,
}

/// How a writer is told to empty its target before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncate {
    /// `"truncate": true|false`, with the default answer.
    Flag {
        /// The answer Enter takes.
        default: bool,
    },
    /// `"writeMode": "truncate"|"append"` (files written before are replaced); the
    /// default is to replace them.
    WriteMode,
}

/// The identity: a column name as it is.
pub fn as_is(name: &str) -> String {
    name.to_string()
}
