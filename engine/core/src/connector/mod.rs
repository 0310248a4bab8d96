//! The connector descriptor: everything the engine and the CLI need to know about a
//! connector, stated once by the connector itself.
//!
//! Each connector crate exports one [`Connector`] (`ferry_postgres::CONNECTOR`, ...); one
//! list of them (`ferry_connectors::CONNECTORS`) is installed at start-up with
//! [`install`], the way `log::set_logger` installs a logger. Core knows no connector by
//! name: job parsing asks the installed list which names are readers and writers, what
//! they are also called, and whether a `column` list is the plugin's columns.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::catalog::Datasource;

mod wizard;
use crate::plugin::{ReaderFactory, WriterFactory};
use crate::{Error, Result};
pub use wizard::{as_is, Conflict, Truncate, Wizard};

/// Opens a [`Browser`] on a catalog datasource of the connector's kind (name, entry).
pub type BrowseFn = fn(&str, &Datasource) -> Result<Arc<dyn Browser>>;

/// A yes / no question about a plugin's parameters.
pub type ParamsRule = fn(&Map<String, Value>) -> bool;

/// A connector, as it describes itself.
pub struct Connector {
    /// The canonical plugin name in jobs and in ferry's messages (`postgresql`).
    pub name: &'static str,
    /// How people call it (`PostgreSQL`, `MaxCompute (ODPS)`).
    pub title: &'static str,
    /// Other spellings accepted for the reader (DataX's `postgresqlreader`).
    pub reader_aliases: &'static [&'static str],
    /// Other spellings accepted for the writer (DataX's `postgresqlwriter`).
    pub writer_aliases: &'static [&'static str],
    /// Short names accepted on the command line (`ferry job template --reader pg`), not
    /// in jobs: `pg`, `greenplum`, `maxcompute`.
    pub nicknames: &'static [&'static str],
    /// The reader, when the connector reads.
    pub reader: Option<fn() -> Arc<dyn ReaderFactory>>,
    /// The writer, when the connector writes.
    pub writer: Option<fn() -> Arc<dyn WriterFactory>>,
    /// Whether a reader's `column` list names the columns it gives (so that it must be as
    /// long as the writer's); `false` for parameters that make the list something else
    /// (a PostgreSQL `querySql` gives the query's columns). `None`: always.
    pub reader_columns_listed: Option<ParamsRule>,
    /// Whether the writer's `column` list is its columns (`false` for a writer that takes
    /// whatever it is given, such as `stream`).
    pub writer_columns_listed: bool,
    /// The reader's parameters, for `ferry job template` and the docs check.
    pub reader_params: &'static [Param],
    /// The writer's parameters.
    pub writer_params: &'static [Param],
    /// Keys the reader accepts and ignores with a warning (DataX compatibility).
    pub reader_ignored: &'static [&'static str],
    /// Keys the writer accepts and ignores with a warning.
    pub writer_ignored: &'static [&'static str],
    /// How to look into a catalog datasource of this kind (its `type` is [`Self::name`]):
    /// the wizard, the console, `ferry preview`, `ferry schema` and "Test Connectivity".
    pub browse: Option<BrowseFn>,
    /// The catalog datasources of this connector's type (`"type": "postgresql"`), when it
    /// has them.
    pub datasource: Option<&'static DatasourceKind>,
    /// A [`Browser`] on paths of this machine (a file, a folder or a glob stands for the
    /// table), for connectors whose data is files: the wizard, `ferry preview` and
    /// `ferry schema` of a path.
    pub browse_paths: Option<fn() -> Arc<dyn Browser>>,
    /// What the job wizard asks and writes for it; `None`: the wizard does not offer it.
    pub wizard: Option<Wizard>,
    /// The column type its writer creates or expects for an Arrow type, in its own words,
    /// for `ferry schema` (`None`: it has no typed columns).
    pub type_for_arrow: Option<fn(&arrow::datatypes::DataType) -> String>,
}

/// A kind of catalog datasource: the fields `ferry datasource add`, the console's form
/// and the catalog check all read, and what the catalog cannot check by itself.
pub struct DatasourceKind {
    /// Other spellings of the type (`hybriddb`, `greenplum`, `maxcompute`).
    pub aliases: &'static [&'static str],
    /// Its fields, in the order forms show them (`description` is implied).
    pub fields: &'static [Field],
    /// Checks beyond required and known fields (a URL's scheme).
    pub check: fn(&Datasource) -> Result<()>,
    /// Where it points, for lists, with passwords hidden
    /// (`jdbc:postgresql://host:5432/db`, `http://host/api project demo`).
    pub locate: fn(&Datasource) -> String,
}

/// How a datasource field is entered and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Plain text.
    Text,
    /// A URL: shown with any password in it hidden.
    Url,
    /// A secret: never shown, only whether it is set.
    Secret,
    /// The name of an environment variable holding the secret whose key this one's
    /// starts with (`passwordEnv` for `password`).
    SecretEnv,
}

/// One field of a [`DatasourceKind`].
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The key in the catalog (`jdbcUrl`); the command-line flag is its kebab-case form
    /// (`--jdbc-url`).
    pub key: &'static str,
    /// The form's label (`JDBC URL`).
    pub label: &'static str,
    /// One line of help, with an example.
    pub help: &'static str,
    /// How it is entered and shown.
    pub kind: FieldKind,
    /// Whether a datasource must have it.
    pub required: bool,
}

/// A [`Field`], in a table.
pub const fn field(
    key: &'static str,
    label: &'static str,
    kind: FieldKind,
    required: bool,
    help: &'static str,
) -> Field {
    Field {
        key,
        label,
        help,
        kind,
        required,
    }
}

impl Field {
    /// The command-line flag: `jdbcUrl` is `jdbc-url`.
    pub fn flag(&self) -> String {
        let mut out = String::new();
        for c in self.key.chars() {
            if c.is_ascii_uppercase() {
                out.push('-');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// A table's columns, as its source describes them.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// The columns as Arrow (ODPS partition keys included).
    pub schema: SchemaRef,
    /// Each column's type in the source's own words (`integer`, `BIGINT`), in order.
    pub native: Vec<String>,
    /// The partition key columns (MaxCompute), which are also in `schema`.
    pub partition_keys: Vec<String>,
}

/// What the wizard, the console and the inspection commands ask of a datasource.
#[async_trait]
pub trait Browser: Send + Sync {
    /// "Test Connectivity": connect and say what answered (version, latency).
    async fn test(&self) -> Result<String>;
    /// The tables to choose from (sorted; empty when the source has no listing).
    async fn tables(&self) -> Result<Vec<String>>;
    /// A table's columns.
    async fn shape(&self, table: &str) -> Result<TableShape>;
    /// A table's columns as (name, native type), partition keys apart, for choosing
    /// among them: unlike [`Browser::shape`], a column ferry cannot read is listed too.
    async fn columns(&self, table: &str) -> Result<(Vec<(String, String)>, Vec<String>)> {
        let shape = self.shape(table).await?;
        let cols = shape
            .schema
            .fields()
            .iter()
            .zip(shape.native)
            .filter(|(f, _)| !shape.partition_keys.contains(f.name()))
            .map(|(f, n)| (f.name().clone(), n))
            .collect();
        Ok((cols, shape.partition_keys))
    }
    /// The column to suggest as `splitPk` (a single integer primary key), if any.
    async fn split_key(&self, _table: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// The first `limit` rows of a table (of a partition; with a `where` filter where
    /// the source takes one).
    async fn preview(
        &self,
        table: &str,
        partition: Option<&str>,
        where_: Option<&str>,
        limit: usize,
    ) -> Result<RecordBatch>;
}

/// When `ferry job template` sets a parameter (prints it uncommented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// In both job shapes.
    Always,
    /// In the DataWorks shape (a catalog datasource); commented out in DataX's.
    V1,
    /// In the DataX shape (an inline connection); commented out in DataWorks'.
    DataX,
    /// Never: optional, shown commented out with its default.
    Never,
}

/// One parameter of a reader or writer: key, an example value (JSON text), when a
/// template sets it, and its documentation (type, default, meaning).
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The key in `parameter`.
    pub key: &'static str,
    /// An example value, JSON text.
    pub value: &'static str,
    /// When a template sets it.
    pub on: Set,
    /// `type, default ...: meaning`.
    pub doc: &'static str,
}

/// A [`Param`], in a table.
pub const fn param(key: &'static str, value: &'static str, on: Set, doc: &'static str) -> Param {
    Param {
        key,
        value,
        on,
        doc,
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .field("reader", &self.reader.is_some())
            .field("writer", &self.writer.is_some())
            .finish()
    }
}

/// A reader or a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads.
    Reader,
    /// Writes.
    Writer,
}

impl Role {
    /// `reader` / `writer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
        }
    }

    /// The other role.
    pub fn other(self) -> Role {
        match self {
            Role::Reader => Role::Writer,
            Role::Writer => Role::Reader,
        }
    }
}

impl Connector {
    /// Whether it plays `role`.
    pub fn plays(&self, role: Role) -> bool {
        match role {
            Role::Reader => self.reader.is_some(),
            Role::Writer => self.writer.is_some(),
        }
    }

    /// Its other spellings for `role`.
    pub fn aliases(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Reader => self.reader_aliases,
            Role::Writer => self.writer_aliases,
        }
    }

    /// Its parameters for `role`.
    pub fn params(&self, role: Role) -> &'static [Param] {
        match role {
            Role::Reader => self.reader_params,
            Role::Writer => self.writer_params,
        }
    }

    /// The keys it accepts and ignores for `role`.
    pub fn ignored(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Reader => self.reader_ignored,
            Role::Writer => self.writer_ignored,
        }
    }

    /// Whether `written` (lower case, trimmed) names it in `role`.
    pub fn is_called(&self, written: &str, role: Role) -> bool {
        self.plays(role) && (self.name == written || self.aliases(role).contains(&written))
    }
}

static INSTALLED: OnceLock<&'static [&'static Connector]> = OnceLock::new();

/// Install the connectors ferry knows, once per process (later calls are ignored, so
/// every test may call it).
pub fn install(connectors: &'static [&'static Connector]) {
    let _ = INSTALLED.set(connectors);
}

/// The installed connectors (empty before [`install`]).
pub fn all() -> &'static [&'static Connector] {
    INSTALLED.get().copied().unwrap_or(&[])
}

/// The connectors that play `role`, in the installed order.
pub fn playing(role: Role) -> impl Iterator<Item = &'static Connector> {
    all().iter().copied().filter(move |c| c.plays(role))
}

/// The connector a job names for `role` (canonical name or alias, any case).
pub fn find(written: &str, role: Role) -> Option<&'static Connector> {
    let w = written.trim().to_ascii_lowercase();
    playing(role).find(|c| c.is_called(&w, role))
}

/// [`find`], also accepting the connector's [`Connector::nicknames`] (command lines).
pub fn find_nickname(written: &str, role: Role) -> Option<&'static Connector> {
    let w = written.trim().to_ascii_lowercase();
    find(&w, role).or_else(|| playing(role).find(|c| c.nicknames.contains(&w.as_str())))
}

/// The connectors with catalog datasources, with their kinds.
pub fn datasource_kinds() -> impl Iterator<Item = (&'static Connector, &'static DatasourceKind)> {
    all()
        .iter()
        .copied()
        .filter_map(|c| c.datasource.map(|k| (c, k)))
}

/// The connector whose datasources have type `written` (its name or an alias, any case).
pub fn datasource_kind(written: &str) -> Option<(&'static Connector, &'static DatasourceKind)> {
    let w = written.trim().to_ascii_lowercase();
    datasource_kinds().find(|(c, k)| c.name == w || k.aliases.contains(&w.as_str()))
}

/// The connector called `name` (canonical), whatever it plays.
pub fn by_name(name: &str) -> Option<&'static Connector> {
    all().iter().copied().find(|c| c.name == name)
}

fn unknown(name: &str, role: Role) -> Error {
    let known: Vec<&str> = playing(role).map(|c| c.name).collect();
    Error::config(format!(
        "unknown {} plugin \"{name}\" (known: {})",
        role.as_str(),
        known.join(", ")
    ))
}

/// A [`Browser`] on the catalog datasource `name`, from the connector of its kind.
pub fn browser(name: &str, ds: &Datasource) -> Result<Arc<dyn Browser>> {
    let kind = ds.kind();
    let browse = by_name(kind).and_then(|c| c.browse).ok_or_else(|| {
        Error::config(format!(
            "datasource {name}: no connector looks into {kind} datasources"
        ))
    })?;
    browse(name, ds)
}

/// The reader factory of the connector called `name`.
pub fn reader(name: &str) -> Result<Arc<dyn ReaderFactory>> {
    by_name(name)
        .and_then(|c| c.reader)
        .map(|f| f())
        .ok_or_else(|| unknown(name, Role::Reader))
}

/// The writer factory of the connector called `name`.
pub fn writer(name: &str) -> Result<Arc<dyn WriterFactory>> {
    by_name(name)
        .and_then(|c| c.writer)
        .map(|f| f())
        .ok_or_else(|| unknown(name, Role::Writer))
}

/// Name-only stand-ins for the real connectors (which live in crates that depend on this
/// one), for core's own unit tests: the names and aliases jobs use, no factories.
#[cfg(test)]
pub(crate) fn install_for_tests() {
    use crate::plugin::{BuildContext, Reader, Writer};
    use serde_json::Value;

    /// Checks nothing, builds nothing.
    struct Toy;
    #[async_trait::async_trait]
    impl ReaderFactory for Toy {
        fn name(&self) -> &'static str {
            "toy"
        }
        fn check(&self, _: &Value, _: &str, _: &mut Vec<String>) -> Result<()> {
            Ok(())
        }
        async fn build(&self, _: &Value, _: &str, _: &BuildContext) -> Result<Arc<dyn Reader>> {
            Err(Error::config("a toy connector"))
        }
    }
    #[async_trait::async_trait]
    impl WriterFactory for Toy {
        fn name(&self) -> &'static str {
            "toy"
        }
        fn check(&self, _: &Value, _: &str, _: &mut Vec<String>) -> Result<()> {
            Ok(())
        }
        async fn build(&self, _: &Value, _: &str, _: &BuildContext) -> Result<Arc<dyn Writer>> {
            Err(Error::config("a toy connector"))
        }
    }

    fn toy(
        name: &'static str,
        r: &'static [&'static str],
        w: &'static [&'static str],
    ) -> Connector {
        Connector {
            name,
            title: name,
            reader_aliases: r,
            writer_aliases: w,
            nicknames: &[],
            reader: Some(|| Arc::new(Toy)),
            writer: Some(|| Arc::new(Toy)),
            reader_columns_listed: None,
            writer_columns_listed: true,
            reader_params: &[],
            writer_params: &[],
            reader_ignored: &[],
            writer_ignored: &[],
            browse: None,
            datasource: None,
            browse_paths: None,
            wizard: None,
            type_for_arrow: None,
        }
    }
    static PG: DatasourceKind = DatasourceKind {
        aliases: &["greenplum"],
        fields: &[
            field("jdbcUrl", "JDBC URL", FieldKind::Url, false, ""),
            field("url", "URL", FieldKind::Url, false, ""),
            field("username", "User", FieldKind::Text, false, ""),
            field("password", "Password", FieldKind::Secret, false, ""),
            field(
                "passwordEnv",
                "Password variable",
                FieldKind::SecretEnv,
                false,
                "",
            ),
        ],
        check: |ds| match ds.get("jdbcUrl").or(ds.get("url")) {
            Some(u) if u.contains("postgres") => Ok(()),
            Some(_) => Err(Error::config(
                "expected jdbc:postgresql://host:port/database",
            )),
            None => Err(Error::config("give jdbcUrl or url")),
        },
        locate: |ds| ds.get("url").unwrap_or_default().to_string(),
    };
    static ODPS: DatasourceKind = DatasourceKind {
        aliases: &[],
        fields: &[
            field("endpoint", "Endpoint", FieldKind::Url, true, ""),
            field("project", "Project", FieldKind::Text, true, ""),
        ],
        check: |_| Ok(()),
        locate: |ds| ds.get("endpoint").unwrap_or_default().to_string(),
    };
    static TOYS: OnceLock<Vec<Connector>> = OnceLock::new();
    static LIST: OnceLock<Vec<&'static Connector>> = OnceLock::new();
    let toys = TOYS.get_or_init(|| {
        vec![
            Connector {
                // A reader whose `column` is not its columns when `querySql` is given.
                reader_columns_listed: Some(|p| !p.contains_key("querySql")),
                datasource: Some(&PG),
                ..toy("postgresql", &["postgresqlreader"], &["postgresqlwriter"])
            },
            Connector {
                datasource: Some(&ODPS),
                ..toy("odps", &["odpsreader"], &["odpswriter"])
            },
            toy("parquet", &["parquetreader"], &["parquetwriter"]),
            Connector {
                writer_columns_listed: false,
                ..toy("stream", &["streamreader"], &["streamwriter"])
            },
        ]
    });
    install(LIST.get_or_init(|| toys.iter().collect()).as_slice());
}
