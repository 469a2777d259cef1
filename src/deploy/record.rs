//! `.pmcp/deployment.toml`: what was deployed where (one table per target). Written with
//! `toml_edit`, so comments a user added survive, and atomically; a file that cannot be parsed is
//! never overwritten.

use crate::config::TargetKind;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, value};

/// Where the record lives, relative to the project root.
pub const DEPLOYMENT_TOML: &str = ".pmcp/deployment.toml";

const HEADER: &str = "# What `cargo pmcp deploy` deployed where, one table per target.\n# Written by cargo pmcp; safe to delete (it holds no secrets).\n";

/// One target's last deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The target's deployment id, when it has one.
    pub deployment_id: Option<String>,
    /// The MCP endpoint.
    pub url: String,
    /// The health endpoint.
    pub health_url: Option<String>,
    /// SHA-256 of the deployed zip.
    pub artifact_sha256: String,
    /// UTC, RFC 3339.
    pub deployed_at: String,
}

/// The record file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid TOML ({message}); fix or delete it (it only records past deployments)", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn load_doc(path: &Path) -> Result<DocumentMut, RecordError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<DocumentMut>().map_err(|e| RecordError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DocumentMut::new()),
        Err(source) => Err(RecordError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn save(path: &Path, doc: &DocumentMut) -> Result<(), RecordError> {
    let mut text = doc.to_string();
    if !path.exists() {
        // A new file starts with what it is; later writes keep it (it is the first table's decor).
        text.insert_str(0, HEADER);
    }
    crate::ui::write_atomic(path, text.as_bytes()).map_err(|source| RecordError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Record `rec` as `target`'s deployment in `project_dir/.pmcp/deployment.toml`.
pub fn write(project_dir: &Path, target: TargetKind, rec: &Record) -> Result<(), RecordError> {
    let path = project_dir.join(DEPLOYMENT_TOML);
    let mut doc = load_doc(&path)?;
    let key = target.as_str();
    if !doc.contains_table(key) {
        doc.insert(key, Item::Table(Table::new()));
    }
    let t = doc[key].as_table_mut().ok_or_else(|| RecordError::Parse {
        path: path.clone(),
        message: format!("`{key}` is not a table"),
    })?;
    match &rec.deployment_id {
        Some(id) => t["deployment_id"] = value(id.as_str()),
        None => {
            t.remove("deployment_id");
        }
    }
    t["url"] = value(rec.url.as_str());
    match &rec.health_url {
        Some(h) => t["health_url"] = value(h.as_str()),
        None => {
            t.remove("health_url");
        }
    }
    t["artifact_sha256"] = value(rec.artifact_sha256.as_str());
    t["deployed_at"] = value(rec.deployed_at.as_str());
    save(&path, &doc)
}

/// `target`'s recorded deployment, if any.
pub fn read(project_dir: &Path, target: TargetKind) -> Result<Option<Record>, RecordError> {
    let path = project_dir.join(DEPLOYMENT_TOML);
    if !path.exists() {
        return Ok(None);
    }
    let doc = load_doc(&path)?;
    let Some(t) = doc.get(target.as_str()).and_then(Item::as_table) else {
        return Ok(None);
    };
    let s = |k: &str| t.get(k).and_then(Item::as_str).map(String::from);
    Ok(Some(Record {
        deployment_id: s("deployment_id"),
        url: s("url").unwrap_or_default(),
        health_url: s("health_url"),
        artifact_sha256: s("artifact_sha256").unwrap_or_default(),
        deployed_at: s("deployed_at").unwrap_or_default(),
    }))
}

/// Forget `target`'s deployment. Returns whether there was one.
pub fn remove(project_dir: &Path, target: TargetKind) -> Result<bool, RecordError> {
    let path = project_dir.join(DEPLOYMENT_TOML);
    if !path.exists() {
        return Ok(false);
    }
    let mut doc = load_doc(&path)?;
    let had = doc.remove(target.as_str()).is_some();
    if had {
        // Nothing left but our header: remove the file rather than leave an empty record.
        let rest = doc.to_string();
        let only_header = doc.is_empty()
            && rest
                .lines()
                .all(|l| l.trim().is_empty() || HEADER.lines().any(|h| h == l.trim()));
        if only_header {
            return std::fs::remove_file(&path)
                .map(|()| true)
                .map_err(|source| RecordError::Write { path, source });
        }
        save(&path, &doc)?;
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(DEPLOYMENT_TOML);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "# mine\n[local]\n# note\nurl = \"old\"\n").unwrap();
        let rec = Record {
            deployment_id: Some("d-1".into()),
            url: "https://x/mcp".into(),
            health_url: None,
            artifact_sha256: "ab".into(),
            deployed_at: "2026-01-01T00:00:00Z".into(),
        };
        write(dir.path(), TargetKind::PmcpRun, &rec).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# mine") && text.contains("# note"), "{text}");
        assert_eq!(read(dir.path(), TargetKind::PmcpRun).unwrap(), Some(rec));
        assert!(remove(dir.path(), TargetKind::PmcpRun).unwrap());
        assert_eq!(read(dir.path(), TargetKind::PmcpRun).unwrap(), None);
        assert!(read(dir.path(), TargetKind::Local).unwrap().is_some());
    }

    #[test]
    fn removing_the_last_target_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(DEPLOYMENT_TOML);
        write(dir.path(), TargetKind::Local, &Record::default()).unwrap();
        assert!(p.exists());
        assert!(remove(dir.path(), TargetKind::Local).unwrap());
        assert!(!p.exists(), "an empty record was left behind");
        // A file with the user's own keys stays.
        std::fs::write(&p, "mine = 1\n[local]\nurl = \"x\"\n").unwrap();
        assert!(remove(dir.path(), TargetKind::Local).unwrap());
        assert!(p.exists());
    }

    #[test]
    fn unparsable_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(DEPLOYMENT_TOML);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "[broken\n").unwrap();
        let err = write(dir.path(), TargetKind::Local, &Record::default()).unwrap_err();
        assert!(matches!(err, RecordError::Parse { .. }));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[broken\n");
    }
}
