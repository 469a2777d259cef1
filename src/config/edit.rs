//! Writing deploy.toml with `toml_edit`, so the user's comments, key order, formatting and unknown
//! keys survive every edit.
//!
//! Rules the writer keeps:
//! - A value equal to the one already written is not touched (its quoting, spacing and trailing
//!   comment stay), so the same inputs twice leave the file byte-identical.
//! - A changed value keeps the decor (spacing and trailing comment) of the value it replaces.
//! - A key or table the writer adds gets a `# description` line above it.
//! - A sub-table the writer adds sits right after its parent (`[auth.entra]` after `[auth]`,
//!   before `[auth.dcr]`), not at the end of the file.
//! - A file that does not parse is never written: [`DeployToml::open`] fails first.
//! - [`DeployToml::write`] writes atomically and only when the text changed.

use super::{LoadError, line_col};
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// The commented template a fresh deploy.toml starts from.
pub const TEMPLATE: &str = include_str!("../../templates/deploy.toml");

/// deploy.toml as an editable document.
#[derive(Debug, Clone)]
pub struct DeployToml {
    path: PathBuf,
    /// The file's text exactly as read (BOM and line endings included): what `write` checks is
    /// still on disk before replacing it.
    original: Option<String>,
    doc: DocumentMut,
    /// How many UTF-8 byte order marks the file starts with (one, normally): written back as found.
    boms: usize,
    /// The file's lines end in CRLF: it is written back that way.
    crlf: bool,
    /// The file ends with a line ending (toml_edit always adds one): one without stays without.
    final_newline: bool,
    /// The rendering of the document as read: [`DeployToml::is_changed`] compares with it, so a
    /// document no edit changed is never written, whatever the renderer would normalise (mixed
    /// line endings, say).
    baseline: Option<String>,
}

/// The UTF-8 byte order mark some Windows editors put first.
const BOM: char = '\u{feff}';

/// Where writing `path` lands: the file a symlink points to (so the link stays a link), else
/// `path` itself. A link to nothing is an error rather than a file replacing the link.
fn write_target(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{} is a symlink to a file that cannot be reached ({e})",
                    path.display()
                ),
            )
        }),
        _ => Ok(path.to_path_buf()),
    }
}

/// Editing failed because the document's shape is not what the key path expects
/// (e.g. `auth = "x"` where a table is needed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: `{key}` is not a table, so `{wanted}` cannot be written under it")]
pub struct ShapeError {
    /// The file.
    pub path: String,
    /// The dotted key that is not a table.
    pub key: String,
    /// The dotted key that was to be written.
    pub wanted: String,
}

impl DeployToml {
    /// Open `path` for editing, or start from [`TEMPLATE`] when it does not exist. Text that does
    /// not parse is an error with line and column; nothing is written in that case.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        match super::read_if_exists(path)? {
            Some(text) => Self::from_text(path, text),
            None => Ok(Self::template(path)),
        }
    }

    /// Edit existing text (the file at `path`). A BOM and CRLF line endings are kept as found.
    pub fn from_text(path: &Path, text: String) -> Result<Self, LoadError> {
        let body = text.trim_start_matches(BOM);
        let boms = (text.len() - body.len()) / BOM.len_utf8();
        // The file's convention is its first line ending's.
        let crlf = body.find('\n').is_some_and(|i| body[..i].ends_with('\r'));
        let doc: DocumentMut = body.parse().map_err(|e: toml_edit::TomlError| {
            let (line, column) = e.span().map(|s| line_col(body, s.start)).unwrap_or((1, 1));
            LoadError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let final_newline = body.is_empty() || body.ends_with('\n');
        let mut d = Self {
            path: path.to_path_buf(),
            original: Some(text),
            doc,
            boms,
            crlf,
            final_newline,
            baseline: None,
        };
        d.baseline = Some(d.render());
        Ok(d)
    }

    /// A new document from the template, to be written to `path`.
    pub fn template(path: &Path) -> Self {
        let doc = TEMPLATE
            .parse()
            .expect("templates/deploy.toml is valid TOML (checked by a unit test)");
        Self {
            path: path.to_path_buf(),
            original: None,
            doc,
            boms: 0,
            crlf: false,
            final_newline: true,
            baseline: None,
        }
    }

    /// True when the file did not exist.
    pub fn is_new(&self) -> bool {
        self.original.is_none()
    }

    /// The document as it would be written: with the file's BOM and line endings.
    pub fn render(&self) -> String {
        let text = self.doc.to_string();
        let mut out = String::with_capacity(text.len() + 64);
        out.extend(std::iter::repeat_n(BOM, self.boms));
        let mut text = text.as_str();
        if !self.final_newline {
            text = text.strip_suffix('\n').unwrap_or(text);
            text = text.strip_suffix('\r').unwrap_or(text);
        }
        if self.crlf {
            out.push_str(&text.replace("\r\n", "\n").replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out
    }

    /// True when an edit changed the document (always true for a new file). An unchanged
    /// document is never written, so the file keeps its bytes.
    pub fn is_changed(&self) -> bool {
        match (&self.original, &self.baseline) {
            (Some(original), Some(baseline)) => {
                let now = self.render();
                now != *baseline && now != *original
            }
            _ => true,
        }
    }

    /// Write atomically when the text changed. Returns whether anything was written.
    ///
    /// - A symlinked deploy.toml stays a symlink: the file it points to is rewritten.
    /// - Just before the new file replaces the old one, the old one is read again: if it is no
    ///   longer the text this document was opened from (someone edited it meanwhile, or created
    ///   it), nothing is written and the error says so, rather than losing that edit.
    pub fn write(&self) -> std::io::Result<bool> {
        if !self.is_changed() {
            return Ok(false);
        }
        let target = write_target(&self.path)?;
        let rendered = self.render();
        crate::ui::write_atomic_with(&target, |f| {
            use std::io::Write;
            f.write_all(rendered.as_bytes())?;
            let now = match super::read_deploy_toml(&target) {
                Ok(t) => t,
                Err(e) => Some(format!("unreadable: {e}")),
            };
            if now != self.original {
                return Err(std::io::Error::other(format!(
                    "{} changed while this command ran; nothing was written (run it again)",
                    self.path.display()
                )));
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// The value at `keys`, when it is a string.
    pub fn get_str(&self, keys: &[&str]) -> Option<&str> {
        self.get(keys)?.as_str()
    }

    /// The item at `keys`.
    pub fn get(&self, keys: &[&str]) -> Option<&Item> {
        let mut item = self.doc.as_item();
        for k in keys {
            item = item.as_table_like()?.get(k)?;
        }
        Some(item)
    }

    /// Set `keys` (the last one is the key, the others its tables) to `value`. Missing tables are
    /// created (each with `table_comment` lines for the table itself, when it is the last one);
    /// a missing key is added with `comment` above it. Returns true when the document changed.
    pub fn set(
        &mut self,
        keys: &[&str],
        value: impl Into<Value>,
        comment: &str,
    ) -> Result<bool, ShapeError> {
        let value = value.into();
        let (key, tables) = keys.split_last().expect("a key path is never empty");
        let table = self.table_mut(tables, "")?;
        match table.get_mut(key) {
            Some(item) => match item {
                Item::Value(old) => {
                    if same(old, &value) {
                        return Ok(false);
                    }
                    let decor = old.decor().clone();
                    *old = value;
                    *old.decor_mut() = decor;
                    Ok(true)
                }
                _ => Err(self.shape_error(keys, keys)),
            },
            None => {
                table.insert(key, Item::Value(value));
                if !comment.is_empty()
                    && let Some(mut k) = table.key_mut(key)
                {
                    k.leaf_decor_mut().set_prefix(comment_lines(comment));
                }
                Ok(true)
            }
        }
    }

    /// Add `keys` = `value` only when the key is absent (a user's value always wins).
    pub fn set_if_absent(
        &mut self,
        keys: &[&str],
        value: impl Into<Value>,
        comment: &str,
    ) -> Result<bool, ShapeError> {
        if self.get(keys).is_some() {
            return Ok(false);
        }
        self.set(keys, value, comment)
    }

    /// Update `keys` when it is present; add it only when `add` is true. Used for the
    /// "written only when set" keys: a key the user has keeps being updated, a default is not added.
    pub fn update_or_add(
        &mut self,
        keys: &[&str],
        value: impl Into<Value>,
        add: bool,
        comment: &str,
    ) -> Result<bool, ShapeError> {
        if add || self.get(keys).is_some() {
            self.set(keys, value, comment)
        } else {
            Ok(false)
        }
    }

    /// Make sure the table at `keys` exists; a new one gets `comment` lines above its header.
    pub fn ensure_table(&mut self, keys: &[&str], comment: &str) -> Result<bool, ShapeError> {
        let existed = self.get(keys).is_some();
        self.table_mut(keys, comment)?;
        Ok(!existed)
    }

    /// The table at `keys`, creating missing ones. Works through inline tables too.
    fn table_mut(
        &mut self,
        keys: &[&str],
        comment: &str,
    ) -> Result<&mut dyn toml_edit::TableLike, ShapeError> {
        // First pass: create what is missing, positioning each new table right after its parent.
        for depth in 1..=keys.len() {
            let (parent_keys, key) = (&keys[..depth - 1], keys[depth - 1]);
            let parent_pos = self.table_position(parent_keys);
            let shape = self.shape_error(&keys[..depth], keys);
            let parent = self.table_like_mut(parent_keys).ok_or(shape.clone())?;
            if parent.get(key).is_none() {
                let mut t = Table::new();
                if depth > 1 {
                    t.set_position(parent_pos);
                }
                if depth == keys.len() && !comment.is_empty() {
                    t.decor_mut()
                        .set_prefix(format!("\n{}", comment_lines(comment)));
                } else {
                    t.decor_mut().set_prefix("\n");
                }
                parent.insert(key, Item::Table(t));
            } else if parent.get(key).and_then(|i| i.as_table_like()).is_none() {
                return Err(shape);
            }
        }
        let shape = self.shape_error(keys, keys);
        self.table_like_mut(keys).ok_or(shape)
    }

    fn table_like_mut(&mut self, keys: &[&str]) -> Option<&mut dyn toml_edit::TableLike> {
        let mut item = self.doc.as_item_mut();
        for k in keys {
            item = item.as_table_like_mut()?.get_mut(k)?;
        }
        item.as_table_like_mut()
    }

    fn table_position(&self, keys: &[&str]) -> Option<isize> {
        if keys.is_empty() {
            return None;
        }
        self.get(keys)?.as_table()?.position()
    }

    fn shape_error(&self, at: &[&str], wanted: &[&str]) -> ShapeError {
        ShapeError {
            path: self.path.display().to_string(),
            key: at.join("."),
            wanted: wanted.join("."),
        }
    }
}

/// `# line` for each line of `comment`, each ending in a newline.
fn comment_lines(comment: &str) -> String {
    comment.lines().map(|l| format!("# {l}\n")).collect()
}

/// An array of strings in the default one-line form.
pub fn string_array<S: AsRef<str>>(items: &[S]) -> Array {
    items.iter().map(|s| s.as_ref()).collect()
}

/// Two values are the same setting (ignoring formatting).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_and_crlf_are_kept_and_an_unchanged_document_is_unchanged() {
        let raw = "\u{feff}# mine\r\n[server]\r\nname = \"weather\"\r\n";
        let mut d = DeployToml::from_text(Path::new("d.toml"), raw.to_string()).unwrap();
        assert!(!d.is_changed(), "{:?}", d.render());
        assert!(
            crate::config::parse(Path::new("d.toml"), raw).is_ok(),
            "the reader takes a BOM"
        );
        d.set(&["server", "memory_mb"], 256, "Memory").unwrap();
        let out = d.render();
        assert!(out.starts_with('\u{feff}'), "{out:?}");
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        assert!(out.contains("memory_mb = 256\r\n"), "{out:?}");
    }

    #[test]
    fn a_file_without_a_final_newline_stays_without() {
        // Found by fuzz/fuzz_targets/deploy_toml.rs: toml_edit adds a final newline, so an
        // identical re-run of init reported such a file "updated".
        for raw in [
            "[server]\nname = \"w\"",
            "a = \"w\u{feff}x\"",
            "a = 1\r\nb = 2",
            "\u{feff}\u{feff}[t]\r\na = 1\r\n",
            "\u{feff}[t]\t\na = 1\r\nb = 2\r\n",
        ] {
            let d = DeployToml::from_text(Path::new("d.toml"), raw.to_string()).unwrap();
            assert!(!d.is_changed(), "{raw:?} -> {:?}", d.render());
        }
    }

    #[test]
    fn an_edit_made_meanwhile_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.toml");
        std::fs::write(&path, "[server]\nname = \"a\"\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut d = DeployToml::from_text(&path, text).unwrap();
        d.set(&["server", "name"], "b", "").unwrap();
        // Someone saves the file while init runs.
        std::fs::write(&path, "[server]\nname = \"edited\"\n").unwrap();
        let e = d.write().unwrap_err();
        assert!(e.to_string().contains("changed while"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[server]\nname = \"edited\"\n"
        );
        // A file created meanwhile where there was none is not replaced either.
        let fresh = dir.path().join("new.toml");
        let t = DeployToml::template(&fresh);
        std::fs::write(&fresh, "# created meanwhile\n").unwrap();
        assert!(t.write().is_err());
        assert_eq!(
            std::fs::read_to_string(&fresh).unwrap(),
            "# created meanwhile\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temp file left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_written_through_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        let link = dir.path().join("deploy.toml");
        std::fs::write(&real, "[server]\nname = \"a\"\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let text = std::fs::read_to_string(&link).unwrap();
        let mut d = DeployToml::from_text(&link, text).unwrap();
        d.set(&["server", "name"], "b", "").unwrap();
        assert!(d.write().unwrap());
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "[server]\nname = \"b\"\n"
        );
    }

    fn doc(text: &str) -> DeployToml {
        DeployToml::from_text(Path::new(".pmcp/deploy.toml"), text.to_string()).unwrap()
    }

    #[test]
    fn template_parses_into_the_typed_model() {
        let c = super::super::parse(Path::new("t"), TEMPLATE).unwrap();
        assert!(c.auth.enabled);
        assert!(super::super::unknown_keys(Path::new("t"), TEMPLATE).is_empty());
    }

    #[test]
    fn same_value_keeps_formatting_and_trailing_comment() {
        let text = "[auth]\ntenant_id   =   'abc'   # from the portal\n";
        let mut d = doc(text);
        assert!(!d.set(&["auth", "tenant_id"], "abc", "x").unwrap());
        assert_eq!(d.render(), text);
        assert!(!d.is_changed());
    }

    #[test]
    fn changed_value_keeps_its_trailing_comment() {
        let mut d = doc("[auth]\ntenant_id = \"old\" # from the portal\n");
        assert!(d.set(&["auth", "tenant_id"], "new", "x").unwrap());
        assert_eq!(
            d.render(),
            "[auth]\ntenant_id = \"new\" # from the portal\n"
        );
    }

    #[test]
    fn new_key_gets_a_comment_and_goes_last_in_its_table() {
        let mut d = doc("[auth]\nenabled = true\n\n[auth.dcr]\nenabled = true\n");
        d.set(&["auth", "client_id"], "c", "Application (client) id")
            .unwrap();
        assert_eq!(
            d.render(),
            "[auth]\nenabled = true\n# Application (client) id\nclient_id = \"c\"\n\n[auth.dcr]\nenabled = true\n"
        );
    }

    #[test]
    fn new_sub_table_sits_after_its_parent() {
        let mut d = doc("[auth]\nenabled = true\n\n[auth.dcr]\nenabled = true\n\n[secrets]\n");
        d.set(&["auth", "entra", "multi_tenant"], true, "").unwrap();
        assert_eq!(
            d.render(),
            "[auth]\nenabled = true\n\n[auth.entra]\nmulti_tenant = true\n\n[auth.dcr]\nenabled = true\n\n[secrets]\n"
        );
    }

    #[test]
    fn new_top_level_table_goes_at_the_end() {
        let mut d = doc("# mine\n[server]\nname = \"x\"\n");
        d.ensure_table(&["target"], "Where the server runs")
            .unwrap();
        d.set(&["target", "type"], "local", "").unwrap();
        assert_eq!(
            d.render(),
            "# mine\n[server]\nname = \"x\"\n\n# Where the server runs\n[target]\ntype = \"local\"\n"
        );
    }

    #[test]
    fn inline_tables_are_edited_in_place() {
        let mut d = doc("auth = { enabled = true, tenant_id = \"a\" }\n");
        d.set(&["auth", "tenant_id"], "b", "").unwrap();
        assert_eq!(d.render(), "auth = { enabled = true, tenant_id = \"b\" }\n");
    }

    #[test]
    fn a_value_where_a_table_is_needed_is_a_shape_error() {
        let mut d = doc("auth = \"x\"\n");
        let e = d.set(&["auth", "tenant_id"], "b", "").unwrap_err();
        assert_eq!(e.key, "auth");
    }

    #[test]
    fn unparseable_text_is_refused_with_a_position() {
        let e =
            DeployToml::from_text(Path::new(".pmcp/deploy.toml"), "[auth\n".into()).unwrap_err();
        match e {
            LoadError::Parse { line, .. } => assert_eq!(line, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_or_add_only_adds_when_asked() {
        let mut d = doc("[auth.entra]\nauthority_host = \"https://login.microsoftonline.us\"\n");
        assert!(
            !d.update_or_add(&["auth", "entra", "multi_tenant"], false, false, "")
                .unwrap()
        );
        assert!(
            d.update_or_add(
                &["auth", "entra", "authority_host"],
                "https://login.chinacloudapi.cn",
                false,
                ""
            )
            .unwrap()
        );
        assert!(d.render().contains("chinacloudapi"));
    }

    #[test]
    fn set_if_absent_keeps_the_users_value() {
        let mut d = doc("[auth.dcr]\ndefault_scopes = [\"openid\"]\n");
        let v = string_array(&["openid", "email"]);
        assert!(
            !d.set_if_absent(&["auth", "dcr", "default_scopes"], v, "")
                .unwrap()
        );
    }
}
