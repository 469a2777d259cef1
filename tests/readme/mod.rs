//! README.md as a newcomer reads it: it renders (one exit-code table, every fence closed), and its
//! quickstart runs as written. The commands are read from README.md's fenced blocks (parsed with
//! pulldown-cmark), so the README and this test cannot drift: the first `sh` block of the
//! "Quickstart" section runs in a shell in a temp copy of the repository layout (as terminal 1, in
//! the background), the second once the server is ready (terminal 2), then Ctrl-C (SIGINT to
//! terminal 1's process group) must stop everything.
//!
//! docs/local.md, the same story one command at a time, runs as written too: all its `sh` blocks
//! in one shell.
//!
//! `cargo pmcp` in those blocks is the built binary (a shell function stands in for cargo's
//! subcommand lookup, which would find an installed `cargo-pmcp` first); every other `cargo`
//! command is the real cargo. `cargo install --path .` is the one line not run: it is what built
//! the binary under test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::dev::{FIRST_BUILD, Running, build_env, copy_example, processes_running_from};
use crate::support::{SCRUBBED_ENV, TestDir};

const README: &str = include_str!("../../README.md");

/// A fenced code block: its info string, its text, and the `##` section it is in.
struct Block {
    info: String,
    text: String,
    section: String,
    closed: bool,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut in_h2 = false;
    let mut current: Option<Block> = None;
    for (event, range) in Parser::new_ext(markdown, Options::ENABLE_TABLES).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                in_h2 = true;
                section.clear();
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => in_h2 = false,
            Event::Text(t) if in_h2 => section.push_str(&t),
            Event::Code(t) if in_h2 => section.push_str(&t),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let source = markdown[range].trim_end();
                current = Some(Block {
                    info: info.to_string(),
                    text: String::new(),
                    section: section.clone(),
                    // An unclosed fence runs to the end of the document.
                    closed: source.ends_with("```") && source.lines().count() >= 2,
                });
            }
            Event::Text(t) => {
                if let Some(b) = current.as_mut() {
                    b.text.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

fn quickstart() -> Vec<Block> {
    blocks(README)
        .into_iter()
        .filter(|b| b.section.starts_with("Quickstart") && b.info == "sh")
        .collect()
}

/// The rows of each table, as cell texts.
fn tables(markdown: &str) -> Vec<Vec<Vec<String>>> {
    let mut out: Vec<Vec<Vec<String>>> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => out.push(Vec::new()),
            Event::Start(Tag::TableHead | Tag::TableRow) => row = Some(Vec::new()),
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                if let (Some(t), Some(r)) = (out.last_mut(), row.take()) {
                    t.push(r);
                }
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(r), Some(c)) = (row.as_mut(), cell.take()) {
                    r.push(c);
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn readme_renders() {
    for b in blocks(README) {
        assert!(
            b.closed,
            "a fence in section `{}` is not closed:\n{}",
            b.section, b.text
        );
    }
    // The exit-code table is one table with a row for every code.
    let exit_table = tables(README)
        .into_iter()
        .find(|t| t.first().is_some_and(|h| h == &["Code", "Meaning"]))
        .expect("README has the exit-code table");
    let codes: Vec<&str> = exit_table[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "5", "6"], "{exit_table:?}");
    // One `cargo install`, in Install; it says how long and what it needs.
    assert_eq!(
        README.matches("cargo install").count(),
        1,
        "one cargo install"
    );
    let install = README.split("## Install").nth(1).unwrap();
    let install = install.split("\n## ").next().unwrap();
    assert!(
        install.contains("10 minutes") && install.contains("C compiler"),
        "{install}"
    );
    // No fixed ports in the quickstart; curl and jq are named before they are used.
    let qs = README.split("## Quickstart").nth(1).unwrap();
    let qs = qs.split("\n## ").next().unwrap();
    for port in ["8400", "8080", "8401"] {
        assert!(!qs.contains(port), "the quickstart hard-codes port {port}");
    }
    let named = qs.find("need `curl` and `jq`").expect("curl and jq named");
    let used = qs.find("curl -s").expect("curl used");
    assert!(named < used, "curl and jq are named after their first use");
    assert!(!README.contains("kill %1"), "kill %1 assumes a job number");
}

#[test]
fn docs_render() {
    for doc in [
        "docs/local.md",
        "docs/ci.md",
        "docs/deploy.md",
        "docs/emulator.md",
    ] {
        let text = std::fs::read_to_string(crate::dev::repo().join(doc)).unwrap();
        for b in blocks(&text) {
            assert!(b.closed, "{doc}: a fence is not closed:\n{}", b.text);
        }
    }
}

/// `sh -c` with `cargo pmcp` bound to the built binary and the test's CI-like environment.
fn shell(script: &str, cwd: &Path, project: &Path) -> Command {
    let prelude = format!(
        "set -eu\ncargo() {{ if [ \"${{1:-}}\" = pmcp ]; then shift; \"{}\" \"$@\"; else command cargo \"$@\"; fi; }}\n",
        env!("CARGO_BIN_EXE_cargo-pmcp")
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(cwd);
    for name in SCRUBBED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("CI", "true").env("NO_COLOR", "1");
    build_env(&mut cmd, project);
    cmd
}

#[test]
fn readme_quickstart_runs_as_written() {
    let blocks = quickstart();
    assert_eq!(
        blocks.len(),
        2,
        "the quickstart is two sh blocks: terminal 1 and terminal 2"
    );
    // A clone's layout: examples/rmcp-server in a temp dir.
    let clone = TestDir::new();
    let project = clone.path().join("examples/rmcp-server");
    copy_example(&project);

    // Terminal 1, in the background (its own process group, as a terminal's foreground job).
    let terminal1 = blocks[0].text.replace("cargo install --path .\n", "");
    assert!(terminal1.contains("cargo pmcp dev"), "{terminal1}");
    let mut cmd = shell(&terminal1, clone.path(), &project);
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut dev = Running::spawn(cmd, &project);
    let ready = dev.wait_for(FIRST_BUILD, |l| l.starts_with("MCP server ready: "));
    let url = ready.trim_start_matches("MCP server ready: ").trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{ready}");

    // Terminal 2, as written.
    let out = shell(&blocks[1].text, clone.path(), &project)
        .output()
        .expect("run terminal 2's commands");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "terminal 2 failed:\n{so}\n{se}\n-- dev:\n{}",
        dev.stderr()
    );
    assert!(so.lines().any(|l| l == "whoami"), "{so}");
    assert!(
        so.to_ascii_lowercase()
            .contains("www-authenticate: bearer resource_metadata="),
        "{so}"
    );

    // Ctrl-C in terminal 1: SIGINT to its process group; everything stops.
    // SAFETY: the process group this test started.
    unsafe {
        libc::kill(-(dev.child.id() as libc::pid_t), libc::SIGINT);
    }
    dev.wait_for(Duration::from_secs(60), |l| {
        l.starts_with("Stopped the server and the Entra emulator")
    });
    dev.wait_exit(Duration::from_secs(30));
    assert!(
        processes_running_from(&project).is_empty(),
        "left running: {:?}",
        processes_running_from(&project)
    );
    assert!(
        std::net::TcpStream::connect(url.trim_start_matches("http://").trim_end_matches("/mcp"))
            .is_err(),
        "the server still accepts after Ctrl-C"
    );
}

#[test]
fn docs_local_runs_as_written() {
    let text = std::fs::read_to_string(crate::dev::repo().join("docs/local.md")).unwrap();
    let script: Vec<String> = blocks(&text)
        .into_iter()
        .filter(|b| b.info == "sh")
        .map(|b| b.text)
        .collect();
    assert!(
        script.len() >= 6,
        "docs/local.md has its steps as sh blocks"
    );
    let clone = TestDir::new();
    let project = clone.path().join("examples/rmcp-server");
    copy_example(&project);
    let mut cmd = shell(&script.join("\n"), clone.path(), &project);
    {
        use std::os::unix::process::CommandExt;
        // Its own group: the emulators it starts with `&` are killed with it, pass or fail.
        cmd.process_group(0);
    }
    let mut run = Running::spawn(cmd, &project);
    let group = run.child.id() as libc::pid_t;
    struct KillGroup(libc::pid_t);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            // SAFETY: the process group this test started.
            unsafe {
                libc::kill(-self.0, libc::SIGKILL);
            }
        }
    }
    let _group = KillGroup(group);
    let status = run.wait_exit(FIRST_BUILD);
    let mut out = String::new();
    while let Ok(line) = run.lines.recv_timeout(Duration::from_secs(5)) {
        out.push_str(&line);
        out.push('\n');
    }
    assert!(
        status.success(),
        "docs/local.md failed ({status:?}):\n{out}\n{}",
        run.stderr()
    );
    let lower = out.to_ascii_lowercase();
    // Without a token, another tenant's token, alice on the admin tool.
    assert!(
        lower.contains("www-authenticate: bearer resource_metadata="),
        "{out}"
    );
    assert!(out.contains("error=\"invalid_token\""), "{out}");
    // The other tenant's token is refused for its tenant (same keys, as Entra), not for its key.
    assert!(
        out.contains("issuer `") && out.contains("4b7f2c1a-8d3e-4f6a-b2c9-1e0d5a7c3b02"),
        "the other tenant's token must be refused by the issuer rule: {out}"
    );
    assert!(!out.contains("no signing key"), "{out}");
    assert!(out.contains("error=\"insufficient_scope\""), "{out}");
    assert!(out.contains("alice@contoso.onmicrosoft.com"), "{out}");
    assert!(out.contains("ok: the token is valid"), "{out}");
    assert!(processes_running_from(&project).is_empty());
}
