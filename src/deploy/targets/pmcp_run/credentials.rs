//! Who the CLI is at pmcp.run, first match wins:
//!
//! 1. `PMCP_CLIENT_ID` + `PMCP_CLIENT_SECRET`: the client-credentials grant at
//!    `{cognito}/oauth2/token`, the client authenticated with HTTP Basic (CI);
//! 2. `PMCP_ACCESS_TOKEN` (and optionally `PMCP_ID_TOKEN`): used as given;
//! 3. `~/.pmcp/credentials.toml`, table `[pmcp-run]` (written by `cargo pmcp login`): refreshed at
//!    the token endpoint when it has expired, and written back.
//!
//! `HOME` decides where `~` is (`USERPROFILE` on Windows when `HOME` is unset). The file is
//! written atomically with mode 0600, keeping its other tables.

use super::discovery::ServiceConfig;
use super::http::{REQUEST_TIMEOUT, Scrubber, error_chain, redirect_message, snippet};
use crate::deploy::targets::TargetError;
use pmcp_auth::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The credentials file, relative to the home directory.
pub const CREDENTIALS_FILE: &str = ".pmcp/credentials.toml";
/// The table of the credentials file this target reads and writes.
pub const TABLE: &str = "pmcp-run";
/// A token this close to its expiry is refreshed first.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How to supply credentials (shown on every authentication error).
pub const CREDENTIALS_HINT: &str = "run `cargo pmcp login` (a browser sign-in, kept in ~/.pmcp/credentials.toml), or in CI set PMCP_CLIENT_ID and PMCP_CLIENT_SECRET (client credentials) or PMCP_ACCESS_TOKEN";

/// Where the access token comes from, resolved without the network.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// `PMCP_CLIENT_ID` + `PMCP_CLIENT_SECRET`.
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
    /// `PMCP_ACCESS_TOKEN`.
    AccessToken(SecretString),
    /// `~/.pmcp/credentials.toml` with a `[pmcp-run]` table.
    File(PathBuf),
    /// None of them (fine for `--dry-run`; an error otherwise).
    Missing,
}

impl CredentialSource {
    /// The credentials in the environment and the home directory, in the protocol's order. Every
    /// value is masked in GitHub Actions logs and scrubbed from the service's messages.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
        scrub: &Scrubber,
    ) -> Result<Self, TargetError> {
        let get = |n: &str| {
            env(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let partial = |set: &str, unset: &str| TargetError::Config {
            message: format!("{set} is set but {unset} is not"),
            hint: Some(CREDENTIALS_HINT.into()),
        };
        match (get("PMCP_CLIENT_ID"), get("PMCP_CLIENT_SECRET")) {
            (Some(client_id), Some(secret)) => {
                scrub.add(&secret);
                return Ok(Self::ClientCredentials {
                    client_id,
                    client_secret: SecretString::new(secret),
                });
            }
            (Some(_), None) => return Err(partial("PMCP_CLIENT_ID", "PMCP_CLIENT_SECRET")),
            (None, Some(_)) => return Err(partial("PMCP_CLIENT_SECRET", "PMCP_CLIENT_ID")),
            (None, None) => {}
        }
        if let Some(t) = get("PMCP_ACCESS_TOKEN") {
            scrub.add(&t);
            if let Some(id) = get("PMCP_ID_TOKEN") {
                scrub.add(&id);
            }
            return Ok(Self::AccessToken(SecretString::new(t)));
        }
        if let Some(home) = home {
            let path = home.join(CREDENTIALS_FILE);
            match read(&path) {
                Ok(Some(c)) => {
                    for v in [&c.access_token, &c.refresh_token, &c.id_token] {
                        scrub.add(v);
                    }
                    return Ok(Self::File(path));
                }
                Ok(None) => {}
                Err(message) => {
                    return Err(TargetError::Config {
                        message,
                        hint: Some(
                            "run `cargo pmcp logout` then `cargo pmcp login` to write it again"
                                .into(),
                        ),
                    });
                }
            }
        }
        Ok(Self::Missing)
    }

    /// Where the token comes from, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::ClientCredentials { client_id, .. } => {
                format!("client credentials of `{client_id}` (PMCP_CLIENT_ID)")
            }
            Self::AccessToken(_) => "PMCP_ACCESS_TOKEN".into(),
            Self::File(p) => p.display().to_string(),
            Self::Missing => "none".into(),
        }
    }
}

/// The home directory: `HOME`, else `USERPROFILE`.
pub fn home_dir() -> Option<PathBuf> {
    ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The `[pmcp-run]` table of the credentials file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredentials {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: String,
    #[serde(default)]
    pub id_token: String,
    /// RFC 3339.
    #[serde(default)]
    pub expires_at: String,
}

impl StoredCredentials {
    /// True when the access token expires within a minute of `now` (or `expires_at` is unreadable).
    pub fn expired(&self, now: SystemTime) -> bool {
        let Ok(at) = time::OffsetDateTime::parse(
            self.expires_at.trim(),
            &time::format_description::well_known::Rfc3339,
        ) else {
            return true;
        };
        time::OffsetDateTime::from(now + EXPIRY_MARGIN) >= at
    }

    /// Credentials from a token response; `previous_refresh` is kept when none came back.
    pub fn from_response(t: &TokenResponse, previous_refresh: &str, now: SystemTime) -> Self {
        Self {
            access_token: t.access_token.clone(),
            refresh_token: t
                .refresh_token
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| previous_refresh.to_string()),
            id_token: t.id_token.clone().unwrap_or_default(),
            expires_at: crate::ui::rfc3339(now + Duration::from_secs(t.expires_in.unwrap_or(3600))),
        }
    }
}

fn parse_doc(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        format!(
            "{} is not valid TOML ({})",
            path.display(),
            e.message().trim()
        )
    })
}

/// The `[pmcp-run]` table of `path`; `Ok(None)` when the file or the table is absent.
pub fn read(path: &Path) -> Result<Option<StoredCredentials>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let value: toml::Table = toml::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid TOML ({})",
            path.display(),
            e.message().trim()
        )
    })?;
    match value.get(TABLE) {
        None => Ok(None),
        Some(t) => t
            .clone()
            .try_into::<StoredCredentials>()
            .map(|c| Some(c).filter(|c| !c.access_token.trim().is_empty()))
            .map_err(|e| {
                format!(
                    "[{TABLE}] in {} is not readable: {}",
                    path.display(),
                    e.message().trim()
                )
            }),
    }
}

/// Restrict `path` to its owner (0600), creating it empty when it does not exist, so the atomic
/// write that follows keeps that mode. The directory is created 0700.
fn prepare_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Write `creds` as the `[pmcp-run]` table of `path` (other tables kept), atomically, mode 0600.
pub fn write(path: &Path, creds: &StoredCredentials) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut doc = parse_doc(path, &text).map_err(std::io::Error::other)?;
    let mut t = toml_edit::Table::new();
    t["access_token"] = toml_edit::value(&creds.access_token);
    t["refresh_token"] = toml_edit::value(&creds.refresh_token);
    t["id_token"] = toml_edit::value(&creds.id_token);
    t["expires_at"] = toml_edit::value(&creds.expires_at);
    doc[TABLE] = toml_edit::Item::Table(t);
    prepare_private_file(path)?;
    crate::ui::write_atomic(path, doc.to_string().as_bytes())
}

/// Remove the `[pmcp-run]` table (and the file, when nothing else is in it). False when there was
/// no such table.
pub fn remove(path: &Path) -> std::io::Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut doc = parse_doc(path, &text).map_err(std::io::Error::other)?;
    if doc.remove(TABLE).is_none() {
        return Ok(false);
    }
    if doc.as_table().is_empty() {
        std::fs::remove_file(path)?;
    } else {
        crate::ui::write_atomic(path, doc.to_string().as_bytes())?;
    }
    Ok(true)
}

/// A token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// How a client authenticates at the token endpoint.
pub enum ClientAuth<'a> {
    /// A confidential client: HTTP Basic with its id and secret.
    Basic(&'a str, &'a SecretString),
    /// A public client: `client_id` in the form.
    Public(&'a str),
}

/// `POST endpoint` with `form`. Errors are exit 4, their text scrubbed: `Auth` when the endpoint
/// refused, `Upload` when it could not be reached.
pub async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    auth: ClientAuth<'_>,
    what: &str,
    scrub: &Scrubber,
) -> Result<TokenResponse, TargetError> {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut req = http.post(endpoint).timeout(REQUEST_TIMEOUT);
    match auth {
        ClientAuth::Basic(id, secret) => req = req.basic_auth(id, Some(secret.secret())),
        ClientAuth::Public(id) => fields.push(("client_id", id)),
    }
    let resp = req
        .form(&fields)
        .send()
        .await
        .map_err(|e| TargetError::Upload {
            message: scrub.scrub(&format!(
                "cannot reach the pmcp.run token endpoint {endpoint}: {}",
                error_chain(e)
            )),
            hint: None,
        })?;
    if let Some(m) = redirect_message(&resp) {
        return Err(TargetError::Auth {
            message: scrub.scrub(&m),
            hint: "check PMCP_RUN_COGNITO_DOMAIN or the cognito_domain the service announces"
                .into(),
        });
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?.as_str()?.to_string();
                let d = v
                    .get("error_description")
                    .and_then(Value::as_str)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                Some(format!("{e}{d}"))
            })
            .unwrap_or_else(|| snippet(&body));
        return Err(TargetError::Auth {
            message: scrub.scrub(&format!(
                "the pmcp.run token endpoint refused {what} (HTTP {status}): {detail}"
            )),
            hint: CREDENTIALS_HINT.into(),
        });
    }
    let tok: TokenResponse = serde_json::from_str(&body).map_err(|e| TargetError::Auth {
        message: format!("the token endpoint {endpoint} answered without an access_token ({e})"),
        hint: CREDENTIALS_HINT.into(),
    })?;
    for v in [
        Some(&tok.access_token),
        tok.refresh_token.as_ref(),
        tok.id_token.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        scrub.add(v);
    }
    Ok(tok)
}

/// The access token from `source`. `notes` collects what the user should be told (a refresh that
/// could not be saved).
pub async fn access_token(
    http: &reqwest::Client,
    cfg: &ServiceConfig,
    source: &CredentialSource,
    scrub: &Scrubber,
    notes: &mut Vec<String>,
) -> Result<SecretString, TargetError> {
    match source {
        CredentialSource::AccessToken(t) => Ok(t.clone()),
        CredentialSource::Missing => Err(TargetError::Auth {
            message: "no pmcp.run credentials".into(),
            hint: CREDENTIALS_HINT.into(),
        }),
        CredentialSource::ClientCredentials {
            client_id,
            client_secret,
        } => token_request(
            http,
            &cfg.token_endpoint(),
            &[("grant_type", "client_credentials")],
            ClientAuth::Basic(client_id, client_secret),
            &format!("the client credentials of `{client_id}`"),
            scrub,
        )
        .await
        .map(|t| SecretString::new(t.access_token)),
        CredentialSource::File(path) => {
            let stored = read(path)
                .map_err(|message| TargetError::Config {
                    message,
                    hint: Some(CREDENTIALS_HINT.into()),
                })?
                .ok_or_else(|| TargetError::Auth {
                    message: format!("{} has no [{TABLE}] credentials", path.display()),
                    hint: CREDENTIALS_HINT.into(),
                })?;
            let now = SystemTime::now();
            if !stored.expired(now) {
                return Ok(SecretString::new(stored.access_token));
            }
            if stored.refresh_token.trim().is_empty() {
                return Err(TargetError::Auth {
                    message: format!(
                        "the pmcp.run token in {} expired at {} and there is no refresh token",
                        path.display(),
                        stored.expires_at
                    ),
                    hint: CREDENTIALS_HINT.into(),
                });
            }
            let t = token_request(
                http,
                &cfg.token_endpoint(),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", stored.refresh_token.as_str()),
                ],
                ClientAuth::Public(&cfg.cognito_client_id),
                &format!("the refresh token in {}", path.display()),
                scrub,
            )
            .await?;
            let fresh = StoredCredentials::from_response(&t, &stored.refresh_token, now);
            if let Err(e) = write(path, &fresh) {
                notes.push(format!(
                    "the refreshed pmcp.run token could not be saved to {}: {e}",
                    path.display()
                ));
            }
            Ok(SecretString::new(fresh.access_token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn order_is_client_credentials_then_token_then_file() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(CREDENTIALS_FILE);
        write(
            &path,
            &StoredCredentials {
                access_token: "file-token".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let s = Scrubber::new();
        let all = env(&[
            ("PMCP_CLIENT_ID", "ci"),
            ("PMCP_CLIENT_SECRET", "ci-secret"),
            ("PMCP_ACCESS_TOKEN", "env-token"),
        ]);
        let r = CredentialSource::resolve(&all, Some(home.path()), &s).unwrap();
        assert!(matches!(r, CredentialSource::ClientCredentials { .. }));
        let r = CredentialSource::resolve(
            env(&[("PMCP_ACCESS_TOKEN", "env-token\n")]),
            Some(home.path()),
            &s,
        )
        .unwrap();
        assert!(matches!(r, CredentialSource::AccessToken(t) if t.secret() == "env-token"));
        let r = CredentialSource::resolve(env(&[]), Some(home.path()), &s).unwrap();
        assert!(matches!(r, CredentialSource::File(p) if p == path));
        let r = CredentialSource::resolve(env(&[]), None, &s).unwrap();
        assert!(matches!(r, CredentialSource::Missing));
        let e = CredentialSource::resolve(env(&[("PMCP_CLIENT_ID", "x")]), None, &s).unwrap_err();
        assert!(e.to_string().contains("PMCP_CLIENT_SECRET is not"), "{e}");
        // Every value learnt is scrubbed.
        assert_eq!(
            s.scrub("ci-secret env-token file-token"),
            "[redacted] [redacted] [redacted]"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_0600_keeps_other_tables_and_is_removed_when_empty() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(CREDENTIALS_FILE);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let c = StoredCredentials {
            access_token: "a".into(),
            refresh_token: "r".into(),
            id_token: "i".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
        };
        write(&path, &c).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(read(&path).unwrap(), Some(c.clone()));
        // Another tool's table survives; a loose mode is tightened.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("[other]\nk = 1\n\n{text}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, &c).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::read_to_string(&path).unwrap().contains("[other]"));
        assert!(remove(&path).unwrap());
        assert!(path.exists() && read(&path).unwrap().is_none());
        std::fs::write(&path, "").unwrap();
        write(&path, &c).unwrap();
        assert!(remove(&path).unwrap());
        assert!(!path.exists());
        assert!(!remove(&path).unwrap());
    }

    #[test]
    fn expiry_and_refresh_keep_the_old_refresh_token() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut c = StoredCredentials {
            access_token: "a".into(),
            expires_at: crate::ui::rfc3339(now + Duration::from_secs(3600)),
            ..Default::default()
        };
        assert!(!c.expired(now));
        c.expires_at = crate::ui::rfc3339(now + Duration::from_secs(30));
        assert!(c.expired(now), "within the margin");
        c.expires_at = "yesterday".into();
        assert!(c.expired(now));
        let t = TokenResponse {
            access_token: "new".into(),
            refresh_token: None,
            id_token: Some("id".into()),
            expires_in: Some(120),
        };
        let f = StoredCredentials::from_response(&t, "old-refresh", now);
        assert_eq!(f.refresh_token, "old-refresh");
        assert_eq!(
            f.expires_at,
            crate::ui::rfc3339(now + Duration::from_secs(120))
        );
    }
}
