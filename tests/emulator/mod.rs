//! The local Entra-compatible issuer: Entra's endpoints and shapes, tokens that validate, Entra's
//! errors, key rotation, device code, on-behalf-of, certificate and federated assertions, and the
//! `cargo pmcp auth emulator` command.

mod assertions;
mod authcode;
mod command;
mod common;
mod device_obo;
mod endpoints;
mod errors;
mod faults;
mod limits;
mod rotation;
mod shapes;
mod strict;
mod validator;
