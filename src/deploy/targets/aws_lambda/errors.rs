//! AWS errors as the target's errors: what failed, and what to do about it.

use super::*;

/// The error code of an AWS error (`ResourceNotFoundException`, `AccessDeniedException`, …).
pub(super) fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

pub(super) fn no_credentials() -> TargetError {
    TargetError::Auth {
        message: "no AWS credentials found".into(),
        hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (run `aws sso login` \
               for SSO profiles), or in GitHub Actions use aws-actions/configure-aws-credentials \
               with OIDC (docs/deploy.md)"
            .into(),
    }
}

/// An AWS error, in words, with what to do: access denied names the permission to add; bad or
/// missing credentials say how to give them; everything else keeps AWS's code and message.
pub fn aws_error<E, R>(action: &str, e: SdkError<E, R>) -> TargetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = code(&e).map(str::to_string);
    let message = e.message().map(str::to_string);
    match code.as_deref() {
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation") => {
            TargetError::Auth {
                message: format!(
                    "AWS refused {action}: {}",
                    message.as_deref().unwrap_or("access denied")
                ),
                hint: format!(
                    "allow `{action}` for the deploying identity (the minimal IAM policy is in \
                     docs/deploy.md, \"aws-lambda\")"
                ),
            }
        }
        Some(
            c @ ("UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"),
        ) => TargetError::Auth {
            message: format!(
                "AWS did not accept the credentials ({c}) for {action}: {}",
                message.as_deref().unwrap_or("")
            ),
            hint: "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or \
                   AWS_PROFILE (an SSO session may need `aws sso login`)"
                .into(),
        },
        Some(c) => TargetError::Upload {
            message: format!(
                "{action} failed: {c}: {}",
                message.as_deref().unwrap_or("no message")
            ),
            hint: None,
        },
        None => {
            let text = aws_smithy_error_chain(&e);
            // The credential chain found nothing (the SDK fails before sending).
            if text.contains("no credentials") || text.contains("credentials provider") {
                return no_credentials();
            }
            TargetError::Upload {
                message: format!("{action} failed: {text}"),
                hint: Some(
                    "check the network, the region and AWS_ENDPOINT_URL if you set it".into(),
                ),
            }
        }
    }
}

/// An error and its sources on one line.
pub(super) fn aws_smithy_error_chain<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    let mut out = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// An IAM error for the execution role: access denied says to grant it or to set `role_arn`.
pub(super) fn role_error<E, R>(action: &str, role: &str, e: SdkError<E, R>) -> TargetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match aws_error(action, e) {
        TargetError::Auth { message, hint } if hint.starts_with("allow") => TargetError::Auth {
            message: format!("{message} (for the execution role {role})"),
            hint: format!(
                "{hint}, or create the role once yourself and set `role_arn` in [target] of \
                 .pmcp/deploy.toml"
            ),
        },
        other => other,
    }
}
