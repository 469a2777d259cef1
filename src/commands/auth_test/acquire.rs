//! Getting the token: the credential [`Plan`] (from `--token`, `--credential` and what the
//! environment offers) and [`acquire`], which carries it out.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::args::{CredentialKind, TestArgs};
use super::report::{AuthTestReport, Stage};
use super::settings::{ConfigProblem, Mode, Settings, from_env};
use crate::explain;
use crate::ui::{Ui, github};
use pmcp_auth::client::{
    AccessToken, AssertionSource, Certificate, ClientCredential, ClientCredentialsRequest,
    CredentialError, GitHubOidc, TokenClient,
};
use pmcp_auth::entra::Cloud;
use pmcp_auth::{SecretString, env};

/// A chosen credential, ready to use.
pub(super) enum Plan {
    /// A token from --token.
    Given { token: SecretString, from: String },
    /// Client credentials.
    Client {
        credential: ClientCredential,
        kind: &'static str,
        detail: String,
    },
    /// Device code sign-in.
    DeviceCode,
}

fn read_token_arg(arg: &str) -> Result<(SecretString, String), ConfigProblem> {
    let (text, from) = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            ConfigProblem::new("invalid_input", format!("--token -: cannot read stdin: {e}"), "Pipe the token in, e.g. `az account get-access-token … --query accessToken -o tsv | cargo pmcp auth test --token -`.")
        })?;
        (s, "stdin".to_string())
    } else if let Some(path) = arg.strip_prefix('@') {
        let s = std::fs::read_to_string(path).map_err(|e| {
            ConfigProblem::new(
                "invalid_input",
                format!("--token @{path}: cannot read the file: {e}"),
                "Give a file holding the access token.",
            )
        })?;
        (s, format!("file {path}"))
    } else {
        (arg.to_string(), "--token".to_string())
    };
    let t = text.trim();
    let t = t.strip_prefix("Bearer ").unwrap_or(t).trim();
    if t.is_empty() {
        return Err(ConfigProblem::new(
            "invalid_input",
            format!("--token: the token from {from} is empty"),
            "Pass the access token itself (the JWT), @FILE, or - for stdin.",
        ));
    }
    Ok((SecretString::new(t), from))
}

fn secret_from_stdin() -> Result<SecretString, ConfigProblem> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| {
        ConfigProblem::new("invalid_input", format!("--client-secret-stdin: cannot read stdin: {e}"), "Pipe the secret in: `printf %s \"$SECRET\" | cargo pmcp auth test --client-secret-stdin`.")
    })?;
    let s = s.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        return Err(ConfigProblem::new(
            "invalid_input",
            "--client-secret-stdin: stdin was empty",
            "Pipe the secret in: `printf %s \"$SECRET\" | cargo pmcp auth test --client-secret-stdin`.",
        ));
    }
    Ok(SecretString::new(s))
}

/// Choose the credential: `--token`, else `--credential` (or in `auto` the first available).
pub(super) fn plan(args: &TestArgs, settings: &Settings, ui: &Ui) -> Result<Plan, ConfigProblem> {
    if let Some(t) = &args.token {
        let (token, from) = read_token_arg(t)?;
        github::add_mask(token.secret());
        return Ok(Plan::Given { token, from });
    }
    let oidc = matches!(settings.mode, Mode::Oidc(_));
    let secret_envs: &[&str] = if oidc {
        &[
            "OIDC_CLIENT_SECRET",
            env::ENTRA_CLIENT_SECRET,
            env::AZURE_CLIENT_SECRET,
        ]
    } else {
        &[env::ENTRA_CLIENT_SECRET, env::AZURE_CLIENT_SECRET]
    };
    let secret = || -> Result<Option<(SecretString, String)>, ConfigProblem> {
        if args.client_secret_stdin {
            return Ok(Some((secret_from_stdin()?, "stdin".into())));
        }
        Ok(from_env(secret_envs).map(|s| (SecretString::new(s.value), s.source)))
    };
    let cert_path = || -> Option<(PathBuf, String)> {
        args.certificate
            .clone()
            .map(|p| (p, "--certificate".to_string()))
            .or_else(|| {
                from_env(&[pmcp_auth::client::AZURE_CLIENT_CERTIFICATE_PATH])
                    .map(|s| (PathBuf::from(s.value), s.source))
            })
    };
    let load_cert = |(path, source): (PathBuf, String)| -> Result<Plan, ConfigProblem> {
        let cert = Certificate::from_pem_file(&path).map_err(|e| {
            ConfigProblem::new(
                "certificate",
                format!("{source}: {e}"),
                explain::credential(&e),
            )
        })?;
        let detail = format!(
            "{} from {source}, thumbprint {}",
            path.display(),
            cert.sha1_thumbprint_hex()
        );
        Ok(Plan::Client {
            credential: ClientCredential::Certificate(Arc::new(cert)),
            kind: "certificate",
            detail,
        })
    };
    let federated = || {
        from_env(&[pmcp_auth::client::AZURE_FEDERATED_TOKEN_FILE]).map(|s| Plan::Client {
            detail: format!("token file {} from {}", s.value, s.source),
            credential: ClientCredential::Federated(AssertionSource::File(PathBuf::from(s.value))),
            kind: "federated",
        })
    };
    let cloud = match &settings.mode {
        Mode::Entra(e) => e.cloud,
        Mode::Oidc(_) => Cloud::Public,
    };
    let github = || {
        GitHubOidc::from_env(cloud).map(|mut g| {
            if let Mode::Oidc(o) = &settings.mode {
                g.audience = o.audience.clone();
            }
            let detail = format!("GitHub Actions ID token, audience {}", g.audience);
            Plan::Client {
                credential: ClientCredential::Federated(AssertionSource::GitHubActions(g)),
                kind: "github",
                detail,
            }
        })
    };
    let with_secret = |s: SecretString, src: String| {
        github::add_mask(s.secret());
        Plan::Client {
            credential: ClientCredential::Secret(s),
            kind: "secret",
            detail: format!("client secret from {src}"),
        }
    };
    let mut kind = args.credential;
    if kind == CredentialKind::Auto {
        if args.client_secret_stdin {
            kind = CredentialKind::Secret;
        } else if args.certificate.is_some() {
            kind = CredentialKind::Certificate;
        }
    }
    let secret_names = secret_envs.join(", ");
    match kind {
        CredentialKind::Auto => {
            if let Some((s, src)) = secret()? {
                return Ok(with_secret(s, src));
            }
            if let Some(c) = cert_path() {
                return load_cert(c);
            }
            if let Some(p) = federated() {
                return Ok(p);
            }
            if let Some(p) = github() {
                return Ok(p);
            }
            if !oidc && ui.interactive {
                return Ok(Plan::DeviceCode);
            }
            Err(ConfigProblem::new(
                "no_credential",
                "no credential found to get a token with",
                format!(
                    "Give one of: a client secret ({secret_names}, or --client-secret-stdin); a certificate (--certificate PEM or AZURE_CLIENT_CERTIFICATE_PATH); a federated token file (AZURE_FEDERATED_TOKEN_FILE); GitHub Actions OIDC (job permission `id-token: write`); --credential device-code to sign in as a person; or a ready token with --token."
                ),
            ))
        }
        CredentialKind::Secret => match secret()? {
            Some((s, src)) => Ok(with_secret(s, src)),
            None => Err(ConfigProblem::new(
                "no_credential",
                "--credential secret: no client secret given",
                format!("Set {secret_names}, or pipe it with --client-secret-stdin (a secret is never a flag value)."),
            )),
        },
        CredentialKind::Certificate => match cert_path() {
            Some(c) => load_cert(c),
            None => Err(ConfigProblem::new(
                "no_credential",
                "--credential certificate: no certificate given",
                "Pass --certificate PEM or set AZURE_CLIENT_CERTIFICATE_PATH (one PEM file with the certificate and its private key).",
            )),
        },
        CredentialKind::Federated => federated().ok_or_else(|| {
            ConfigProblem::new(
                "no_credential",
                "--credential federated: AZURE_FEDERATED_TOKEN_FILE is not set",
                "Set AZURE_FEDERATED_TOKEN_FILE to the projected service account token (workload identity sets it for you).",
            )
        }),
        CredentialKind::Github => github().ok_or_else(|| {
            ConfigProblem::new(
                "no_credential",
                "--credential github: ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
                "Run inside GitHub Actions with `permissions: id-token: write` on the job.",
            )
        }),
        CredentialKind::DeviceCode => {
            if oidc {
                Err(ConfigProblem::new(
                    "invalid_input",
                    "--credential device-code is for Entra; with --oauth oidc use client credentials or --token",
                    "Get a user token from your provider's tooling and pass it with --token.",
                ))
            } else {
                Ok(Plan::DeviceCode)
            }
        }
    }
}

/// Get the token the plan names; on failure the report says why and there is no token.
pub(super) async fn acquire(
    plan: &Plan,
    settings: &Settings,
    client: &TokenClient,
    ui: &Ui,
    report: &mut AuthTestReport,
) -> Option<SecretString> {
    let result: Result<AccessToken, CredentialError> = match plan {
        Plan::Given { token, from } => {
            report.credential = Some("token".into());
            report.credential_detail = Some(format!("from {from}"));
            report.check("acquire", true, format!("token given ({from})"));
            return Some(token.clone());
        }
        Plan::Client {
            credential,
            kind,
            detail,
        } => {
            report.credential = Some((*kind).into());
            report.credential_detail = Some(detail.clone());
            match &settings.mode {
                Mode::Entra(e) => {
                    let endpoint = e.entra.token_endpoint();
                    ui.debug(format_args!(
                        "client credentials at {endpoint} for client {}, scope {}",
                        e.caller,
                        settings.scope.as_deref().unwrap_or("-")
                    ));
                    client
                        .client_credentials(
                            ClientCredentialsRequest {
                                token_endpoint: &endpoint,
                                client_id: &e.caller,
                                scope: settings.scope.as_deref(),
                                resource: None,
                                audience: None,
                            },
                            credential,
                        )
                        .await
                }
                Mode::Oidc(o) => {
                    let Some(client_id) = &o.client_id else {
                        report.fail(
                            Stage::Config,
                            "missing_input",
                            "missing the client id for OIDC client credentials",
                            "Set OIDC_CLIENT_ID (with OIDC_CLIENT_SECRET) or pass --caller-client-id.",
                        );
                        return None;
                    };
                    match client.discover(&o.issuer).await {
                        Ok(ep) => {
                            ui.debug(format_args!(
                                "client credentials at {} for client {}",
                                ep.token_endpoint, client_id.value
                            ));
                            client
                                .client_credentials(
                                    ClientCredentialsRequest {
                                        token_endpoint: &ep.token_endpoint,
                                        client_id: &client_id.value,
                                        scope: settings.scope.as_deref(),
                                        resource: o.resource.as_deref(),
                                        audience: None,
                                    },
                                    credential,
                                )
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
            }
        }
        Plan::DeviceCode => {
            report.credential = Some("device-code".into());
            let Mode::Entra(e) = &settings.mode else {
                return None;
            };
            report.credential_detail = Some(format!("sign-in as a person, client {}", e.caller));
            let scope = settings.scope.clone().unwrap_or_default();
            match client
                .start_device_code(&e.entra.device_code_endpoint(), &e.caller, &scope)
                .await
            {
                Ok(dc) => {
                    let msg = dc.message.clone().unwrap_or_else(|| {
                        format!(
                            "To sign in, open {} and enter the code {}",
                            dc.verification_uri, dc.user_code
                        )
                    });
                    eprintln!("{msg}");
                    eprintln!(
                        "waiting for the sign-in (the code expires in {} min)...",
                        dc.expires_in.as_secs() / 60
                    );
                    client
                        .poll_device_code(&e.entra.token_endpoint(), &e.caller, &dc)
                        .await
                }
                Err(err) => Err(err),
            }
        }
    };
    match result {
        Ok(t) => {
            let how = match plan {
                Plan::DeviceCode => "device code sign-in",
                _ => "client credentials",
            };
            report.check(
                "acquire",
                true,
                format!(
                    "{how}{}",
                    t.expires_in
                        .map(|s| format!(", expires_in {s} s"))
                        .unwrap_or_default()
                ),
            );
            Some(t.token)
        }
        Err(e) => {
            let mut message = match e.entra() {
                Some(en) => en.message.clone(),
                None => e.to_string(),
            };
            if let Some(en) = e.entra() {
                let mut ids = Vec::new();
                if let Some(t) = &en.trace_id {
                    ids.push(format!("trace id {t}"));
                }
                if let Some(c) = &en.correlation_id {
                    ids.push(format!("correlation id {c}"));
                }
                if let Some(ts) = &en.timestamp {
                    ids.push(format!("at {ts}"));
                }
                if !ids.is_empty() {
                    message.push_str(&format!(" ({})", ids.join(", ")));
                }
            }
            report.check("acquire", false, format!("failed: {}", e.code()));
            report.fail(Stage::Acquire, e.code(), message, explain::credential(&e));
            None
        }
    }
}
