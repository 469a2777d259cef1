//! One integration-test binary; each module (a folder under tests/, so cargo does not build it as a
//! test binary of its own) drives the built `cargo-pmcp` binary or the library's public API the way
//! a user would. Add your area's module here.

mod support;

#[cfg(feature = "cli")]
mod auth_test;
mod cli;
#[cfg(feature = "cli")]
mod emulator;
#[cfg(all(feature = "server", feature = "emulator"))]
mod e2e;
#[cfg(all(feature = "server", feature = "emulator"))]
mod server;
mod init;
mod deploy;
#[cfg(feature = "emulator")]
mod validator;
