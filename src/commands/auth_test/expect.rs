//! The `--expect-*` expectations, checked against the validated token.

use super::args::TestArgs;
use super::report::{AuthTestReport, Stage};
use super::validate::Validated;

/// Check each `--expect-*`; the report gets one check per expectation and, when any is unmet, the
/// failure naming them all.
pub(super) fn expectations(args: &TestArgs, v: &Validated, report: &mut AuthTestReport) {
    let (roles, scopes, groups, overage): (Vec<String>, Vec<String>, Vec<String>, bool) = {
        let t = report.token.clone().unwrap_or_default();
        (t.roles, t.scopes, t.groups, t.groups_overage)
    };
    let mut failed: Vec<String> = Vec::new();
    for r in &args.expect_roles {
        let ok = match v {
            Validated::Entra(c, _) => c.has_role(r),
            Validated::Generic(_) => roles.iter().any(|x| x == r),
        };
        let detail = if ok {
            "present in roles".to_string()
        } else {
            format!("not in roles [{}]", roles.join(", "))
        };
        report.check(format!("role {r}"), ok, detail);
        if !ok {
            failed.push(format!("role `{r}`"));
        }
    }
    for s in &args.expect_scopes {
        let ok = scopes.iter().any(|x| x == s);
        let detail = if ok {
            "present in scp".to_string()
        } else if scopes.is_empty() {
            "the token has no delegated scopes (app-only tokens carry roles, not scp)".to_string()
        } else {
            format!("not in scp [{}]", scopes.join(", "))
        };
        report.check(format!("scope {s}"), ok, detail);
        if !ok {
            failed.push(format!("scope `{s}`"));
        }
    }
    for g in &args.expect_groups {
        let ok = match v {
            Validated::Entra(c, _) => c.in_group(g),
            Validated::Generic(_) => groups.iter().any(|x| x.eq_ignore_ascii_case(g)),
        };
        let detail = if ok {
            "member".to_string()
        } else if overage {
            "unknown: the token is in groups overage (too many groups to list); resolve membership through Microsoft Graph, or assign the group to the app so only it is emitted".to_string()
        } else {
            format!("not in groups [{}]", groups.join(", "))
        };
        report.check(format!("group {g}"), ok, detail);
        if !ok {
            failed.push(format!("group `{g}`"));
        }
    }
    for p in &args.expect_permissions {
        let ok = match v {
            Validated::Entra(_, ctx) | Validated::Generic(ctx) => ctx.has_permission(p),
        };
        let detail = if ok {
            "granted".to_string()
        } else {
            format!(
                "not granted (permissions: [{}])",
                report.permissions.join(", ")
            )
        };
        report.check(format!("permission {p}"), ok, detail);
        if !ok {
            failed.push(format!("permission `{p}`"));
        }
    }
    if !failed.is_empty() {
        report.fail(
            Stage::Expect,
            "expectation_not_met",
            format!("the token is valid but lacks {}", failed.join(", ")),
            "Assign the app role to the caller (Enterprise applications → the API → Users and groups, or API permissions → Application permissions + admin consent for an app), the delegated scope under Expose an API, or the group mapping in [auth.entra.group_permissions].",
        );
    }
}
