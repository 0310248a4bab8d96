//! Named datasources (the seed's `"datasource": "l_PostGreSql"`, `"odps_first"`).
//!
//! The catalog is a JSON file: `--catalog PATH`, else `$FERRY_CATALOG`, else
//! `~/.config/ferry/datasources.json`. It is written with mode 0600.
//!
//! ```json
//! {
//!   "datasources": {
//!     "l_PostGreSql": {"type": "postgresql", "jdbcUrl": "jdbc:postgresql://127.0.0.1:5432/postgres",
//!                      "username": "postgres", "passwordEnv": "PGPASSWORD"},
//!     "odps_first":   {"type": "odps", "endpoint": "http://127.0.0.1:9300/api", "project": "demo",
//!                      "accessId": "ak", "accessKeyEnv": "ODPS_ACCESS_KEY"}
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One named datasource: its `type` (a connector's name, see
/// [`crate::connector::DatasourceKind`]) and its fields, all text. Which fields a type
/// takes, which are required and which are secret is the connector's to say; the catalog
/// checks an entry against its connector's table when it is loaded or added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Datasource {
    kind: String,
    fields: BTreeMap<String, String>,
}

impl Datasource {
    /// A datasource of type `kind` with no fields.
    pub fn new(kind: &str) -> Self {
        Datasource {
            kind: kind.to_string(),
            fields: BTreeMap::new(),
        }
    }

    /// The same, with `key` set to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.fields.insert(key.to_string(), value.to_string());
        self
    }

    /// Its type (`postgresql`, `odps`): after [`Catalog::load`] or [`Catalog::insert`],
    /// the connector's canonical name.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Set a field (`None` removes it; blank text counts as absent).
    pub fn set(&mut self, key: &str, value: Option<String>) {
        match value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        {
            Some(v) => {
                self.fields.insert(key.to_string(), v);
            }
            None => {
                self.fields.remove(key);
            }
        }
    }

    /// Every field, by key.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The fields as the connector's own struct, after checking that the datasource
    /// (called `name`) is of type `kind`.
    pub fn typed<T: serde::de::DeserializeOwned>(&self, name: &str, kind: &str) -> Result<T> {
        self.check_kind(name, kind)?;
        let map: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::config(format!("datasource \"{name}\": {e}")))
    }

    /// An error unless the datasource (called `name`) is of type `kind`.
    pub fn check_kind(&self, name: &str, kind: &str) -> Result<()> {
        if self.kind == kind {
            return Ok(());
        }
        Err(Error::config(format!(
            "datasource \"{name}\" is a {} datasource, not {kind}",
            self.kind
        )))
    }

    /// A secret field: its value in clear, else the environment variable its `<key>Env`
    /// field names, else none.
    pub fn secret(&self, key: &str) -> Result<Option<String>> {
        let env_key = format!("{key}Env");
        resolve_secret(self.get(key), self.get(&env_key), &env_key)
    }
}

impl Serialize for Datasource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.fields.len() + 1))?;
        m.serialize_entry("type", &self.kind)?;
        for (k, v) in &self.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Datasource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let mut kind = None;
        let mut fields = BTreeMap::new();
        for (k, v) in map {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => {
                    return Err(D::Error::custom(format!(
                        "{k}: expected text, found {}",
                        crate::params::type_name(&other)
                    )))
                }
            };
            if k == "type" {
                kind = Some(text);
            } else {
                fields.insert(k, text);
            }
        }
        let kind = kind.ok_or_else(|| D::Error::missing_field("type"))?;
        Ok(Datasource { kind, fields })
    }
}

/// A secret given in clear, else read from the environment variable `env` names (the
/// field called `what`), else none.
pub fn resolve_secret(
    inline: Option<&str>,
    env: Option<&str>,
    what: &str,
) -> Result<Option<String>> {
    if let Some(s) = inline {
        return Ok(Some(s.to_string()));
    }
    match env {
        Some(var) => std::env::var(var).map(Some).map_err(|_| {
            Error::config(format!(
                "{what} names environment variable {var}, which is not set"
            ))
        }),
        None => Ok(None),
    }
}

/// The on-disk shape of the catalog file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    datasources: BTreeMap<String, Datasource>,
}

/// The datasource catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Datasource>,
}

/// Check a datasource name against the seed's rules: letters, digits and `_`,
/// starting with a letter or `_`, at most 60 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_start || !ok_chars || name.chars().count() > 60 {
        return Err(Error::config(format!(
            "datasource name \"{name}\": use letters, digits and _, start with a letter or _, at most 60 characters"
        )));
    }
    Ok(())
}

impl Catalog {
    /// Where the catalog lives: `explicit`, else `$FERRY_CATALOG`, else
    /// `~/.config/ferry/datasources.json`.
    pub fn default_path(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        if let Ok(p) = std::env::var("FERRY_CATALOG") {
            if !p.is_empty() {
                return PathBuf::from(p);
            }
        }
        let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
        PathBuf::from(home).join(".config/ferry/datasources.json")
    }

    /// An empty catalog bound to `path` (nothing read).
    pub fn empty(path: Option<PathBuf>) -> Self {
        Catalog {
            path,
            entries: BTreeMap::new(),
        }
    }

    /// Load the catalog at `path`; a missing file is an empty catalog.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::empty(Some(path.to_path_buf())))
            }
            Err(e) => return Err(Error::io(format!("reading catalog {}", path.display()), e)),
        };
        let file: CatalogFile = {
            let de = &mut serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                Error::config(format!("{}: {}: {}", path.display(), e.path(), e.inner()))
            })?
        };
        let mut entries = file.datasources;
        for (name, ds) in entries.iter_mut() {
            check_name(name).map_err(|e| e.context(path.display()))?;
            check_entry(name, ds).map_err(|e| e.context(path.display()))?;
        }
        Ok(Catalog {
            path: Some(path.to_path_buf()),
            entries,
        })
    }

    /// Write the catalog back to its file with mode 0600.
    pub fn save(&self) -> Result<()> {
        let path = self
            .path
            .as_ref()
            .ok_or_else(|| Error::internal("catalog has no file to save to"))?;
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
        }
        let file = CatalogFile {
            datasources: self.entries.clone(),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|e| Error::internal(format!("catalog: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&tmp)
                .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.write_all(b"\n"))
                .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(format!("chmod {}", tmp.display()), e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// The catalog's file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Look a datasource up by name; an unknown name lists the known ones.
    pub fn get(&self, name: &str) -> Result<&Datasource> {
        self.entries.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.entries.keys().map(String::as_str).collect();
            let hint = crate::params::nearest(name, &names)
                .map(|n| format!(" Did you mean \"{n}\"?"))
                .unwrap_or_default();
            Error::config(format!(
                "datasource \"{name}\" is not in the catalog {} (known: {}).{hint} Add it with `ferry datasource add {name} ...`",
                self.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(none)".into()),
                if names.is_empty() { "none".to_string() } else { names.join(", ") },
            ))
        })
    }

    /// Add or replace a datasource.
    pub fn insert(&mut self, name: &str, mut ds: Datasource) -> Result<()> {
        check_name(name)?;
        check_entry(name, &mut ds)?;
        self.entries.insert(name.to_string(), ds);
        Ok(())
    }

    /// Remove a datasource; false if it was not there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Every datasource, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Datasource)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Check an entry against its connector's [`crate::connector::DatasourceKind`], and
/// spell its type the connector's way.
fn check_entry(name: &str, ds: &mut Datasource) -> Result<()> {
    use crate::connector::{self, FieldKind};
    let (connector, kind) = connector::datasource_kind(&ds.kind).ok_or_else(|| {
        let known: Vec<&str> = connector::datasource_kinds().map(|(c, _)| c.name).collect();
        Error::config(format!(
            "datasource \"{name}\": type \"{}\" is not a datasource type (known: {})",
            ds.kind,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })?;
    ds.kind = connector.name.to_string();
    for (key, value) in &ds.fields {
        if key == DESCRIPTION {
            if value.chars().count() > 80 {
                return Err(Error::config(format!(
                    "datasource \"{name}\": description is longer than 80 characters"
                )));
            }
            continue;
        }
        if !kind.fields.iter().any(|f| f.key == key) {
            let mut keys: Vec<&str> = kind.fields.iter().map(|f| f.key).collect();
            keys.push(DESCRIPTION);
            let hint = crate::params::nearest(key, &keys)
                .map(|n| format!(" (did you mean \"{n}\"?)"))
                .unwrap_or_default();
            return Err(Error::config(format!(
                "datasource \"{name}\": a {} datasource has no field \"{key}\"{hint}; valid keys are: {}",
                connector.name,
                keys.join(", ")
            )));
        }
    }
    for f in kind.fields.iter().filter(|f| f.required) {
        if ds.get(f.key).is_none_or(|v| v.trim().is_empty()) {
            return Err(Error::config(format!(
                "datasource \"{name}\": {} is required for a {} datasource",
                f.key, connector.name
            )));
        }
    }
    for f in kind
        .fields
        .iter()
        .filter(|f| f.kind == FieldKind::SecretEnv)
    {
        if let (Some(_), Some(base)) = (ds.get(f.key), f.key.strip_suffix("Env")) {
            if ds.get(base).is_some() {
                return Err(Error::config(format!(
                    "datasource \"{name}\": give {base} or {}, not both",
                    f.key
                )));
            }
        }
    }
    (kind.check)(ds).map_err(|e| e.context(format!("datasource \"{name}\"")))
}

/// The field every datasource may have: free text, at most 80 characters.
pub const DESCRIPTION: &str = "description";

/// Hide `password=` values and `user:pass@` in a URL.
pub fn hide_url_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://") {
        let rest = &out[start + 3..];
        if let Some(at) = rest.find('@') {
            if let Some(colon) = rest[..at].find(':') {
                let a = start + 3 + colon + 1;
                let b = start + 3 + at;
                out.replace_range(a..b, "***");
            }
        }
    }
    let lower = out.to_ascii_lowercase();
    if let Some(p) = lower.find("password=") {
        let from = p + "password=".len();
        let to = out[from..].find('&').map(|i| from + i).unwrap_or(out.len());
        out.replace_range(from..to, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> Datasource {
        crate::connector::install_for_tests();
        Datasource::new("postgresql")
            .with("jdbcUrl", url)
            .with("username", "u")
            .with("password", "secret")
    }

    #[test]
    fn entries_are_checked_against_their_connector() {
        let mut c = Catalog::empty(None);
        let err = c
            .insert("a", pg("jdbc:postgresql://h/db").with("jdbcurl", "x"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no field \"jdbcurl\"") && err.contains("did you mean \"jdbcUrl\""),
            "{err}"
        );
        let err = c
            .insert("a", Datasource::new("mysql"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("type \"mysql\" is not a datasource type (known: postgresql, odps)"),
            "{err}"
        );
        let err = c
            .insert("a", Datasource::new("odps"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("endpoint is required"), "{err}");
        let err = c
            .insert("a", pg("jdbc:postgresql://h/db").with("passwordEnv", "PW"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("give password or passwordEnv, not both"),
            "{err}"
        );
        // an alias of the type is stored as the connector's name
        c.insert(
            "b",
            Datasource::new("GreenPlum").with("url", "postgres://h/db"),
        )
        .unwrap();
        assert_eq!(c.get("b").unwrap().kind(), "postgresql");
        let text = serde_json::to_string(c.get("b").unwrap()).unwrap();
        assert_eq!(text, r#"{"type":"postgresql","url":"postgres://h/db"}"#);
        let back: Datasource = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, c.get("b").unwrap());
        assert!(serde_json::from_str::<Datasource>(r#"{"type":"odps","port":1}"#).is_err());
    }

    #[test]
    fn names_follow_the_seed_rules() {
        assert!(check_name("l_PostGreSql").is_ok());
        assert!(check_name("_x1").is_ok());
        assert!(check_name("1abc").is_err());
        assert!(check_name("a-b").is_err());
        assert!(check_name(&"a".repeat(60)).is_ok());
        assert!(check_name(&"a".repeat(61)).is_err());
    }

    #[test]
    fn mysql_url_for_postgres_is_rejected_with_the_expected_scheme() {
        let mut c = Catalog::empty(None);
        let err = c
            .insert("l_PostGreSql", pg("jdbc:mysql://127.0.0.1:3306/db"))
            .unwrap_err();
        assert!(
            err.to_string().contains("expected jdbc:postgresql://"),
            "{err}"
        );
    }

    #[test]
    fn save_is_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/datasources.json");
        let mut c = Catalog::empty(Some(path.clone()));
        c.insert(
            "l_PostGreSql",
            pg("jdbc:postgresql://127.0.0.1:5432/postgres"),
        )
        .unwrap();
        c.save().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = Catalog::load(&path).unwrap();
        assert_eq!(
            back.get("l_PostGreSql").unwrap(),
            &pg("jdbc:postgresql://127.0.0.1:5432/postgres")
        );
        let err = back.get("l_postgresql").unwrap_err().to_string();
        assert!(err.contains("Did you mean \"l_PostGreSql\""), "{err}");
    }
}
