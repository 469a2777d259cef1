//! The shared validator module (`pmcp_auth`): each rule of docs/validator.md as a test,
//! the key cache's fetch behaviour, and the environment contract.

mod cache;
mod env;
mod harness;
mod rules;
