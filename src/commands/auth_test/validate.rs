//! Checking the token with the shared validator, the code the deployed server runs, and the
//! permissions the server would grant it.

use super::report::{AuthTestReport, Stage, summary_from_entra, summary_from_map};
use super::settings::{Mode, Settings};
use crate::explain;
use pmcp_auth::{AuthContext, AuthError, EntraClaims, JwtValidator, SecretString, dangerous};

/// A token the validator accepted, and what the server would make of it.
pub(super) enum Validated {
    Entra(Box<EntraClaims>, Box<AuthContext>),
    Generic(Box<AuthContext>),
}

/// Validate `token`; the report gets the token's summary, its permissions and the verdict. `None`
/// when the validator refused it (the report then says why, with the claims marked unverified).
pub(super) async fn validate(
    settings: &Settings,
    token: &SecretString,
    report: &mut AuthTestReport,
) -> Option<Validated> {
    let validator = JwtValidator::new(settings.validator.clone());
    match &settings.mode {
        Mode::Entra(_) => match validator.validate(token.secret()).await {
            Ok(claims) => {
                report.token = Some(summary_from_entra(&claims, token));
                let ctx = AuthContext::from_entra_claims(&claims, &settings.mapper);
                report.permissions = ctx.scopes.iter().cloned().collect();
                report.check(
                    "validate",
                    true,
                    format!("accepted by the shared validator (issuer {})", claims.iss),
                );
                Some(Validated::Entra(Box::new(claims), Box::new(ctx)))
            }
            Err(e) => {
                validation_failed(report, token, &e, settings.validator.client_id.as_deref());
                None
            }
        },
        Mode::Oidc(_) => match validator.validate_generic(token.secret()).await {
            Ok(map) => {
                let summary = summary_from_map(&map, token, true);
                // The permissions the server's OIDC layer grants (roles, scp/scope, permissions),
                // plus the group mapping of this run's configuration.
                let mut ctx = AuthContext::from_oidc_claims(&map);
                ctx.scopes
                    .extend(settings.mapper.permissions_for_groups(&summary.groups));
                report.permissions = ctx.scopes.iter().cloned().collect();
                report.check(
                    "validate",
                    true,
                    format!(
                        "accepted by the shared validator (issuer {})",
                        summary.issuer.as_deref().unwrap_or("-")
                    ),
                );
                report.token = Some(summary);
                Some(Validated::Generic(Box::new(ctx)))
            }
            Err(e) => {
                validation_failed(report, token, &e, settings.validator.client_id.as_deref());
                None
            }
        },
    }
}

fn validation_failed(
    report: &mut AuthTestReport,
    token: &SecretString,
    e: &AuthError,
    client_id: Option<&str>,
) {
    if let Ok(u) = dangerous::decode_unverified(token.secret()) {
        report.token = Some(summary_from_map(&u.claims, token, false));
    }
    report.check("validate", false, format!("rejected: {}", e.code()));
    report.fail(
        Stage::Validate,
        e.code(),
        e.to_string(),
        explain::auth_error(e, client_id),
    );
}
