//! One resolver for the inputs of every verb (`deploy init`, `deploy`, `auth test`).
//!
//! Each input is declared once, in [`super::inputs`], as an [`Input`]: its human name, its
//! deploy.toml key, its flag, its canonical environment variable and the documented aliases. A
//! verb asks the [`Resolver`] for a value with [`Resolver::input`], says what it has (the flag's
//! value, a default, a prompt, a validator) and gets back the value, or `None` when it is missing
//! or invalid. The order is always:
//!
//! 1. the flag (`--tenant-id`);
//! 2. the environment: the canonical variable, then each alias (`ENTRA_TENANT_ID`, then
//!    `AZURE_TENANT_ID`); blank values count as unset;
//! 3. `.pmcp/deploy.toml` (the [`Loaded`] file, parsed once; a blank string counts as unset);
//! 4. a prompt, only when prompts are allowed (a terminal, `CI` unset) and the verb gave one
//!    (with `--yes`, an input that has a default takes it without asking);
//! 5. the default, with the reason it is the default.
//!
//! Every value that was not typed on the command line (or into a prompt) is logged with its
//! source, `using auth.tenant_id = … (AZURE_TENANT_ID)`, so a CI log shows every choice. Missing
//! and invalid values are collected, not returned one at a time: [`Resolver::check`] reports all of
//! them at once as [`Problems`] (each missing input with its flag and variables, each invalid value
//! with where it came from: `.pmcp/deploy.toml:7: auth.tenant_id …`, the flag, or the variable).
//!
//! ```
//! use cargo_pmcp::config::{inputs, resolve::Resolver};
//!
//! let env = |name: &str| (name == "AZURE_TENANT_ID").then(|| "contoso.com".to_string());
//! let mut r = Resolver::new(None).with_env(env);
//! let tenant = r.input(&inputs::TENANT_ID).flag(None).get();
//! assert_eq!(tenant.as_deref(), Some("contoso.com"));
//! assert_eq!(r.source(&inputs::TENANT_ID).unwrap().to_string(), "AZURE_TENANT_ID");
//! let client = r.input(&inputs::CLIENT_ID).get();
//! assert!(client.is_none());
//! let problems = r.check().unwrap_err();
//! assert!(problems.to_string().contains("--client-id or ENTRA_CLIENT_ID (or AZURE_CLIENT_ID)"));
//! ```

use super::{DEPLOY_TOML, Loaded, Location};
use crate::ui::Ui;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// One input of the command line, declared once in [`super::inputs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// Human name, for lists of missing values (`tenant id`).
    pub name: &'static str,
    /// The dotted deploy.toml key (`auth.tenant_id`), when the file holds this input. It also names
    /// the input in logs and in the `sources` map.
    pub key: Option<&'static str>,
    /// The flag (`--tenant-id`), when there is one.
    pub flag: Option<&'static str>,
    /// The canonical environment variable (`ENTRA_TENANT_ID`).
    pub env: Option<&'static str>,
    /// Other variables accepted for it, in order, after [`Input::env`] (`AZURE_TENANT_ID`; older
    /// names that keep working).
    pub aliases: &'static [&'static str],
}

impl Input {
    /// How logs and the `sources` map name the input: its deploy.toml key, else its name.
    pub fn label(&self) -> &'static str {
        self.key.unwrap_or(self.name)
    }

    /// The canonical variable, then the aliases.
    pub fn env_names(&self) -> Vec<&'static str> {
        self.env.iter().chain(self.aliases).copied().collect()
    }

    /// How to give the input: `--tenant-id or ENTRA_TENANT_ID (or AZURE_TENANT_ID)`.
    pub fn how_to_give(&self) -> String {
        let envs = self.env_names();
        let env_text = match envs.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            [first, rest @ ..] => Some(format!("{first} (or {})", rest.join(", "))),
        };
        match (self.flag, env_text) {
            (Some(f), Some(e)) => format!("{f} or {e}"),
            (Some(f), None) => f.to_string(),
            (None, Some(e)) => e,
            (None, None) => match self.key {
                Some(k) => format!("{k} in {DEPLOY_TOML}"),
                None => self.name.to_string(),
            },
        }
    }

    fn file_path(&self) -> Option<Vec<&'static str>> {
        self.key.map(|k| k.split('.').collect())
    }
}

/// Where a value came from; named in logs, in `--json` results and in validation errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A flag (`--tenant-id`, or another flag that sets it, such as `--cloud`).
    Flag(&'static str),
    /// An environment variable (the canonical one or an alias).
    Env(&'static str),
    /// `.pmcp/deploy.toml`, at this position.
    File(Location),
    /// Typed into a prompt.
    Prompt,
    /// The default, with the reason (`public cloud`).
    Default(String),
}

impl Source {
    /// True for values the user typed in this run (a flag or a prompt): those are not logged.
    pub fn is_typed(&self) -> bool {
        matches!(self, Source::Flag(_) | Source::Prompt)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(n) | Source::Env(n) => f.write_str(n),
            Source::File(l) => f.write_str(&l.line_only()),
            Source::Prompt => f.write_str("prompt"),
            Source::Default(why) => write!(f, "default: {why}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T = String> {
    pub value: T,
    pub source: Source,
}

/// An invalid value: which input, where it came from, what it was and why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub input: &'static Input,
    pub source: Source,
    pub value: String,
    pub why: String,
}

impl fmt::Display for Invalid {
    /// `.pmcp/deploy.toml:7: auth.tenant_id `x`: why`, `--tenant-id `x`: why`,
    /// `ENTRA_TENANT_ID `x`: why`, or `server name `x` (default: …): why`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v, why) = (&self.value, &self.why);
        match &self.source {
            Source::File(loc) => write!(
                f,
                "{}: {} `{v}`: {why}",
                loc.line_only(),
                self.input.label()
            ),
            Source::Default(d) => write!(f, "{} `{v}` ({d}): {why}", self.input.name),
            other => write!(f, "{other} `{v}`: {why}"),
        }
    }
}

/// Every missing and invalid input of one run, reported at once (exit 2).
#[derive(Debug, Clone, PartialEq)]
pub struct Problems {
    /// Inputs with no value from any source, in the order they were asked for.
    pub missing: Vec<&'static Input>,
    /// Values that failed their validation (or a check across inputs).
    pub invalid: Vec<Invalid>,
    /// Prompts were allowed (changes the wording: "not asking" in CI).
    pub prompts_allowed: bool,
}

impl Problems {
    /// True when `input` is among the missing ones.
    pub fn is_missing(&self, input: &'static Input) -> bool {
        self.missing.contains(&input)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.missing.is_empty() {
            f.write_str(if self.prompts_allowed {
                "missing values:"
            } else {
                "missing values (not asking: no terminal, or CI is set):"
            })?;
            for m in &self.missing {
                write!(f, "\n  {:<16} {}", m.name, m.how_to_give())?;
            }
            for i in &self.invalid {
                write!(f, "\n  invalid: {i}")?;
            }
            return Ok(());
        }
        match self.invalid.as_slice() {
            [] => Ok(()),
            [one] => write!(f, "invalid value: {one}"),
            many => {
                f.write_str("invalid values:")?;
                for i in many {
                    write!(f, "\n  {i}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Problems {}

/// An environment lookup: the process environment, or a map in tests.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + Send + Sync + 'a>;

/// Resolves inputs flag > environment > deploy.toml > prompt > default; logs each value's source and
/// collects what is missing or invalid. See the [module documentation](self).
pub struct Resolver<'a> {
    env: Lookup<'a>,
    file: Option<&'a Loaded>,
    terminal: bool,
    yes: bool,
    ui: Option<&'a Ui>,
    logged: Vec<String>,
    missing: Vec<&'static Input>,
    invalid: Vec<Invalid>,
    sources: BTreeMap<&'static str, Source>,
}

impl fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("file", &self.file.map(|l| &l.path))
            .field("prompts_allowed", &self.prompts_allowed())
            .field("yes", &self.yes)
            .field("missing", &self.missing)
            .field("invalid", &self.invalid)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl<'a> Resolver<'a> {
    /// A resolver over the process environment and `file` (already loaded, or `None`): no prompts,
    /// no log output (the log lines are still kept, see [`Resolver::logged`]).
    pub fn new(file: Option<&'a Loaded>) -> Self {
        Self {
            env: Box::new(|name| std::env::var(name).ok()),
            file,
            terminal: false,
            yes: false,
            ui: None,
            logged: Vec::new(),
            missing: Vec::new(),
            invalid: Vec::new(),
            sources: BTreeMap::new(),
        }
    }

    /// The usual resolver of a verb: prompts when `ui` is interactive, log lines through
    /// [`Ui::chose`].
    pub fn for_ui(ui: &'a Ui, file: Option<&'a Loaded>) -> Self {
        Self::new(file).interactive(ui.interactive).log_to(ui)
    }

    /// Read variables through `lookup` instead of the process environment (tests, embedding).
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'a) -> Self {
        self.env = Box::new(lookup);
        self
    }

    /// Whether stdin and stdout are a terminal. Prompts are allowed only then, and only when `CI`
    /// is unset (empty, `0` or `false` count as unset), read through the same lookup as the inputs.
    pub fn interactive(mut self, terminal: bool) -> Self {
        self.terminal = terminal;
        self
    }

    /// `--yes`: an input with a default takes it without a prompt.
    pub fn assume_yes(mut self, yes: bool) -> Self {
        self.yes = yes;
        self
    }

    /// Print each "using … (source)" line with [`Ui::chose`].
    pub fn log_to(mut self, ui: &'a Ui) -> Self {
        self.ui = Some(ui);
        self
    }

    /// True when prompts may be shown: a terminal and `CI` unset.
    pub fn prompts_allowed(&self) -> bool {
        self.terminal && !ci_set((self.env)("CI").as_deref())
    }

    /// Start resolving `input`; finish with [`Query::get`] or [`Query::parse`].
    pub fn input<'r>(&'r mut self, input: &'static Input) -> Query<'r, 'a> {
        Query {
            r: self,
            input,
            flag: None,
            default: None,
            prompt: None,
            file_value: None,
            aliases_after_file: false,
            optional: false,
        }
    }

    /// The value of `input` from the flag, the environment or the file, without prompting, default,
    /// validation or bookkeeping (to know whether a default is needed at all).
    pub fn given(&self, input: &'static Input, flag: Option<&str>) -> Option<Sourced> {
        if let (Some(v), Some(name)) = (flag, input.flag) {
            return Some(Sourced {
                value: v.trim().to_string(),
                source: Source::Flag(name),
            });
        }
        self.env_value(&input.env_names())
            .or_else(|| self.file.and_then(|l| file_value(l, input)))
    }

    /// Where the value of `input` came from, once resolved.
    pub fn source(&self, input: &Input) -> Option<&Source> {
        self.sources.get(input.label())
    }

    /// Every resolved input's source, by [`Input::label`].
    pub fn sources(&self) -> &BTreeMap<&'static str, Source> {
        &self.sources
    }

    /// The "using … (source)" lines, in order (also printed when logging to a [`Ui`]).
    pub fn logged(&self) -> &[String] {
        &self.logged
    }

    /// Record a value refused by a check across inputs (e.g. allowed tenants without
    /// multi-tenant); reported with the others by [`Resolver::check`].
    pub fn reject(
        &mut self,
        input: &'static Input,
        source: Source,
        value: impl Into<String>,
        why: impl Into<String>,
    ) {
        self.invalid.push(Invalid {
            input,
            source,
            value: value.into(),
            why: why.into(),
        });
    }

    /// `Err` with every missing and invalid input so far (and forgets them), `Ok` when there are
    /// none.
    pub fn check(&mut self) -> Result<(), Problems> {
        if self.missing.is_empty() && self.invalid.is_empty() {
            return Ok(());
        }
        Err(Problems {
            missing: std::mem::take(&mut self.missing),
            invalid: std::mem::take(&mut self.invalid),
            prompts_allowed: self.prompts_allowed(),
        })
    }

    /// The sources map, consuming the resolver.
    pub fn into_sources(self) -> BTreeMap<&'static str, Source> {
        self.sources
    }

    fn env_value(&self, names: &[&'static str]) -> Option<Sourced> {
        names.iter().find_map(|name| {
            (self.env)(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| Sourced {
                    value: v.trim().to_string(),
                    source: Source::Env(name),
                })
        })
    }

    fn log(&mut self, input: &Input, value: &str, source: &Source) {
        let source = source.to_string();
        if let Some(ui) = self.ui {
            ui.chose(input.label(), value, &source);
        }
        self.logged
            .push(format!("using {} = {value} ({source})", input.label()));
    }
}

/// A prompt: given the default (if any), the answer, or `None` when the user cancelled.
type Prompt<'r> = Box<dyn Fn(Option<&str>) -> Option<String> + 'r>;
/// Reads an input's value from the file in a way its key alone does not say.
type FileReader<'r> = Box<dyn FnOnce(&Loaded) -> Option<(String, Location)> + 'r>;

/// One input being resolved: built with [`Resolver::input`], finished with [`Query::get`],
/// [`Query::parse`] or [`Query::sourced`].
#[must_use = "a query does nothing until get, parse or sourced"]
pub struct Query<'r, 'a> {
    r: &'r mut Resolver<'a>,
    input: &'static Input,
    flag: Option<(&'static str, String)>,
    default: Option<(String, String)>,
    prompt: Option<Prompt<'r>>,
    file_value: Option<FileReader<'r>>,
    aliases_after_file: bool,
    optional: bool,
}

impl<'r> Query<'r, '_> {
    /// The value of the input's own flag, if it was given.
    pub fn flag(self, value: Option<&str>) -> Self {
        let name = self.input.flag.unwrap_or(self.input.name);
        self.flag_named(name, value)
    }

    /// The value of another flag that sets this input (`--cloud` sets the authority host). The
    /// first flag given wins.
    pub fn flag_named(mut self, name: &'static str, value: Option<&str>) -> Self {
        if self.flag.is_none()
            && let Some(v) = value
        {
            self.flag = Some((name, v.trim().to_string()));
        }
        self
    }

    /// The default and why it is the default (`"public cloud"`); logged as `default: why`.
    pub fn default(mut self, value: impl Into<String>, why: impl Into<String>) -> Self {
        self.default = Some((value.into(), why.into()));
        self
    }

    /// [`Query::default`] when there is one.
    pub fn default_opt(mut self, default: Option<(String, String)>) -> Self {
        self.default = default;
        self
    }

    /// Ask on a terminal when no flag, variable or file gives the value. `ask` gets the default
    /// and returns the answer (`None`: cancelled, the input is then missing). Never called when
    /// prompts are not allowed.
    pub fn prompt(mut self, ask: impl Fn(Option<&str>) -> Option<String> + 'r) -> Self {
        self.prompt = Some(Box::new(ask));
        self
    }

    /// Read the file's value with `read` instead of at the input's key (for values derived from
    /// several keys, such as the provider, which `enabled = false` turns into `none`).
    pub fn file_value(
        mut self,
        read: impl FnOnce(&Loaded) -> Option<(String, Location)> + 'r,
    ) -> Self {
        self.file_value = Some(Box::new(read));
        self
    }

    /// Consult the aliases only after deploy.toml (for an alias that often names something else:
    /// in CI `AZURE_CLIENT_ID` is usually the caller, not the API).
    pub fn aliases_after_file(mut self) -> Self {
        self.aliases_after_file = true;
        self
    }

    /// No value at all is fine: `None` without counting the input as missing.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The value as given (trimmed), unvalidated.
    pub fn get(self) -> Option<String> {
        self.parse(|v| Ok(v.to_string()))
    }

    /// The value checked (and normalised, or converted) by `check`, which sees the value of every
    /// source alike, defaults included. An error is recorded with the value's source.
    pub fn parse<T: fmt::Display>(self, check: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        self.sourced(check).map(|s| s.value)
    }

    /// [`Query::parse`], with the source.
    pub fn sourced<T: fmt::Display>(
        self,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Sourced<T>> {
        let Query {
            r,
            input,
            flag,
            default,
            prompt,
            file_value: reader,
            aliases_after_file,
            optional,
        } = self;
        let (early, late): (Vec<_>, Vec<_>) = if aliases_after_file {
            (input.env.into_iter().collect(), input.aliases.to_vec())
        } else {
            (input.env_names(), Vec::new())
        };
        let given = match flag {
            Some((name, value)) => Some(Sourced {
                value,
                source: Source::Flag(name),
            }),
            None => r
                .env_value(&early)
                .or_else(|| {
                    let file = r.file?;
                    match reader {
                        Some(read) => read(file).map(|(value, loc)| Sourced {
                            value,
                            source: Source::File(loc),
                        }),
                        None => file_value(file, input),
                    }
                })
                .or_else(|| r.env_value(&late)),
        };
        let got = match (given, prompt) {
            (Some(g), _) => Some(g),
            (None, Some(ask)) if r.prompts_allowed() && !(r.yes && default.is_some()) => {
                ask(default.as_ref().map(|(v, _)| v.as_str())).map(|value| Sourced {
                    value: value.trim().to_string(),
                    source: Source::Prompt,
                })
            }
            (None, _) => default.map(|(value, why)| Sourced {
                value,
                source: Source::Default(why),
            }),
        };
        let Some(got) = got else {
            if !optional {
                r.missing.push(input);
            }
            return None;
        };
        match check(&got.value) {
            Ok(value) => {
                if !got.source.is_typed() {
                    r.log(input, &value.to_string(), &got.source);
                }
                r.sources.insert(input.label(), got.source.clone());
                Some(Sourced {
                    value,
                    source: got.source,
                })
            }
            Err(why) => {
                r.reject(input, got.source, got.value, why);
                None
            }
        }
    }
}

/// The value written in the file at the input's key, as text: strings as they are, booleans and
/// numbers as written, arrays of strings comma-joined. A blank string counts as not written; an
/// empty array is a value (the empty list).
fn file_value(file: &Loaded, input: &Input) -> Option<Sourced> {
    let keys = input.file_path()?;
    let value = file.item(&keys)?.as_value()?;
    let text = match value {
        toml_edit::Value::String(s) => s.value().clone(),
        toml_edit::Value::Boolean(b) => b.value().to_string(),
        toml_edit::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string().trim().to_string(),
    };
    if text.trim().is_empty() && !value.is_array() {
        return None;
    }
    Some(Sourced {
        value: text,
        source: Source::File(file.locate(&keys)?),
    })
}

/// `CI` set to anything but empty, `0` or `false` (the same rule as [`crate::ui::is_ci`]).
fn ci_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
}

#[cfg(test)]
mod tests {
    use super::super::inputs::*;
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TENANT: &str = "11111111-2222-3333-4444-555555555555";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn loaded(text: &str) -> Loaded {
        super::super::parse_with_warnings(Path::new(".pmcp/deploy.toml"), text.to_string()).unwrap()
    }

    fn guid(v: &str) -> Result<String, String> {
        if pmcp_auth::entra::is_guid(v) {
            Ok(v.to_ascii_lowercase())
        } else {
            Err("expected a GUID".into())
        }
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = loaded("[auth]\ntenant_id = \"from-file\"\n");
        let all = env(&[
            ("ENTRA_TENANT_ID", "from-entra"),
            ("AZURE_TENANT_ID", "from-azure"),
        ]);
        let mut r = Resolver::new(Some(&file)).with_env(all);
        let v = r
            .input(&TENANT_ID)
            .flag(Some(" from-flag "))
            .default("d", "why")
            .get();
        assert_eq!(v.as_deref(), Some("from-flag"));
        assert_eq!(r.source(&TENANT_ID), Some(&Source::Flag("--tenant-id")));
        // A typed value is not logged.
        assert!(r.logged().is_empty());

        let v = r.input(&TENANT_ID).flag(None).default("d", "why").get();
        assert_eq!(v.as_deref(), Some("from-entra"));

        let mut r = Resolver::new(Some(&file)).with_env(env(&[("AZURE_TENANT_ID", " x ")]));
        let v = r.input(&TENANT_ID).get();
        assert_eq!(v.as_deref(), Some("x"));
        assert_eq!(r.logged(), ["using auth.tenant_id = x (AZURE_TENANT_ID)"]);

        let mut r = Resolver::new(Some(&file)).with_env(env(&[("ENTRA_TENANT_ID", "  ")]));
        let v = r.sourced_default();
        assert_eq!(v.value, "from-file");
        assert_eq!(v.source.to_string(), ".pmcp/deploy.toml:2");
        assert_eq!(
            r.logged(),
            ["using auth.tenant_id = from-file (.pmcp/deploy.toml:2)"]
        );

        let mut r = Resolver::new(None).with_env(env(&[]));
        let v = r.sourced_default();
        assert_eq!(v.value, "d");
        assert_eq!(r.logged(), ["using auth.tenant_id = d (default: why)"]);
        assert!(r.check().is_ok());
    }

    impl Resolver<'_> {
        fn sourced_default(&mut self) -> Sourced {
            self.input(&TENANT_ID)
                .default("d", "why")
                .sourced(|v| Ok::<_, String>(v.to_string()))
                .unwrap()
        }
    }

    #[test]
    fn canonical_names_then_documented_aliases() {
        for (vars, want, from) in [
            (
                &[
                    ("AUTH_MULTI_TENANT", "true"),
                    ("ENTRA_MULTI_TENANT", "false"),
                ][..],
                "true",
                "AUTH_MULTI_TENANT",
            ),
            (
                &[("ENTRA_MULTI_TENANT", "true")][..],
                "true",
                "ENTRA_MULTI_TENANT",
            ),
        ] {
            let mut r = Resolver::new(None).with_env(env(vars));
            assert_eq!(r.input(&MULTI_TENANT).get().as_deref(), Some(want));
            assert_eq!(r.source(&MULTI_TENANT), Some(&Source::Env(from)));
        }
        for (input, old) in [
            (&ISSUER, "OIDC_ISSUER"),
            (&AUDIENCE, "OIDC_AUDIENCE"),
            (&ALLOWED_TENANTS, "ENTRA_ALLOWED_TENANTS"),
            (&PROVIDER, "PMCP_OAUTH"),
        ] {
            let mut r = Resolver::new(None).with_env(env(&[(old, "v")]));
            assert_eq!(r.input(input).get().as_deref(), Some("v"), "{old}");
            assert_eq!(r.source(input), Some(&Source::Env(old)));
        }
    }

    #[test]
    fn aliases_after_file_lets_the_file_win_over_an_alias() {
        let file = loaded("[auth]\nclient_id = \"api\"\n");
        let vars = env(&[("AZURE_CLIENT_ID", "caller")]);
        let mut r = Resolver::new(Some(&file)).with_env(vars);
        assert_eq!(r.input(&CLIENT_ID).get().as_deref(), Some("caller"));
        assert_eq!(
            r.input(&CLIENT_ID).aliases_after_file().get().as_deref(),
            Some("api")
        );
        let mut r = Resolver::new(None).with_env(env(&[("AZURE_CLIENT_ID", "caller")]));
        assert_eq!(
            r.input(&CLIENT_ID).aliases_after_file().get().as_deref(),
            Some("caller")
        );
    }

    #[test]
    fn file_values_of_every_shape_come_from_the_parsed_document() {
        let file = loaded(
            "[auth]\ntenant_id = \"\"\n[auth.entra]\nmulti_tenant = true\nallowed_tenants = [\"a\", \"b\"]\n[server]\nname = \"n\"\n",
        );
        let mut r = Resolver::new(Some(&file)).with_env(env(&[]));
        // A blank string is not a value.
        assert!(r.given(&TENANT_ID, None).is_none());
        assert_eq!(r.input(&MULTI_TENANT).get().as_deref(), Some("true"));
        assert_eq!(r.input(&ALLOWED_TENANTS).get().as_deref(), Some("a,b"));
        let s = r.given(&ALLOWED_TENANTS, None).unwrap();
        assert_eq!(s.source.to_string(), ".pmcp/deploy.toml:5");
        // An empty array is a value: the empty list.
        let file = loaded("[auth.entra]\nallowed_tenants = []\n");
        let r = Resolver::new(Some(&file)).with_env(env(&[]));
        assert_eq!(r.given(&ALLOWED_TENANTS, None).unwrap().value, "");
        // A reader for values the key alone does not give.
        let file = loaded("[auth]\nenabled = false\n");
        let mut r = Resolver::new(Some(&file)).with_env(env(&[]));
        let v = r
            .input(&PROVIDER)
            .file_value(|l| Some(("none".into(), l.locate(&["auth", "enabled"])?)))
            .get();
        assert_eq!(v.as_deref(), Some("none"));
        assert_eq!(
            r.logged(),
            ["using auth.provider = none (.pmcp/deploy.toml:2)"]
        );
    }

    #[test]
    fn every_missing_and_invalid_value_is_collected_and_reported_at_once() {
        let file = loaded(&format!(
            "[auth]\n# pasted\nclient_id = \"not a guid\"\ntenant_id = \"{TENANT}\"\n"
        ));
        let mut r = Resolver::new(Some(&file)).with_env(env(&[("AUTH_ISSUER", "nope")]));
        assert!(r.input(&CLIENT_ID).parse(guid).is_none());
        assert_eq!(r.input(&TENANT_ID).parse(guid).as_deref(), Some(TENANT));
        assert!(r.input(&AUDIENCE).get().is_none());
        assert!(r.input(&SERVER_NAME).get().is_none());
        assert!(r.input(&BIN).optional().get().is_none());
        assert!(
            r.input(&ISSUER)
                .parse(|_| Err::<String, _>("not https".into()))
                .is_none()
        );
        assert!(
            r.input(&REDIRECT_URI)
                .flag(Some("x"))
                .parse(|_| Err::<String, _>("bad".into()))
                .is_none()
        );
        let p = r.check().unwrap_err();
        assert!(p.is_missing(&AUDIENCE) && p.is_missing(&SERVER_NAME));
        assert!(!p.is_missing(&BIN) && !p.is_missing(&CLIENT_ID));
        assert_eq!(
            p.to_string(),
            "missing values (not asking: no terminal, or CI is set):\n  \
             audience         --audience or AUTH_AUDIENCE (or OIDC_AUDIENCE)\n  \
             server name      --server-name or PMCP_SERVER_NAME\n  \
             invalid: .pmcp/deploy.toml:3: auth.client_id `not a guid`: expected a GUID\n  \
             invalid: AUTH_ISSUER `nope`: not https\n  \
             invalid: --redirect-uri `x`: bad"
        );
        // Reported once: the resolver starts clean again.
        assert!(r.check().is_ok());

        r.reject(&TARGET, Source::Default("d".into()), "v", "why");
        let p = r.check().unwrap_err();
        assert_eq!(p.to_string(), "invalid value: target `v` (d): why");
    }

    #[test]
    fn no_prompt_without_a_terminal_or_with_ci_set() {
        let asked = AtomicUsize::new(0);
        let ask = |_: Option<&str>| {
            asked.fetch_add(1, Ordering::SeqCst);
            Some("typed".to_string())
        };
        for (terminal, ci) in [(false, None), (true, Some("true")), (true, Some("1"))] {
            let vars: Vec<(&str, &str)> = ci.map(|c| ("CI", c)).into_iter().collect();
            let mut r = Resolver::new(None)
                .with_env(env(&vars))
                .interactive(terminal);
            assert!(!r.prompts_allowed());
            assert!(r.input(&TENANT_ID).prompt(ask).get().is_none());
            let p = r.check().unwrap_err();
            assert!(
                p.to_string().starts_with("missing values (not asking"),
                "{p}"
            );
        }
        assert_eq!(asked.load(Ordering::SeqCst), 0);

        // A terminal with CI unset (or false) asks; the answer is typed, so not logged.
        for ci in [None, Some("false"), Some("")] {
            let vars: Vec<(&str, &str)> = ci.map(|c| ("CI", c)).into_iter().collect();
            let mut r = Resolver::new(None).with_env(env(&vars)).interactive(true);
            assert_eq!(
                r.input(&TENANT_ID).prompt(ask).get().as_deref(),
                Some("typed")
            );
            assert_eq!(r.source(&TENANT_ID), Some(&Source::Prompt));
            assert!(r.logged().is_empty());
        }
        assert_eq!(asked.load(Ordering::SeqCst), 3);

        // --yes takes a default without asking; no default still asks.
        let mut r = Resolver::new(None)
            .with_env(env(&[]))
            .interactive(true)
            .assume_yes(true);
        assert_eq!(
            r.input(&TARGET)
                .default("pmcp-run", "hosted")
                .prompt(ask)
                .get()
                .as_deref(),
            Some("pmcp-run")
        );
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        assert_eq!(
            r.input(&TENANT_ID).prompt(ask).get().as_deref(),
            Some("typed")
        );
        assert_eq!(asked.load(Ordering::SeqCst), 4);

        // A cancelled prompt leaves the input missing (the default is not taken silently).
        let mut r = Resolver::new(None).with_env(env(&[])).interactive(true);
        assert!(
            r.input(&TARGET)
                .default("d", "w")
                .prompt(|_| None)
                .get()
                .is_none()
        );
        assert!(r.check().unwrap_err().is_missing(&TARGET));
    }

    #[test]
    fn another_flag_can_set_an_input() {
        let mut r = Resolver::new(None).with_env(env(&[("ENTRA_AUTHORITY_HOST", "https://e")]));
        let v = r
            .input(&AUTHORITY_HOST)
            .flag(None)
            .flag_named("--cloud", Some("https://login.microsoftonline.us"))
            .get();
        assert_eq!(v.as_deref(), Some("https://login.microsoftonline.us"));
        assert_eq!(r.source(&AUTHORITY_HOST), Some(&Source::Flag("--cloud")));
    }

    #[test]
    fn how_to_give_lists_flag_and_envs() {
        assert_eq!(
            TENANT_ID.how_to_give(),
            "--tenant-id or ENTRA_TENANT_ID (or AZURE_TENANT_ID)"
        );
        assert_eq!(
            SERVER_NAME.how_to_give(),
            "--server-name or PMCP_SERVER_NAME"
        );
        assert_eq!(BIN.how_to_give(), "--bin");
        assert_eq!(
            MULTI_TENANT.how_to_give(),
            "--multi-tenant or AUTH_MULTI_TENANT (or ENTRA_MULTI_TENANT)"
        );
    }
}
