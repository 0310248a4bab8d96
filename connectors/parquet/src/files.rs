//! Finding the files behind a reader `path`: a file, a folder (recursive) or a glob,
//! with the Hive partition values of the folders between the base and each file.
//!
//! Names starting with `.` or `_` are skipped at every level (temporary files of
//! running writers, `_SUCCESS` markers), as pyarrow and Spark do.

use std::path::{Component, Path, PathBuf};

use ferry_core::{Error, Result};

use crate::error::io_error;
use crate::partition::parse_component;

/// One file to read and the partition values of its folders, outermost first.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// The file.
    pub path: PathBuf,
    /// `(key, value)` per `key=value` folder below the base; `None` = NULL partition.
    pub partitions: Vec<(String, Option<String>)>,
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The files behind each of `paths`, in order, each list sorted by path.
pub fn list_files(paths: &[String]) -> Result<Vec<DataFile>> {
    let mut out = Vec::new();
    for p in paths {
        let found = list_one(p)?;
        out.extend(found);
    }
    Ok(out)
}

fn list_one(p: &str) -> Result<Vec<DataFile>> {
    if has_glob(p) {
        return list_glob(p);
    }
    let path = Path::new(p);
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::config(format!("parquet reader: path {p} does not exist"))
        } else {
            io_error("reading", path, e)
        }
    })?;
    if meta.is_file() {
        return Ok(vec![DataFile {
            path: path.to_path_buf(),
            partitions: Vec::new(),
        }]);
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(Error::config(format!(
            "parquet reader: folder {p} holds no data file (names starting with '.' or '_' are skipped)"
        )));
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let partitions = partitions_between(path, &f);
            DataFile {
                path: f,
                partitions,
            }
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_error("listing", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| io_error("listing", dir, e))?;
        let name = entry.file_name();
        if is_hidden(&name.to_string_lossy()) {
            continue;
        }
        let p = entry.path();
        let ft = std::fs::metadata(&p).map_err(|e| io_error("reading", &p, e))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

fn list_glob(pattern: &str) -> Result<Vec<DataFile>> {
    // The base is the folder part before the first component with a glob character.
    let mut base = PathBuf::new();
    for c in Path::new(pattern).components() {
        if has_glob(&c.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(c.as_os_str());
    }
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(pattern, opts)
        .map_err(|e| Error::config(format!("parquet reader: bad glob {pattern}: {e}")))?;
    let mut files = Vec::new();
    for entry in paths {
        let f = entry.map_err(|e| {
            Error::io(
                format!("parquet reader: listing {pattern}"),
                std::io::Error::from(e),
            )
        })?;
        if !f.is_file() {
            continue;
        }
        let hidden = f
            .strip_prefix(&base)
            .unwrap_or(&f)
            .components()
            .any(|c| matches!(c, Component::Normal(n) if is_hidden(&n.to_string_lossy())));
        if !hidden {
            files.push(f);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::config(format!(
            "parquet reader: glob {pattern} matches no file"
        )));
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let partitions = partitions_between(&base, &f);
            DataFile {
                path: f,
                partitions,
            }
        })
        .collect())
}

/// Partition values of the folders between `base` and `file`.
fn partitions_between(base: &Path, file: &Path) -> Vec<(String, Option<String>)> {
    let rel = file.strip_prefix(base).unwrap_or(file);
    let mut comps: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    comps.pop(); // the file itself
    comps.iter().filter_map(|c| parse_component(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_globs_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "pt=1/a.parquet",
            "pt=2/b.parquet",
            "pt=2/.ferry-tmp-x.parquet",
            "_SUCCESS",
            ".hidden/c.parquet",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let files = list_files(&[d.to_string_lossy().into_owned()]).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(
            files[1].partitions,
            vec![("pt".to_string(), Some("2".to_string()))]
        );
        let g = format!("{}/pt=*/*.parquet", d.display());
        let files = list_files(&[g]).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(
            files[0].partitions,
            vec![("pt".to_string(), Some("1".to_string()))]
        );
        let err = list_files(&[format!("{}/nope", d.display())]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = list_files(&[format!("{}/*.csv", d.display())]).unwrap_err();
        assert!(err.to_string().contains("matches no file"), "{err}");
    }
}
