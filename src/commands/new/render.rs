//! Turning an example crate into a user's crate: the package name rules, the Cargo.toml rewrite
//! (name, description, the dependencies the example takes from this repository's workspace or
//! by a relative path) and the crate name in the Rust sources.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use toml_edit::{Array, DocumentMut, InlineTable, Item, TableLike, Value};

/// The workspace manifest the examples inherit from (`x.workspace = true`).
pub const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// Rust keywords, strict and reserved (a crate named after one cannot be `use`d).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// The crates every Rust program can name without a dependency.
const BUILTIN_CRATES: &[&str] = &["std", "core", "alloc", "proc_macro", "test"];

/// Names cargo's build directory uses for its own subdirectories (a binary named so would land
/// on top of one).
const CARGO_DIR_NAMES: &[&str] = &["deps", "examples", "build", "incremental"];

/// File names Windows reserves in every directory.
const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The crate name Rust code uses for package `name`.
pub fn lib_ident(name: &str) -> String {
    name.replace('-', "_")
}

/// Why `name` cannot be the new package's name (the rules of `cargo new`, ASCII only as on
/// crates.io), or `None`. `taken` are the crate names the template already depends on.
pub fn name_problem(name: &str, taken: &[String]) -> Option<String> {
    let ident = lib_ident(name);
    let Some(first) = name.chars().next() else {
        return Some("it is empty".into());
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "`{c}` is not allowed (only ASCII letters, digits, `-` and `_`)"
        ));
    }
    if first.is_ascii_digit() {
        return Some("it starts with a digit".into());
    }
    if first == '-' {
        return Some("it starts with `-`".into());
    }
    if name.len() > 64 {
        return Some(format!("it is {} characters long (at most 64)", name.len()));
    }
    if ident.chars().all(|c| c == '_') {
        return Some("it has no letter or digit".into());
    }
    if KEYWORDS.contains(&ident.as_str()) {
        return Some(format!("`{ident}` is a Rust keyword"));
    }
    if BUILTIN_CRATES.contains(&ident.as_str()) || name == "proc-macro" {
        return Some(format!("it is the name of Rust's built-in `{ident}` crate"));
    }
    if CARGO_DIR_NAMES.contains(&name) {
        return Some(format!("cargo's build directory has a `{name}` directory"));
    }
    if WINDOWS_RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Some(format!("`{name}` is a reserved file name on Windows"));
    }
    if taken.contains(&ident) {
        return Some(format!(
            "the server depends on the crate `{ident}`, and the two names would clash in `use`"
        ));
    }
    None
}

/// Replace `from` with `to` wherever it stands as a whole word: the characters on either side are
/// not `word` characters. The crate name in `use rmcp_example_server::…` is replaced; a longer
/// identifier that merely contains it is not.
pub fn replace_word(text: &str, from: &str, to: &str, word: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(from) {
        let prev = rest[..at].chars().next_back().or(before);
        let next = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if prev.is_some_and(&word) || next.is_some_and(&word) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        before = from.chars().next_back();
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Identifier characters of Rust.
pub fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Package name characters.
pub fn package_char(c: char) -> bool {
    ident_char(c) || c == '-'
}

/// A Rust source (or any text) of the template with the crate renamed.
pub fn rename_in_text(text: &str, old_name: &str, new_name: &str) -> String {
    let text = replace_word(text, &lib_ident(old_name), &lib_ident(new_name), ident_char);
    replace_word(&text, old_name, new_name, package_char)
}

/// What the template's Cargo.toml becomes.
pub struct Manifest {
    /// The rewritten Cargo.toml.
    pub text: String,
    /// The template's own package name.
    pub old_name: String,
}

/// An error in the template itself (a bug of this build, not of the user's input).
#[derive(Debug, thiserror::Error)]
#[error("the template's Cargo.toml: {0}")]
pub struct TemplateError(pub String);

/// The template's package name and the crate names it depends on (for [`name_problem`]).
pub fn template_names(template: &str) -> Result<(String, Vec<String>), TemplateError> {
    let doc: DocumentMut = template
        .parse()
        .map_err(|e| TemplateError(format!("does not parse: {e}")))?;
    let name = doc["package"]["name"]
        .as_str()
        .ok_or_else(|| TemplateError("no package.name".into()))?
        .to_string();
    let mut deps = Vec::new();
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(key).and_then(Item::as_table_like) {
            deps.extend(t.iter().map(|(k, _)| lib_ident(k)));
        }
    }
    Ok((name, deps))
}

/// Rewrite the example's manifest for package `new_name`.
///
/// - `[package]`: the name, a description of its own, `publish = false` (a path dependency cannot
///   be published); the repository's license and other metadata are dropped (the user's crate
///   picks its own); `x.workspace = true` keys take the workspace's value.
/// - `[lib]`/`[[bin]]` named after the example are renamed.
/// - Every dependency inherited from the workspace (`workspace = true`) is written out in full
///   (version, features); every path dependency (relative to the example, like
///   `../../crates/pmcp-auth`) is given the absolute directory `crate_dir` resolves its
///   repository-relative path to.
pub fn render_manifest(
    template: &str,
    example_dir: &str,
    new_name: &str,
    description: &str,
    crate_dir: &dyn Fn(&str) -> Result<PathBuf, String>,
) -> Result<Manifest, TemplateError> {
    let mut doc: DocumentMut = template
        .parse()
        .map_err(|e| TemplateError(format!("does not parse: {e}")))?;
    let ws: DocumentMut = WORKSPACE_MANIFEST
        .parse()
        .map_err(|e| TemplateError(format!("the workspace manifest does not parse: {e}")))?;
    let old_name = doc["package"]["name"]
        .as_str()
        .ok_or_else(|| TemplateError("no package.name".into()))?
        .to_string();

    let package = doc["package"]
        .as_table_like_mut()
        .ok_or_else(|| TemplateError("no [package]".into()))?;
    let inherited: Vec<String> = package
        .iter()
        .filter(|(_, v)| is_workspace_true(v))
        .map(|(k, _)| k.to_string())
        .collect();
    for key in inherited {
        match ws["workspace"]["package"].get(&key) {
            Some(v) if v.is_value() => {
                package.insert(&key, v.clone());
            }
            _ => {
                package.remove(&key);
            }
        }
    }
    for key in [
        "license",
        "license-file",
        "repository",
        "homepage",
        "documentation",
        "authors",
        "keywords",
        "categories",
        "readme",
    ] {
        package.remove(key);
    }
    package.insert("name", toml_edit::value(new_name));
    package.insert("description", toml_edit::value(description));
    package.insert("publish", toml_edit::value(false));

    if let Some(lib) = doc.get_mut("lib").and_then(Item::as_table_like_mut)
        && lib.get("name").and_then(Item::as_str) == Some(&lib_ident(&old_name))
    {
        lib.insert("name", toml_edit::value(lib_ident(new_name)));
    }
    if let Some(bins) = doc.get_mut("bin").and_then(Item::as_array_of_tables_mut) {
        for bin in bins.iter_mut() {
            if bin.get("name").and_then(Item::as_str) == Some(&old_name) {
                bin.insert("name", toml_edit::value(new_name));
            }
        }
    }

    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = doc.get_mut(key).and_then(Item::as_table_like_mut) {
            fix_deps(t, &ws, example_dir, crate_dir)?;
        }
    }
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, target) in targets.iter_mut() {
            for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(t) = target.get_mut(key).and_then(Item::as_table_like_mut) {
                    fix_deps(t, &ws, example_dir, crate_dir)?;
                }
            }
        }
    }
    if doc.get("lints").is_some_and(is_workspace_true) {
        match ws["workspace"].get("lints") {
            Some(l) => doc["lints"] = l.clone(),
            None => {
                doc.remove("lints");
            }
        }
    }
    Ok(Manifest {
        text: doc.to_string(),
        old_name,
    })
}

fn is_workspace_true(item: &Item) -> bool {
    item.as_table_like()
        .and_then(|t| t.get("workspace"))
        .and_then(Item::as_bool)
        == Some(true)
}

/// Write out inherited dependencies and make path dependencies absolute.
fn fix_deps(
    deps: &mut dyn TableLike,
    ws: &DocumentMut,
    example_dir: &str,
    crate_dir: &dyn Fn(&str) -> Result<PathBuf, String>,
) -> Result<(), TemplateError> {
    let names: Vec<String> = deps.iter().map(|(k, _)| k.to_string()).collect();
    for name in names {
        let item = deps.get(&name).cloned().unwrap_or_default();
        // (the dependency as an inline table, the directory its `path` is relative to)
        let (mut table, base) = if is_workspace_true(&item) {
            let inherited = ws["workspace"]["dependencies"].get(&name).ok_or_else(|| {
                TemplateError(format!(
                    "`{name}` is `workspace = true` but the workspace has no such dependency"
                ))
            })?;
            let mut table = as_inline(inherited);
            let own = item.as_table_like().expect("workspace = true is a table");
            for (k, v) in own.iter() {
                match k {
                    "workspace" => {}
                    "features" => {
                        let mut features = table
                            .get("features")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        for f in v.as_array().into_iter().flatten() {
                            if !features.iter().any(|g| g.as_str() == f.as_str()) {
                                features.push_formatted(f.clone());
                            }
                        }
                        table.insert("features", Value::Array(tidy(features)));
                    }
                    _ => {
                        if let Some(v) = v.as_value() {
                            table.insert(k, v.clone());
                        }
                    }
                }
            }
            (table, "")
        } else if item.as_table_like().is_some_and(|t| t.contains_key("path")) {
            (as_inline(&item), example_dir)
        } else {
            continue;
        };
        if let Some(rel) = table.get("path").and_then(Value::as_str) {
            let in_repo = normalize(&Path::new(base).join(rel)).ok_or_else(|| {
                TemplateError(format!("`{name}`'s path `{rel}` leaves the repository"))
            })?;
            let dir = crate_dir(&in_repo).map_err(TemplateError)?;
            table.insert("path", Value::from(dir.to_string_lossy().into_owned()));
        }
        // Assigned in place, so the key keeps its comment.
        if let Some(slot) = deps.get_mut(&name) {
            let decor = slot.as_value().map(|v| v.decor().clone());
            let mut value = Value::InlineTable(table);
            if let Some(decor) = decor {
                *value.decor_mut() = decor;
            }
            *slot = Item::Value(value);
        }
    }
    Ok(())
}

fn tidy(mut a: Array) -> Array {
    a.fmt();
    a
}

/// A dependency entry as an inline table (`"1"` → `{ version = "1" }`).
fn as_inline(item: &Item) -> InlineTable {
    match item {
        Item::Value(Value::String(s)) => {
            let mut t = InlineTable::new();
            t.insert("version", Value::from(s.value().clone()));
            t
        }
        Item::Value(Value::InlineTable(t)) => {
            let mut t = t.clone();
            t.fmt();
            t
        }
        Item::Table(t) => {
            let mut t = t.clone().into_inline_table();
            t.fmt();
            t
        }
        _ => InlineTable::new(),
    }
}

/// `a/b/../c` → `a/c` with `/` separators; `None` when it climbs above the start.
fn normalize(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// `{{key}}` placeholders of the files in `templates/new/`.
pub fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cargo_new() {
        let taken = vec!["rmcp".to_string(), "pmcp_auth".to_string()];
        for ok in [
            "my-server",
            "my_server",
            "a",
            "_private",
            "server2",
            "Mixed-Case",
        ] {
            assert_eq!(name_problem(ok, &taken), None, "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("1server", "digit"),
            ("-x", "starts with `-`"),
            ("my server", "` ` is not allowed"),
            ("my.server", "`.` is not allowed"),
            ("café", "`é` is not allowed"),
            ("fn", "keyword"),
            ("async", "keyword"),
            ("self", "keyword"),
            ("std", "built-in"),
            ("proc-macro", "built-in"),
            ("test", "built-in"),
            ("deps", "build directory"),
            ("CON", "Windows"),
            ("___", "no letter"),
            ("rmcp", "clash"),
            ("pmcp-auth", "clash"),
        ] {
            let problem = name_problem(bad, &taken).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(problem.contains(why), "{bad:?}: {problem}");
        }
        assert!(name_problem(&"a".repeat(65), &taken).is_some());
        assert!(name_problem(&"a".repeat(64), &taken).is_none());
    }

    #[test]
    fn only_whole_words_are_renamed() {
        let src = "//! `rmcp-example-server`: x. See rmcp-example-servers and my-rmcp-example-server.\n\
                   use rmcp_example_server::run;\nfn f() { rmcp_example_server::run(); not_rmcp_example_server(); rmcp_example_server_x(); }\n\
                   // examples/rmcp-server stays\n";
        let out = rename_in_text(src, "rmcp-example-server", "demo-server");
        assert_eq!(
            out,
            "//! `demo-server`: x. See rmcp-example-servers and my-rmcp-example-server.\n\
             use demo_server::run;\nfn f() { demo_server::run(); not_rmcp_example_server(); rmcp_example_server_x(); }\n\
             // examples/rmcp-server stays\n"
        );
        // Back-to-back occurrences and the text's ends.
        assert_eq!(replace_word("a a", "a", "b", ident_char), "b b");
        assert_eq!(replace_word("aa a", "a", "b", ident_char), "aa b");
    }

    #[test]
    fn manifests_inherit_and_paths_become_absolute() {
        let template = r#"[package]
name = "ex-server"
version = "0.1.0"
edition.workspace = true
license = "MIT"
description = "old"

[[bin]]
name = "ex-server"
path = "src/main.rs"

[[bin]]
name = "bootstrap"
path = "src/lambda.rs"

[dependencies]
# the validator
pmcp-auth = { path = "../../crates/pmcp-auth", features = ["rmcp"] }
tokio = { workspace = true, features = ["macros"] }
serde_json = "1"

[dev-dependencies.pmcp-entra-emulator]
path = "../../crates/pmcp-entra-emulator"
"#;
        let resolve = |rel: &str| -> Result<PathBuf, String> {
            match rel {
                "crates/pmcp-auth" => Ok(PathBuf::from("/src/pmcp-auth")),
                "crates/pmcp-entra-emulator" => Ok(PathBuf::from("/src/emu")),
                other => Err(format!("no {other}")),
            }
        };
        let m =
            render_manifest(template, "examples/ex-server", "demo", "A demo", &resolve).unwrap();
        assert_eq!(m.old_name, "ex-server");
        let doc: toml::Table = toml::from_str(&m.text).unwrap();
        assert_eq!(doc["package"]["name"].as_str(), Some("demo"));
        assert_eq!(doc["package"]["edition"].as_str(), Some("2024"));
        assert_eq!(doc["package"]["publish"].as_bool(), Some(false));
        assert!(doc["package"].get("license").is_none());
        let bins = doc["bin"].as_array().unwrap();
        assert_eq!(bins[0]["name"].as_str(), Some("demo"));
        assert_eq!(bins[1]["name"].as_str(), Some("bootstrap"));
        let deps = &doc["dependencies"];
        assert_eq!(deps["pmcp-auth"]["path"].as_str(), Some("/src/pmcp-auth"));
        assert_eq!(deps["pmcp-auth"]["features"][0].as_str(), Some("rmcp"));
        assert_eq!(deps["tokio"]["version"].as_str(), Some("1"));
        assert_eq!(deps["tokio"]["features"][0].as_str(), Some("macros"));
        assert!(deps["tokio"].get("workspace").is_none());
        assert_eq!(
            doc["dev-dependencies"]["pmcp-entra-emulator"]["path"].as_str(),
            Some("/src/emu")
        );
        assert!(m.text.contains("# the validator"), "{}", m.text);

        let bad = template.replace("../../crates/pmcp-auth", "../../../elsewhere");
        assert!(render_manifest(&bad, "examples/ex-server", "demo", "d", &resolve).is_err());
    }
}
