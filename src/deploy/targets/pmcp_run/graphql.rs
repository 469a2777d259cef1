//! GraphQL at pmcp.run: `POST graphql_url` with `{"query", "variables"}` and the raw access token
//! as `Authorization` (no scheme). HTTP 401 is an authentication error and never retried; an error
//! naming `FieldUndefined`, `UnknownType` or `Validation error` means the GraphQL URL is stale, so
//! discovery is read again and the call retried once. Variables are built-in scalars only.

use super::discovery::{self, Overrides, ServiceConfig};
use super::http::{REQUEST_TIMEOUT, Scrubber, error_chain, redirect_message, snippet};
use crate::deploy::targets::TargetError;
use pmcp_auth::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// One operation: its document and the field of `data` it answers in.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub field: &'static str,
    pub document: &'static str,
}

pub const GET_UPLOAD_URLS: Op = Op {
    field: "getUploadUrls",
    document: "mutation GetUploadUrls($projectName: String!, $templateSize: Int!, $bootstrapSize: Int!) { getUploadUrls(projectName: $projectName, templateSize: $templateSize, bootstrapSize: $bootstrapSize) { templateUploadUrl templateS3Key bootstrapUploadUrl bootstrapS3Key expiresIn } }",
};

pub const CREATE_DEPLOYMENT_FROM_S3: Op = Op {
    field: "createDeploymentFromS3",
    document: "mutation CreateDeploymentFromS3($templateS3Key: String!, $bootstrapS3Key: String!, $projectName: String!, $runtime: String, $memorySize: Int, $timeout: Int, $serverVersion: String) { createDeploymentFromS3(templateS3Key: $templateS3Key, bootstrapS3Key: $bootstrapS3Key, projectName: $projectName, runtime: $runtime, memorySize: $memorySize, timeout: $timeout, serverVersion: $serverVersion) { deploymentId status projectName createdAt } }",
};

pub const GET_DEPLOYMENT: Op = Op {
    field: "getDeployment",
    document: "query GetDeployment($id: ID!) { getDeployment(id: $id) { id status url projectName errorMessage createdAt completedAt } }",
};

pub const SET_SERVER_SECRET: Op = Op {
    field: "setServerSecret",
    document: "mutation SetServerSecret($serverId: String!, $secretName: String!, $secretValue: String!, $description: String, $audience: SetServerSecretAudience) { setServerSecret(serverId: $serverId, secretName: $secretName, secretValue: $secretValue, description: $description, audience: $audience) { success serverId secretName error warning } }",
};

pub const FETCH_SERVER_OAUTH_ENDPOINTS: Op = Op {
    field: "fetchServerOAuthEndpoints",
    document: "query FetchServerOAuthEndpoints($serverId: String!) { fetchServerOAuthEndpoints(serverId: $serverId) { serverId oauthEnabled } }",
};

pub const LIST_DEPLOYMENTS: Op = Op {
    field: "listDeployments",
    document: "query ListDeployments { listDeployments { items { id projectName status url } } }",
};

pub const DESTROY_DEPLOYMENT: Op = Op {
    field: "destroyDeployment",
    document: "mutation DestroyDeployment($id: ID!) { destroyDeployment(id: $id) { id stackName status message executionArn } }",
};

pub const GET_DEPLOYMENT_OPERATION_STATUS: Op = Op {
    field: "getDeploymentOperationStatus",
    document: "query GetDeploymentOperationStatus($id: ID!) { getDeploymentOperationStatus(id: $id) { id status message executionArn updatedAt } }",
};

/// `getUploadUrls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadUrls {
    pub template_upload_url: String,
    pub template_s3_key: String,
    pub bootstrap_upload_url: String,
    pub bootstrap_s3_key: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// `createDeploymentFromS3`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub deployment_id: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// `getDeployment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(default)]
    pub id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `setServerSecret`.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSet {
    pub success: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warning: Option<String>,
}

/// `fetchServerOAuthEndpoints`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerOAuth {
    #[serde(default)]
    pub oauth_enabled: bool,
}

/// `listDeployments`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentList {
    #[serde(default)]
    pub items: Vec<DeploymentItem>,
}

/// One item of `listDeployments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentItem {
    pub id: String,
    pub project_name: String,
    pub status: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// `destroyDeployment` and `getDeploymentOperationStatus`.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// A GraphQL call failed. Every text is already scrubbed.
#[derive(Debug, Clone)]
pub enum GqlError {
    /// Not reachable, 5xx, 429, or no data: worth another poll.
    Transient(String),
    /// HTTP 401/403 or an authorization error: never retried (exit 4).
    Auth(String),
    /// The service answered with `errors` (or a body we cannot use).
    Service(String),
}

/// Which exit a [`GqlError`] becomes.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Before the deployment exists (exit 4).
    Upload,
    /// Creating or watching it (exit 5).
    Deploy,
}

impl GqlError {
    /// The target error at `stage`.
    pub fn at(self, stage: Stage) -> TargetError {
        match self {
            GqlError::Auth(message) => TargetError::Auth {
                message,
                hint: super::credentials::CREDENTIALS_HINT.into(),
            },
            GqlError::Transient(message) | GqlError::Service(message) => match stage {
                Stage::Upload => TargetError::Upload {
                    message,
                    hint: None,
                },
                Stage::Deploy => TargetError::Failed { message },
            },
        }
    }
}

/// True for the errors that mean "this GraphQL URL no longer has that field or type".
fn is_stale(errors: &[Value]) -> bool {
    errors.iter().any(|e| {
        let text = format!(
            "{} {}",
            e.get("message").and_then(Value::as_str).unwrap_or(""),
            e.get("errorType").and_then(Value::as_str).unwrap_or("")
        );
        ["FieldUndefined", "UnknownType", "Validation error"]
            .iter()
            .any(|k| text.contains(k))
    })
}

fn is_auth(errors: &[Value]) -> bool {
    errors.iter().any(|e| {
        let t = e
            .get("errorType")
            .or_else(|| e.pointer("/extensions/code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        matches!(
            t,
            "UnauthorizedException" | "Unauthorized" | "UNAUTHENTICATED" | "UNAUTHORIZED"
        )
    })
}

/// What one attempt gave.
enum Attempt {
    Data(Value),
    Stale(String),
    Failed(GqlError),
}

/// A GraphQL session: the discovered configuration (replaced when it turns out stale) and the
/// access token.
pub struct Gql<'a> {
    pub http: &'a reqwest::Client,
    pub overrides: &'a Overrides,
    pub cfg: ServiceConfig,
    pub token: SecretString,
    pub scrub: Scrubber,
    /// How many times discovery was read again (tests and `-v`).
    pub rediscoveries: u32,
}

impl Gql<'_> {
    /// Run `op` with `variables` and decode `data.{field}`.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        op: Op,
        variables: Value,
        timeout: Option<Duration>,
    ) -> Result<T, GqlError> {
        let timeout = timeout.unwrap_or(REQUEST_TIMEOUT);
        let data = match self.attempt(op, &variables, timeout).await {
            Attempt::Data(d) => d,
            Attempt::Failed(e) => return Err(e),
            Attempt::Stale(first) => {
                // The GraphQL URL is stale: read discovery again (never from a cache) and retry
                // once at whatever URL it names now.
                self.cfg =
                    discovery::discover(self.http, &self.cfg.base, self.overrides, &self.scrub)
                        .await
                        .map_err(|e| {
                            GqlError::Service(format!("{first}; discovering again failed: {e}"))
                        })?;
                self.rediscoveries += 1;
                match self.attempt(op, &variables, timeout).await {
                    Attempt::Data(d) => d,
                    Attempt::Failed(e) => return Err(e),
                    Attempt::Stale(again) => {
                        return Err(GqlError::Service(format!(
                            "{again} (also after discovering the GraphQL URL again; this cargo pmcp may be older than the service)"
                        )));
                    }
                }
            }
        };
        serde_json::from_value(data.clone()).map_err(|e| {
            GqlError::Service(self.scrub.scrub(&format!(
                "pmcp.run {}: unexpected answer ({e}): {}",
                op.field,
                snippet(&data.to_string())
            )))
        })
    }

    async fn attempt(&self, op: Op, variables: &Value, timeout: Duration) -> Attempt {
        let url = &self.cfg.graphql_url;
        let s = &self.scrub;
        let resp = match self
            .http
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::AUTHORIZATION, self.token.secret())
            .json(&json!({ "query": op.document, "variables": variables }))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Failed(GqlError::Transient(
                    s.scrub(&format!("cannot reach {url}: {}", error_chain(e))),
                ));
            }
        };
        if let Some(m) = redirect_message(&resp) {
            return Attempt::Failed(GqlError::Service(s.scrub(&m)));
        }
        let status = resp.status();
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Failed(GqlError::Transient(
                    s.scrub(&format!("{url}: {}", error_chain(e))),
                ));
            }
        };
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Attempt::Failed(GqlError::Auth(s.scrub(&format!(
                "pmcp.run rejected the access token (HTTP {status} from {url})"
            ))));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Failed(GqlError::Transient(
                s.scrub(&format!("{url} answered HTTP {status}: {}", snippet(&body))),
            ));
        }
        let doc: Value = match serde_json::from_str(&body) {
            Ok(d) => d,
            Err(e) => {
                return Attempt::Failed(GqlError::Service(s.scrub(&format!(
                    "{url} answered HTTP {status} with a body that is not JSON ({e}): {}",
                    snippet(&body)
                ))));
            }
        };
        if let Some(errors) = doc.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let msgs: Vec<&str> = errors
                .iter()
                .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("error"))
                .collect();
            let message = s.scrub(&format!("pmcp.run {}: {}", op.field, msgs.join("; ")));
            return if is_auth(errors) {
                Attempt::Failed(GqlError::Auth(message))
            } else if is_stale(errors) {
                Attempt::Stale(message)
            } else {
                Attempt::Failed(GqlError::Service(message))
            };
        }
        if !status.is_success() {
            return Attempt::Failed(GqlError::Service(
                s.scrub(&format!("{url} answered HTTP {status}: {}", snippet(&body))),
            ));
        }
        match doc.get("data").and_then(|d| d.get(op.field)) {
            Some(v) if !v.is_null() => Attempt::Data(v.clone()),
            _ => Attempt::Failed(GqlError::Transient(s.scrub(&format!(
                "pmcp.run {}: the answer has no data.{}: {}",
                op.field,
                op.field,
                snippet(&body)
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation declares only built-in scalars (and lists of String) as variables, never
    /// an input type; `SetServerSecretAudience` is the one enum the service defines for it.
    #[test]
    fn operations_use_scalar_variables_only() {
        let ops = [
            GET_UPLOAD_URLS,
            CREATE_DEPLOYMENT_FROM_S3,
            GET_DEPLOYMENT,
            SET_SERVER_SECRET,
            FETCH_SERVER_OAUTH_ENDPOINTS,
            LIST_DEPLOYMENTS,
            DESTROY_DEPLOYMENT,
            GET_DEPLOYMENT_OPERATION_STATUS,
        ];
        for op in ops {
            assert!(
                op.document.contains(&format!("{}(", op.field))
                    || op.document.contains(&format!("{} {{", op.field)),
                "{}",
                op.field
            );
            let Some(open) = op.document.find("($") else {
                continue;
            };
            let decl = &op.document[open..op.document[open..].find(')').unwrap() + open];
            for part in decl.trim_start_matches('(').split(", ") {
                let ty = part.split_once(": ").unwrap().1.trim_end_matches('!');
                assert!(
                    [
                        "String",
                        "Int",
                        "ID",
                        "Boolean",
                        "[String]",
                        "[String!]",
                        "SetServerSecretAudience"
                    ]
                    .contains(&ty),
                    "{}: {part}",
                    op.field
                );
            }
        }
    }

    #[test]
    fn stale_and_auth_errors_are_recognised() {
        let e = |m: &str| vec![json!({ "message": m })];
        assert!(is_stale(&e(
            "Validation error of type FieldUndefined: Field 'getUploadUrls' in type 'Mutation' is undefined"
        )));
        assert!(is_stale(&e(
            "Validation error of type UnknownType: Unknown type X"
        )));
        assert!(!is_stale(&e("project name taken")));
        assert!(is_auth(&[
            json!({"message": "no", "errorType": "UnauthorizedException"})
        ]));
    }
}
