//! The keys cargo-pmcp knows in the tables it owns, and the typo guard that warns about the others.
//!
//! Free-form tables (`[environment]`, `[auth.entra.group_permissions]`) are not checked. When you add
//! a key to the typed model in `config/mod.rs`, add it here too (a unit test keeps the two in step).

use super::{Location, line_col};
use std::path::{Path, PathBuf};

/// Each owned table (dotted path, `""` for the root) with the keys it may hold.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    ("", &["target", "server", "auth", "environment", "secrets"]),
    (
        "target",
        &[
            "type",
            "api_url",
            "region",
            "role_arn",
            "memory_mb",
            "timeout_seconds",
            "architecture",
            "triple",
        ],
    ),
    ("server", &["name", "bin", "memory_mb", "timeout_seconds"]),
    (
        "auth",
        &[
            "enabled",
            "provider",
            "tenant_id",
            "client_id",
            "issuer",
            "audience",
            "entra",
            "dcr",
        ],
    ),
    (
        "auth.entra",
        &[
            "authority_host",
            "multi_tenant",
            "allowed_tenants",
            "accept_v1_tokens",
            "redirect_uri",
            "group_permissions",
        ],
    ),
    (
        "auth.dcr",
        &["enabled", "public_client_patterns", "default_scopes"],
    ),
    ("secrets", &["required"]),
];

/// What each known key means and takes, for messages about a wrong value (`memory_mb = "big"`).
pub fn key_meaning(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "target" | "server" | "auth" | "environment" | "secrets" | "auth.entra" | "auth.dcr" => {
            "a table"
        }
        "target.type" => "where the server runs: \"pmcp-run\", \"aws-lambda\" or \"local\"",
        "target.api_url" => "the pmcp.run API base URL, a string such as \"https://api.pmcp.run\"",
        "target.region" => "aws-lambda: the AWS region, a string such as \"us-east-1\"",
        "target.role_arn" => {
            "aws-lambda: the function's execution role, an IAM role ARN string \
             (\"arn:aws:iam::123456789012:role/…\")"
        }
        "target.memory_mb" => {
            "aws-lambda: the function's memory in MB, a whole number from 128 to 10240 (no quotes)"
        }
        "target.timeout_seconds" => {
            "aws-lambda: how long one invocation may run, in seconds: a whole number from 1 to 900 \
             (no quotes)"
        }
        "target.architecture" => "aws-lambda: the CPU, \"x86_64\" or \"arm64\"",
        "target.triple" => {
            "the Rust target triple to build for, a string such as \"x86_64-unknown-linux-musl\""
        }
        "server.name" => "the server's name, a string of lowercase letters, digits and hyphens",
        "server.bin" => "the binary to deploy when the package has several, a string",
        "server.memory_mb" => {
            "the memory the server gets, in MB: a whole number such as 512 (no quotes)"
        }
        "server.timeout_seconds" => {
            "how long one request may run, in seconds: a whole number such as 30 (no quotes)"
        }
        "auth.enabled" => "whether the server requires a token: true or false (no quotes)",
        "auth.provider" => "the identity provider: \"entra\", \"oidc\" or \"none\"",
        "auth.tenant_id" => "the Entra directory (tenant) ID, a GUID string",
        "auth.client_id" => "the app registration's Application (client) ID, a GUID string",
        "auth.issuer" => "the OIDC issuer URL, a string",
        "auth.audience" => "the audience of the server's access tokens, a string",
        "auth.entra.authority_host" => {
            "the Entra authority host URL, a string such as \"https://login.microsoftonline.com\""
        }
        "auth.entra.multi_tenant" => {
            "whether users of other tenants are accepted: true or false (no quotes)"
        }
        "auth.entra.allowed_tenants" => {
            "the tenants a multi-tenant server accepts: a list of GUID strings, [\"…\", \"…\"]"
        }
        "auth.entra.accept_v1_tokens" => {
            "whether Entra v1.0 access tokens are accepted: true or false (no quotes)"
        }
        "auth.entra.redirect_uri" => "the Web redirect URI registered on the app, a string",
        "auth.entra.group_permissions" => "a table of group GUID = [\"permission\", …]",
        "auth.dcr.enabled" => {
            "whether MCP clients may register themselves: true or false (no quotes)"
        }
        "auth.dcr.public_client_patterns" => {
            "a list of strings: client names treated as public clients"
        }
        "auth.dcr.default_scopes" => "a list of strings: the scopes a registered client gets",
        "secrets.required" => {
            "a list of variable names, [\"ENTRA_CLIENT_SECRET\"]: values come from the environment"
        }
        _ => return None,
    })
}

/// An unknown key inside a table cargo-pmcp owns (most often a typo). Not an error: the file still
/// loads, and `deploy init` keeps the key, but the key has no effect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigWarning {
    /// The file as given.
    pub path: PathBuf,
    /// 1-based line of the key.
    pub line: usize,
    /// 1-based column of the key.
    pub column: usize,
    /// The table, dotted (`auth.dcr`), empty for the top level.
    pub table: String,
    /// The key as written.
    pub key: String,
    /// A known key of the same table that is close to it.
    pub suggestion: Option<String>,
}

impl ConfigWarning {
    /// Where the key is.
    pub fn location(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
        }
    }
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = if self.table.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{}]", self.table)
        };
        write!(
            f,
            "{}: unknown key `{}` {table} has no effect",
            self.location(),
            self.key
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// Unknown keys in the owned tables of `text`, in file order. Text that does not parse yields no
/// warnings (the parse error is reported instead).
pub fn unknown_keys(path: &Path, text: &str) -> Vec<ConfigWarning> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Vec::new();
    };
    unknown_keys_in(path, text, &doc)
}

/// [`unknown_keys`] on a document already parsed from `text`.
pub(super) fn unknown_keys_in<S>(
    path: &Path,
    text: &str,
    doc: &toml_edit::Document<S>,
) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    for (table_path, known) in KNOWN_KEYS {
        let mut item = doc.as_item();
        let mut found = true;
        if !table_path.is_empty() {
            for part in table_path.split('.') {
                match item.as_table_like().and_then(|t| t.get(part)) {
                    Some(i) => item = i,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
        }
        let Some(table) = item.as_table_like().filter(|_| found) else {
            continue;
        };
        for (key, _) in table.iter() {
            if known.contains(&key) {
                continue;
            }
            let span = table.key(key).and_then(|k| k.span());
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            out.push(ConfigWarning {
                path: path.to_path_buf(),
                line,
                column,
                table: table_path.to_string(),
                key: key.to_string(),
                suggestion: closest(key, known),
            });
        }
    }
    out.sort_by_key(|w| (w.line, w.column));
    out
}

/// The known key closest to `key` when it is a plausible typo (edit distance ≤ 2, or ≤ 1/3 of
/// the length for long keys).
fn closest(key: &str, known: &[&str]) -> Option<String> {
    let limit = (key.len() / 3).max(2);
    known
        .iter()
        .map(|k| (strsim::levenshtein(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_a_meaning() {
        for (table, keys) in KNOWN_KEYS {
            for k in *keys {
                let dotted = if table.is_empty() {
                    k.to_string()
                } else {
                    format!("{table}.{k}")
                };
                assert!(key_meaning(&dotted).is_some(), "no meaning for `{dotted}`");
            }
        }
    }

    #[test]
    fn typo_in_owned_table_is_named_with_a_suggestion() {
        let text = "[auth]\nenabled = true\ntenant-id = \"x\"\n[auth.dcr]\nenabeld = true\n[environment]\nANYTHING = \"ok\"\n";
        let w = unknown_keys(Path::new(".pmcp/deploy.toml"), text);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].key, "tenant-id");
        assert_eq!(w[0].suggestion.as_deref(), Some("tenant_id"));
        assert_eq!((w[0].line, w[0].column), (3, 1));
        assert_eq!(
            w[1].to_string(),
            ".pmcp/deploy.toml:5:1: unknown key `enabeld` in [auth.dcr] has no effect (did you mean `enabled`?)"
        );
    }

    #[test]
    fn free_form_tables_and_group_permissions_are_not_checked() {
        let text = "[auth.entra.group_permissions]\n\"g\" = [\"a\"]\n[environment]\nX = \"1\"\n";
        assert!(unknown_keys(Path::new("x"), text).is_empty());
    }

    #[test]
    fn known_keys_match_the_typed_model() {
        // Every key listed must deserialize into the typed model without being ignored: a
        // document with all of them parses, and a document with a made-up key still parses.
        let text = r#"
[target]
type = "local"
api_url = "http://127.0.0.1:1"
region = "eu-west-1"
role_arn = "arn:aws:iam::123456789012:role/r"
memory_mb = 1024
timeout_seconds = 60
architecture = "arm64"
triple = "aarch64-unknown-linux-musl"
[server]
name = "n"
bin = "b"
memory_mb = 1
timeout_seconds = 1
[auth]
enabled = true
provider = "oidc"
tenant_id = "t"
client_id = "c"
issuer = "https://i"
audience = "a"
[auth.entra]
authority_host = "https://login.microsoftonline.us"
multi_tenant = true
allowed_tenants = []
accept_v1_tokens = false
redirect_uri = "https://x/callback"
[auth.entra.group_permissions]
[auth.dcr]
enabled = true
public_client_patterns = []
default_scopes = []
[environment]
[secrets]
required = []
"#;
        assert!(unknown_keys(Path::new("x"), text).is_empty());
        let c = super::super::parse(Path::new("x"), text).unwrap();
        assert_eq!(
            c.auth.entra.redirect_uri.as_deref(),
            Some("https://x/callback")
        );
    }
}
