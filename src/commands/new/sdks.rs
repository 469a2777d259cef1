// The SDK → template table of `cargo pmcp new`, in one place. It is `include!`d by both the
// crate's build script (which embeds each listed example's files into the binary) and
// `commands::new` (which looks an SDK up here), so it holds plain data only.
//
// Each entry: the `--sdk` value and the example crate (relative to the repository root) that IS
// the template. The example's package name and dependencies are read from its own Cargo.toml at
// run time, so an edit to the example is the template's edit.

/// `(--sdk value, example directory)`.
pub const TEMPLATE_EXAMPLES: &[(&str, &str)] = &[
    ("rmcp", "examples/rmcp-server"),
    ("pmcp", "examples/pmcp-server"),
];
