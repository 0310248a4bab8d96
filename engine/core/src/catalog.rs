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

/// A PostgreSQL (HybridDB / AnalyticDB for PostgreSQL / Greenplum) datasource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresSource {
    /// Free text, at most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `jdbc:postgresql://host:port/db?...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jdbc_url: Option<String>,
    /// `postgres://user@host:port/db?...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password in clear (the file is 0600); prefer `passwordEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// A MaxCompute (ODPS) datasource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OdpsSource {
    /// Free text, at most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// REST endpoint, e.g. `http://service.cn-hangzhou.maxcompute.aliyun.com/api`.
    pub endpoint: String,
    /// Tunnel endpoint; discovered from the REST endpoint when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_endpoint: Option<String>,
    /// Project name.
    pub project: String,
    /// AccessKey id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_id: Option<String>,
    /// AccessKey secret in clear (the file is 0600); prefer `accessKeyEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// Name of an environment variable holding the AccessKey secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_env: Option<String>,
}

/// One named datasource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Datasource {
    /// PostgreSQL family.
    #[serde(
        alias = "postgres",
        alias = "hybriddb",
        alias = "adbpg",
        alias = "greenplum"
    )]
    Postgresql(PostgresSource),
    /// MaxCompute.
    #[serde(alias = "maxcompute")]
    Odps(OdpsSource),
}

impl Datasource {
    /// `postgresql` or `odps`.
    pub fn kind(&self) -> &'static str {
        match self {
            Datasource::Postgresql(_) => "postgresql",
            Datasource::Odps(_) => "odps",
        }
    }
}

impl PostgresSource {
    /// The password: inline, else from `passwordEnv`, else none.
    pub fn resolve_password(&self) -> Result<Option<String>> {
        resolve_secret(
            self.password.as_deref(),
            self.password_env.as_deref(),
            "passwordEnv",
        )
    }
}

impl OdpsSource {
    /// The AccessKey secret: inline, else from `accessKeyEnv`, else none.
    pub fn resolve_access_key(&self) -> Result<Option<String>> {
        resolve_secret(
            self.access_key.as_deref(),
            self.access_key_env.as_deref(),
            "accessKeyEnv",
        )
    }
}

fn resolve_secret(inline: Option<&str>, env: Option<&str>, what: &str) -> Result<Option<String>> {
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
        for (name, ds) in &file.datasources {
            check_name(name).map_err(|e| e.context(path.display()))?;
            check_entry(name, ds).map_err(|e| e.context(path.display()))?;
        }
        Ok(Catalog {
            path: Some(path.to_path_buf()),
            entries: file.datasources,
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
    pub fn insert(&mut self, name: &str, ds: Datasource) -> Result<()> {
        check_name(name)?;
        check_entry(name, &ds)?;
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

fn check_entry(name: &str, ds: &Datasource) -> Result<()> {
    let desc = match ds {
        Datasource::Postgresql(p) => p.description.as_deref(),
        Datasource::Odps(o) => o.description.as_deref(),
    };
    if desc.is_some_and(|d| d.chars().count() > 80) {
        return Err(Error::config(format!(
            "datasource \"{name}\": description is longer than 80 characters"
        )));
    }
    match ds {
        Datasource::Postgresql(p) => {
            let url = p.jdbc_url.as_deref().or(p.url.as_deref()).ok_or_else(|| {
                Error::config(format!("datasource \"{name}\": give jdbcUrl or url"))
            })?;
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("jdbc:postgresql://")
                || lower.starts_with("postgres://")
                || lower.starts_with("postgresql://"))
            {
                let scheme = lower.split("//").next().unwrap_or("");
                return Err(Error::config(format!(
                    "datasource \"{name}\": URL scheme \"{scheme}//\" does not match a PostgreSQL datasource; expected jdbc:postgresql://host:port/database or postgres://"
                )));
            }
        }
        Datasource::Odps(o) => {
            let lower = o.endpoint.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(Error::config(format!(
                    "datasource \"{name}\": endpoint must start with http:// or https://"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> Datasource {
        Datasource::Postgresql(PostgresSource {
            jdbc_url: Some(url.into()),
            username: Some("u".into()),
            password: Some("secret".into()),
            ..Default::default()
        })
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
