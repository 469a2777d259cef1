//! The result of `auth test`: one [`AuthTestReport`], rendered as human text (`Display`), as the
//! `--json` document (`Serialize`) and as the GitHub Actions step summary ([`AuthTestReport::markdown`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::exit::Exit;
use pmcp_auth::{EntraClaims, SecretString};

/// Where the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Config,
    Acquire,
    Validate,
    Expect,
    Server,
}

impl Stage {
    /// How the run ends after a failure at this stage.
    pub fn exit(self) -> Exit {
        match self {
            Stage::Config => Exit::Usage,
            Stage::Acquire => Exit::TokenNotAcquired,
            Stage::Validate => Exit::TokenInvalid,
            Stage::Expect => Exit::ExpectationNotMet,
            Stage::Server => Exit::ServerCheckFailed,
        }
    }

    /// The exit code of a failure at this stage.
    pub fn exit_code(self) -> u8 {
        self.exit().code()
    }

    /// The stage's name, as in the JSON document.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Config => "config",
            Stage::Acquire => "acquire",
            Stage::Validate => "validate",
            Stage::Expect => "expect",
            Stage::Server => "server",
        }
    }
}

/// The failure, in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportError {
    pub code: String,
    pub message: String,
    pub hint: String,
}

/// What the token says (never the token itself).
#[derive(Debug, Clone, Serialize, Default)]
pub struct TokenSummary {
    pub version: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub app_id: Option<String>,
    pub app_only: bool,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub groups: Vec<String>,
    pub groups_overage: bool,
    /// RFC 3339, UTC.
    pub expires_at: Option<String>,
    pub fingerprint: String,
    #[serde(skip)]
    exp: Option<u64>,
    #[serde(skip)]
    verified: bool,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The result of `auth test`.
#[derive(Debug, Clone)]
pub struct AuthTestReport {
    pub ok: bool,
    pub stage: Option<Stage>,
    pub error: Option<ReportError>,
    pub credential: Option<String>,
    pub token: Option<TokenSummary>,
    pub permissions: Vec<String>,
    pub checks: Vec<Check>,
    /// Where the credential came from (human output only).
    pub(super) credential_detail: Option<String>,
    /// "now" for the expiry line.
    pub(super) now: u64,
}

/// The `--json` document: the common failure shape (`ok`, `exit_code`, `error`) and the checks.
impl Serialize for AuthTestReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Document<'a> {
            ok: bool,
            exit_code: u8,
            stage: Option<Stage>,
            error: Option<&'a ReportError>,
            credential: Option<&'a str>,
            token: Option<&'a TokenSummary>,
            permissions: &'a [String],
            checks: &'a [Check],
        }
        Document {
            ok: self.ok,
            exit_code: self.exit_code(),
            stage: self.stage,
            error: self.error.as_ref(),
            credential: self.credential.as_deref(),
            token: self.token.as_ref(),
            permissions: &self.permissions,
            checks: &self.checks,
        }
        .serialize(serializer)
    }
}

/// The verdict line of a run that passed.
const PASSED: &str = "ok: the token is valid and meets every expectation";

/// The report as `auth test` prints it: in full, or with `--quiet` after a pass only the verdict
/// line. The JSON document is the report's either way.
pub(super) struct Printed<'a> {
    report: &'a AuthTestReport,
    brief: bool,
}

impl std::fmt::Display for Printed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.brief {
            writeln!(f, "{PASSED}")
        } else {
            self.report.fmt(f)
        }
    }
}

impl Serialize for Printed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.report.serialize(serializer)
    }
}

impl AuthTestReport {
    pub(super) fn new(now: u64) -> Self {
        Self {
            ok: false,
            stage: None,
            error: None,
            credential: None,
            token: None,
            permissions: Vec::new(),
            checks: Vec::new(),
            credential_detail: None,
            now,
        }
    }

    /// Record a check.
    pub(super) fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    /// Record a failure at `stage`; the first failure wins.
    pub(super) fn fail(
        &mut self,
        stage: Stage,
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        if self.stage.is_some() {
            return;
        }
        self.ok = false;
        self.stage = Some(stage);
        self.error = Some(ReportError {
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// What to print: with `quiet`, a pass is only its verdict line; a failure is always whole.
    pub(super) fn printed(&self, quiet: bool) -> Printed<'_> {
        Printed {
            report: self,
            brief: quiet && self.ok,
        }
    }

    /// How the run ends.
    pub fn exit(&self) -> Exit {
        self.stage.map(Stage::exit).unwrap_or(Exit::Success)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }

    /// A markdown summary for `$GITHUB_STEP_SUMMARY`.
    pub fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut md = String::new();
        match (&self.stage, &self.error) {
            (Some(stage), Some(e)) => md.push_str(&format!(
                "### `cargo pmcp auth test`: failed at {}\n\n**{}**: {}\n\n{}\n\n",
                stage.name(),
                esc(&e.code),
                esc(&e.message),
                esc(&e.hint)
            )),
            _ => md.push_str("### `cargo pmcp auth test`: passed\n\n"),
        }
        md.push_str("| Check | Result | Detail |\n|---|---|---|\n");
        for c in &self.checks {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                esc(&c.name),
                if c.ok { "✅ ok" } else { "❌ failed" },
                esc(&c.detail)
            ));
        }
        if let Some(t) = &self.token {
            md.push_str("\n| Token | |\n|---|---|\n");
            let rows: [(&str, String); 9] = [
                ("version", t.version.clone().unwrap_or_else(|| "-".into())),
                ("issuer", t.issuer.clone().unwrap_or_default()),
                ("audience", t.audience.clone().unwrap_or_default()),
                ("tenant", t.tenant_id.clone().unwrap_or_default()),
                ("app id", t.app_id.clone().unwrap_or_default()),
                (
                    "kind",
                    if t.app_only {
                        "app-only".into()
                    } else {
                        "user".into()
                    },
                ),
                ("roles", t.roles.join(", ")),
                ("expires at", t.expires_at.clone().unwrap_or_default()),
                ("fingerprint", format!("`{}`", t.fingerprint)),
            ];
            for (k, v) in rows {
                md.push_str(&format!("| {k} | {} |\n", esc(&v)));
            }
        }
        md
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

impl std::fmt::Display for AuthTestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(c) = &self.credential {
            match &self.credential_detail {
                Some(d) => writeln!(f, "credential: {c} ({d})")?,
                None => writeln!(f, "credential: {c}")?,
            }
        }
        if let Some(t) = &self.token {
            writeln!(
                f,
                "token{}:",
                if t.verified {
                    ""
                } else {
                    " (NOT verified: what it claims)"
                }
            )?;
            let row =
                |f: &mut std::fmt::Formatter<'_>, k: &str, v: &str| writeln!(f, "  {k:<13} {v}");
            row(f, "version", t.version.as_deref().unwrap_or("-"))?;
            row(f, "issuer", t.issuer.as_deref().unwrap_or("-"))?;
            row(f, "audience", t.audience.as_deref().unwrap_or("-"))?;
            row(f, "tenant", t.tenant_id.as_deref().unwrap_or("-"))?;
            row(f, "object id", t.object_id.as_deref().unwrap_or("-"))?;
            row(f, "app id", t.app_id.as_deref().unwrap_or("-"))?;
            row(
                f,
                "kind",
                if t.app_only {
                    "app-only (no user)"
                } else {
                    "user (delegated)"
                },
            )?;
            row(f, "roles", &list(&t.roles))?;
            row(f, "scopes", &list(&t.scopes))?;
            let groups = if t.groups_overage {
                "overage: more groups than a token carries (membership unknown; no group permission granted)".to_string()
            } else {
                list(&t.groups)
            };
            row(f, "groups", &groups)?;
            if t.verified {
                row(f, "permissions", &list(&self.permissions))?;
            }
            let expiry = match t.exp {
                Some(exp) if exp >= self.now => format!(
                    "in {} min ({})",
                    (exp - self.now) / 60,
                    t.expires_at.as_deref().unwrap_or("")
                ),
                Some(exp) => format!(
                    "expired {} min ago ({})",
                    (self.now - exp) / 60,
                    t.expires_at.as_deref().unwrap_or("")
                ),
                None => "(no exp)".into(),
            };
            row(f, "expires", &expiry)?;
            row(f, "fingerprint", &t.fingerprint)?;
        }
        if !self.checks.is_empty() {
            writeln!(f, "checks:")?;
            for c in &self.checks {
                writeln!(
                    f,
                    "  {} {}: {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.name,
                    c.detail
                )?;
            }
        }
        match (&self.stage, &self.error) {
            (Some(stage), Some(e)) => {
                writeln!(f, "error [{}] {}: {}", stage.name(), e.code, e.message)?;
                let mut lines = e.hint.lines();
                if let Some(first) = lines.next() {
                    writeln!(f, "hint: {first}")?;
                    for l in lines {
                        writeln!(f, "  {l}")?;
                    }
                }
                Ok(())
            }
            _ => writeln!(f, "{PASSED}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token summary
// ---------------------------------------------------------------------------------------------

/// RFC 3339 UTC from Unix seconds (one formatter for the whole CLI).
pub use crate::ui::rfc3339_secs as rfc3339;

fn str_claim(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

fn list_claim(m: &Map<String, Value>, k: &str) -> Vec<String> {
    match m.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn audience_claim(m: &Map<String, Value>) -> Option<String> {
    match m.get("aud") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// What a token claims, from its (unverified or verified) claims object.
pub(super) fn summary_from_map(
    m: &Map<String, Value>,
    token: &SecretString,
    verified: bool,
) -> TokenSummary {
    let exp = m.get("exp").and_then(|v| v.as_u64());
    let scopes = {
        let scp = list_claim(m, "scp");
        if scp.is_empty() {
            list_claim(m, "scope")
        } else {
            scp
        }
    };
    let app_id = str_claim(m, "azp")
        .or_else(|| str_claim(m, "appid"))
        .or_else(|| str_claim(m, "client_id"));
    let app_only = match str_claim(m, "idtyp") {
        Some(t) => t.eq_ignore_ascii_case("app"),
        None => {
            str_claim(m, "scp").is_none()
                && str_claim(m, "preferred_username").is_none()
                && str_claim(m, "upn").is_none()
                && (m.contains_key("tid")
                    || str_claim(m, "gty").as_deref() == Some("client-credentials")
                    || (app_id.is_some() && str_claim(m, "sub") == app_id))
        }
    };
    TokenSummary {
        version: str_claim(m, "ver"),
        issuer: str_claim(m, "iss"),
        audience: audience_claim(m),
        tenant_id: str_claim(m, "tid"),
        object_id: str_claim(m, "oid").or_else(|| str_claim(m, "sub")),
        app_id,
        app_only,
        roles: list_claim(m, "roles"),
        scopes,
        groups: list_claim(m, "groups"),
        groups_overage: !m.contains_key("groups")
            && m.get("_claim_names")
                .and_then(|v| v.as_object())
                .is_some_and(|o| o.contains_key("groups")),
        expires_at: exp.map(rfc3339),
        fingerprint: token.fingerprint(),
        exp,
        verified,
    }
}

/// What a token the validator accepted claims.
pub(super) fn summary_from_entra(c: &EntraClaims, token: &SecretString) -> TokenSummary {
    TokenSummary {
        version: c.ver.clone(),
        issuer: Some(c.iss.clone()),
        audience: Some(c.aud.values().join(" ")),
        tenant_id: Some(c.tid.clone()),
        object_id: Some(c.oid.clone()),
        app_id: c.client_app_id().map(str::to_string),
        app_only: c.is_app_only(),
        roles: c.roles.clone().unwrap_or_default(),
        scopes: c.scopes().into_iter().map(str::to_string).collect(),
        groups: c.groups.clone().unwrap_or_default(),
        groups_overage: c.groups_overage(),
        expires_at: Some(rfc3339(c.exp)),
        fingerprint: token.fingerprint(),
        exp: Some(c.exp),
        verified: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339(u64::MAX),
            "9999-12-31T23:59:59Z",
            "clamped, no panic"
        );
    }

    #[test]
    fn the_json_document_carries_the_common_failure_shape() {
        let mut r = AuthTestReport::new(0);
        r.ok = true;
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["ok"], true);
        assert_eq!(j["exit_code"], 0);
        assert!(j["error"].is_null());

        let mut r = AuthTestReport::new(0);
        r.fail(
            Stage::Validate,
            "expired",
            "the token expired",
            "get a new one",
        );
        let j = serde_json::to_value(r.printed(true)).unwrap();
        assert_eq!(j["ok"], false);
        assert_eq!(j["exit_code"], 4);
        assert_eq!(j["stage"], "validate");
        assert_eq!(
            j["error"],
            serde_json::json!({"code": "expired", "message": "the token expired", "hint": "get a new one"})
        );
        let mut keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "checks",
                "credential",
                "error",
                "exit_code",
                "ok",
                "permissions",
                "stage",
                "token"
            ]
        );
    }

    #[test]
    fn quiet_keeps_the_verdict_of_a_pass_and_all_of_a_failure() {
        let mut r = AuthTestReport::new(0);
        r.check("acquire", true, "token given (--token)");
        r.ok = true;
        assert_eq!(r.printed(true).to_string(), format!("{PASSED}\n"));
        assert!(r.printed(false).to_string().contains("ok   acquire"));

        let mut r = AuthTestReport::new(0);
        r.fail(
            Stage::Acquire,
            "AADSTS7000215",
            "Invalid client secret",
            "Use the value",
        );
        let text = r.printed(true).to_string();
        assert!(text.contains("error [acquire] AADSTS7000215"), "{text}");
        assert!(text.contains("hint: Use the value"), "{text}");
    }

    #[test]
    fn exit_codes_per_stage() {
        let mut r = AuthTestReport::new(0);
        assert_eq!(r.exit_code(), 0);
        r.fail(Stage::Expect, "x", "m", "h");
        r.fail(Stage::Server, "y", "m", "h");
        assert_eq!(r.exit_code(), 5, "the first failure wins");
        for (s, c) in [
            (Stage::Config, 2),
            (Stage::Acquire, 3),
            (Stage::Validate, 4),
            (Stage::Expect, 5),
            (Stage::Server, 6),
        ] {
            assert_eq!(s.exit_code(), c);
        }
    }
}
