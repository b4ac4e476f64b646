//! The Signalbox server: configuration, telemetry, the HTTP router and the command-line tools.
//! `main.rs` only parses the command line and calls in here, so tests can start the very same
//! server in-process.

pub mod cli;
pub mod config;
pub mod http;
pub mod render;
pub mod startup;
pub mod telemetry;
