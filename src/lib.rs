//! certsd: make containerd trust private registries.
//!
//! The shape: `cli` (clap types) → `settings` (validated) → the pure core
//! computes a `plan::Plan` of file changes from the files as they are →
//! `diff` renders it → `writer` (the only module that writes) applies it.

pub mod cli;
pub mod containerd_config;
pub mod exit_codes;
pub mod host;
pub mod hosts_toml;
pub mod paths;
pub mod templates;
pub mod toml_util;
pub mod trust_files;
pub mod version;

use exit_codes::Code;

/// Runs one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<Code> {
    let _ = cli;
    Ok(Code::Success)
}
