//! The CloudFormation template pmcp.run deploys, rendered here with serde_json (no CDK, no Node):
//!
//! - `Description` `MCP Server: {name}`; `Metadata` `mcp:version`, `mcp:serverType`,
//!   `mcp:serverId`, `mcp:resources` (the names of the declared secrets, never values),
//!   `mcp:capabilities`; no `Parameters`.
//! - `McpFunction` (`AWS::Lambda::Function`, `provided.al2023`, handler `bootstrap`, the binary's
//!   architecture, memory and timeout from deploy.toml, a placeholder `Code` the service replaces
//!   with the uploaded binary, JSON logs, the execution role, tags) whose `Environment.Variables`
//!   are `PMCP_SERVER_ID`, the Entra/OIDC variables and `[environment]` — never a secret.
//! - `ExecutionRole` (trusted by Lambda, with `AWSLambdaBasicExecutionRole`), `LogGroup`
//!   (`/aws/lambda/{name}`, 7 days), `Outputs` `LambdaArn` and `LambdaName`.
//!
//! Keys are sorted (serde_json maps), so the same inputs always give the same bytes.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The Lambda runtime the service runs `bootstrap` in (glibc 2.34).
pub const RUNTIME: &str = "provided.al2023";
/// The placeholder bucket of `Code`: the service deploys what was uploaded to `bootstrapS3Key`.
pub const PENDING_BUCKET: &str = "pmcp-run-pending-upload";
/// Lambda's limit on the size of a function's environment (names and values), in bytes.
pub const LAMBDA_ENV_LIMIT: usize = 4096;
/// Lambda's memory range, in MB.
pub const MEMORY_RANGE: std::ops::RangeInclusive<u32> = 128..=10240;
/// Lambda's timeout range, in seconds.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 1..=900;

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    /// The name in `Architectures`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// ELF `e_machine` of x86-64.
const EM_X86_64: u16 = 62;
/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;

/// The architecture of the Linux executable whose first bytes are `head` (at least 20), read
/// from the ELF header's machine field.
pub fn arch_of_bytes(head: &[u8]) -> Result<Arch, String> {
    if head.len() < 20 || head[..4] != *b"\x7fELF" {
        let what = match head.get(..4) {
            Some(
                [0xcf, 0xfa, 0xed, 0xfe] | [0xfe, 0xed, 0xfa, 0xcf] | [0xca, 0xfe, 0xba, 0xbe],
            ) => "a macOS (Mach-O) executable",
            Some([b'M', b'Z', ..]) => "a Windows (PE) executable",
            _ => "not an ELF executable",
        };
        return Err(format!(
            "it is {what}; pmcp.run runs Linux binaries ({RUNTIME})"
        ));
    }
    if head[4] != 2 {
        return Err("it is a 32-bit ELF executable; Lambda runs 64-bit x86_64 or arm64".into());
    }
    let machine = match head[5] {
        1 => u16::from_le_bytes([head[18], head[19]]),
        2 => u16::from_be_bytes([head[18], head[19]]),
        d => return Err(format!("its ELF header has an unknown byte order ({d})")),
    };
    match machine {
        EM_X86_64 => Ok(Arch::X86_64),
        EM_AARCH64 => Ok(Arch::Arm64),
        m => Err(format!(
            "it is built for ELF machine {m}; Lambda runs x86_64 (62) or aarch64 (183)"
        )),
    }
}

/// The architecture of the executable at `path`.
pub fn arch_of(path: &Path) -> Result<Arch, String> {
    use std::io::Read;
    let mut head = [0u8; 20];
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("cannot read it: {e}")),
        }
    }
    arch_of_bytes(&head[..n])
}

/// The glibc the runtime has (Amazon Linux 2023): a binary that needs a newer one does not start.
pub const RUNTIME_GLIBC: (u32, u32) = (2, 34);

/// The newest `GLIBC_2.N` symbol version the executable at `path` refers to (`None` for a static or
/// musl binary). A byte scan, not an ELF parse: the version names are plain strings in
/// `.gnu.version_r`, and a false match could only make the answer newer, never hide a need.
pub fn required_glibc(path: &Path) -> std::io::Result<Option<(u32, u32)>> {
    use std::io::Read;
    const NEEDLE: &[u8] = b"GLIBC_2.";
    let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut buf = vec![0u8; 1 << 20];
    // The last bytes of the previous chunk, so a name split across two reads is still found.
    let mut carry: Vec<u8> = Vec::new();
    let mut best: Option<(u32, u32)> = None;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut hay = std::mem::take(&mut carry);
        hay.extend_from_slice(&buf[..n]);
        let mut i = 0;
        while let Some(p) = hay[i..].iter().position(|&b| b == b'G') {
            let at = i + p;
            if hay[at..].starts_with(NEEDLE) {
                let digits: Vec<u8> = hay[at + NEEDLE.len()..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .copied()
                    .collect();
                if let Some(minor) = std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| d.parse::<u32>().ok())
                {
                    best = best.max(Some((2, minor)));
                }
            }
            i = at + 1;
        }
        let keep = hay.len().saturating_sub(NEEDLE.len() + 4);
        carry = hay[keep..].to_vec();
    }
    Ok(best)
}

/// True for a name Lambda accepts as `FunctionName`: 1–64 of `A-Za-z0-9-_`.
pub fn is_valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What the template is rendered from.
#[derive(Debug, Clone)]
pub struct TemplateInput<'a> {
    /// `[server] name`: the function name, `PMCP_SERVER_ID` and `mcp:serverId`.
    pub name: &'a str,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub arch: Arch,
    /// The non-secret environment (Entra/OIDC variables and `[environment]`).
    pub environment: &'a BTreeMap<String, String>,
    /// The names of the declared secrets (set with `setServerSecret`, never in the template's
    /// environment).
    pub secret_names: &'a [String],
}

/// The function's environment: `PMCP_SERVER_ID` and the non-secret variables; a name that is also
/// a declared secret is left out (deploy.toml's checks refuse that case before this).
pub fn function_environment(i: &TemplateInput<'_>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = i
        .environment
        .iter()
        .filter(|(k, _)| !i.secret_names.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.insert("PMCP_SERVER_ID".into(), i.name.to_string());
    vars
}

/// Bytes the environment takes against Lambda's 4 KB limit.
pub fn environment_size(vars: &BTreeMap<String, String>) -> usize {
    vars.iter().map(|(k, v)| k.len() + v.len()).sum()
}

fn tags(name: &str) -> Value {
    json!([
        {"Key": "managed-by", "Value": "pmcp"},
        {"Key": "service", "Value": name},
        {"Key": "target", "Value": "pmcp-run"},
    ])
}

/// The template as a JSON value.
pub fn render_value(i: &TemplateInput<'_>) -> Value {
    let name = i.name;
    let variables: Map<String, Value> = function_environment(i)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let resources = if i.secret_names.is_empty() {
        json!({})
    } else {
        json!({
            "secrets": i.secret_names.iter().map(|n| json!({
                "name": n,
                "required": true,
                "env_var": n,
            })).collect::<Vec<_>>()
        })
    };
    json!({
        "Description": format!("MCP Server: {name}"),
        "Metadata": {
            "mcp:version": "1.0",
            "mcp:serverType": "custom",
            "mcp:serverId": name,
            "mcp:resources": resources,
            "mcp:capabilities": {"resources": false, "composition": false},
        },
        "Resources": {
            "McpFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": name,
                    "Runtime": RUNTIME,
                    "Handler": "bootstrap",
                    "Architectures": [i.arch.as_str()],
                    "MemorySize": i.memory_mb,
                    "Timeout": i.timeout_seconds,
                    "Code": {
                        "S3Bucket": PENDING_BUCKET,
                        "S3Key": format!("{name}/bootstrap.zip"),
                    },
                    "Role": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                    "Environment": {"Variables": variables},
                    "LoggingConfig": {"LogFormat": "JSON"},
                    "Tags": tags(name),
                },
            },
            "ExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }],
                    },
                    "ManagedPolicyArns": [{
                        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    }],
                    "Tags": tags(name),
                },
            },
            "LogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": format!("/aws/lambda/{name}"),
                    "RetentionInDays": 7,
                    "Tags": tags(name),
                },
            },
        },
        "Outputs": {
            "LambdaArn": {
                "Description": "MCP Server Lambda ARN",
                "Value": {"Fn::GetAtt": ["McpFunction", "Arn"]},
            },
            "LambdaName": {
                "Description": "MCP Server Lambda Name",
                "Value": {"Ref": "McpFunction"},
            },
        },
    })
}

/// The template, pretty-printed, with a final newline.
pub fn render(i: &TemplateInput<'_>) -> String {
    let mut v = render_value(i);
    // Keys sorted explicitly: serde_json keeps insertion order when any crate in the build turns
    // on its `preserve_order` feature (the pmcp SDK does, in the workspace's test build), and the
    // same inputs must give the same bytes in every build.
    v.sort_all_objects();
    let mut s = serde_json::to_string_pretty(&v).expect("a serde_json::Value always serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        let m = if data == 2 {
            machine.to_be_bytes()
        } else {
            machine.to_le_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn architecture_comes_from_the_elf_machine_field() {
        assert_eq!(arch_of_bytes(&elf(2, 1, 62)), Ok(Arch::X86_64));
        assert_eq!(arch_of_bytes(&elf(2, 1, 183)), Ok(Arch::Arm64));
        assert_eq!(arch_of_bytes(&elf(2, 2, 183)), Ok(Arch::Arm64));
        assert!(arch_of_bytes(&elf(1, 1, 3)).unwrap_err().contains("32-bit"));
        assert!(arch_of_bytes(&elf(2, 1, 243)).unwrap_err().contains("243"));
        assert!(
            arch_of_bytes(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])
                .unwrap_err()
                .contains("Mach-O")
        );
        assert!(
            arch_of_bytes(b"MZ\x90\x00")
                .unwrap_err()
                .contains("Windows")
        );
        assert!(arch_of_bytes(b"#!/bin/sh\n").is_err());
        // The test binary itself.
        let me = std::env::current_exe().unwrap();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(arch_of(&me), Ok(Arch::X86_64));
        } else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
            assert_eq!(arch_of(&me), Ok(Arch::Arm64));
        }
    }

    #[test]
    fn the_newest_glibc_version_is_found_even_across_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        let mut bytes = vec![0u8; (1 << 20) - 5];
        bytes.extend_from_slice(b"GLIBC_2.39\0GLIBC_2.2.5\0GLIBC_2.34\0");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(required_glibc(&p).unwrap(), Some((2, 39)));
        std::fs::write(&p, b"static, no versions").unwrap();
        assert_eq!(required_glibc(&p).unwrap(), None);
    }

    #[test]
    fn function_names() {
        assert!(is_valid_function_name("tiny-server_2"));
        assert!(!is_valid_function_name("tiny.server"));
        assert!(!is_valid_function_name(""));
        assert!(!is_valid_function_name(&"a".repeat(65)));
    }

    fn entra_env() -> BTreeMap<String, String> {
        [
            ("AUTH_AUDIENCE", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
            (
                "AUTH_ISSUER",
                "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
            ),
            ("AUTH_PROVIDER", "entra"),
            ("ENTRA_CLIENT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
            ("ENTRA_TENANT_ID", "11111111-2222-3333-4444-555555555555"),
            ("LOG_LEVEL", "debug"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The whole template, pinned: a change to what pmcp.run receives shows up in review.
    #[test]
    fn template_snapshot() {
        let env = entra_env();
        let secrets = vec!["ENTRA_CLIENT_SECRET".to_string()];
        let t = render(&TemplateInput {
            name: "tiny-server",
            memory_mb: 256,
            timeout_seconds: 45,
            arch: Arch::Arm64,
            environment: &env,
            secret_names: &secrets,
        });
        insta::assert_snapshot!("pmcp_run_template", t);
    }

    #[test]
    fn the_function_environment_has_the_variables_and_no_secret() {
        let mut env = entra_env();
        env.insert("ENTRA_CLIENT_SECRET".into(), "leaked?".into());
        let secrets = vec!["ENTRA_CLIENT_SECRET".to_string()];
        let v = render_value(&TemplateInput {
            name: "s",
            memory_mb: 512,
            timeout_seconds: 30,
            arch: Arch::X86_64,
            environment: &env,
            secret_names: &secrets,
        });
        let vars = &v["Resources"]["McpFunction"]["Properties"]["Environment"]["Variables"];
        assert_eq!(vars["PMCP_SERVER_ID"], "s");
        assert_eq!(
            vars["ENTRA_TENANT_ID"],
            "11111111-2222-3333-4444-555555555555"
        );
        assert!(vars.get("ENTRA_CLIENT_SECRET").is_none());
        assert!(!v.to_string().contains("leaked?"));
        assert_eq!(
            v["Resources"]["McpFunction"]["Properties"]["Architectures"],
            json!(["x86_64"])
        );
        assert_eq!(
            v["Resources"]["McpFunction"]["Properties"]["MemorySize"],
            512
        );
        assert!(v.get("Parameters").is_none());
    }
}
