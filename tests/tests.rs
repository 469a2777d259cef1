//! One integration-test binary; each module (a folder under tests/, so cargo does not build it as a
//! test binary of its own) drives the built `cargo-pmcp` binary or the library's public API the way
//! a user would. Add your area's module here.

mod support;

mod auth_test;
mod bridge;
mod ci;
mod cli;
mod deploy;
#[cfg(unix)]
mod dev;
mod e2e;
mod emulator;
mod init;
mod new;
mod newcomer;
#[cfg(unix)]
mod readme;
mod server;
mod validator;
