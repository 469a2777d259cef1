//! One integration-test binary; each module (a folder under tests/, so cargo does not build it as a
//! test binary of its own) drives the built `cargo-pmcp` binary or the library's public API the way
//! a user would. Add your area's module here.

mod support;

#[cfg(feature = "cli")]
mod auth_test;
mod cli;
mod deploy;
#[cfg(all(feature = "server", feature = "emulator"))]
mod e2e;
#[cfg(feature = "cli")]
mod emulator;
mod init;
#[cfg(all(feature = "server", feature = "emulator"))]
mod server;
#[cfg(feature = "emulator")]
mod validator;
