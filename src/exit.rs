//! Every exit code of every verb, in one place (README's table is this enum).
//!
//! Codes 0–2 mean the same for every verb; 3–6 are each verb's failure classes, so one number can
//! name two variants that never meet (`deploy` never fails with [`Exit::TokenInvalid`]).

use std::process::ExitCode;

/// How a `cargo pmcp` run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything asked for was done.
    Success,
    /// 1: a bug, or the system failed under us.
    Unexpected,
    /// 2: usage, configuration or input: a bad flag, a missing value in CI, a deploy.toml that
    /// does not parse or holds an invalid value.
    Usage,
    /// 3 (`deploy`): `cargo build` failed or the binary could not be found.
    BuildFailed,
    /// 4 (`deploy`): upload to, or authentication with, the target failed.
    UploadFailed,
    /// 5 (`deploy`): the deployment failed or did not become ready in time.
    DeployFailed,
    /// 3 (`auth test`): no token could be acquired.
    TokenNotAcquired,
    /// 4 (`auth test`): the shared validator refused the token.
    TokenInvalid,
    /// 5 (`auth test`): the token is valid but an `--expect-*` was not met.
    ExpectationNotMet,
    /// 6 (`auth test`): a `--server-url` check failed.
    ServerCheckFailed,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Unexpected => 1,
            Exit::Usage => 2,
            Exit::BuildFailed | Exit::TokenNotAcquired => 3,
            Exit::UploadFailed | Exit::TokenInvalid => 4,
            Exit::DeployFailed | Exit::ExpectationNotMet => 5,
            Exit::ServerCheckFailed => 6,
        }
    }

    /// A stable name, the error code of a JSON failure document when the failure has no more
    /// specific one.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Unexpected => "unexpected",
            Exit::Usage => "usage",
            Exit::BuildFailed => "build_failed",
            Exit::UploadFailed => "upload_failed",
            Exit::DeployFailed => "deploy_failed",
            Exit::TokenNotAcquired => "token_not_acquired",
            Exit::TokenInvalid => "token_invalid",
            Exit::ExpectationNotMet => "expectation_not_met",
            Exit::ServerCheckFailed => "server_check_failed",
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_readme_table() {
        let readme = include_str!("../README.md");
        // One table: no blank line between the header and the last row (it would split it).
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| Code | Meaning |"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        for code in 0..=6 {
            assert!(
                table.iter().any(|l| l.starts_with(&format!("| {code} |"))),
                "README's exit-code table has no row for {code} in one piece: {table:#?}"
            );
        }
        for (exit, verb_row) in [
            (Exit::BuildFailed, "`deploy`: build failed"),
            (
                Exit::UploadFailed,
                "`deploy`: upload or authentication failed",
            ),
            (
                Exit::DeployFailed,
                "`deploy`: deployment failed or timed out",
            ),
            (
                Exit::TokenNotAcquired,
                "`auth test`: token acquisition failed",
            ),
            (Exit::TokenInvalid, "`auth test`: token invalid"),
            (
                Exit::ExpectationNotMet,
                "`auth test`: an expectation not met",
            ),
            (Exit::ServerCheckFailed, "`auth test`: a server check"),
        ] {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {} |", exit.code())) && l.contains(verb_row));
            assert!(
                row.is_some(),
                "README has no row `| {} | … {verb_row}`",
                exit.code()
            );
        }
    }
}
