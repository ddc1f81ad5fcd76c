//! certsd: make containerd trust private registries.
//!
//! The shape: `cli` (clap types) → `settings` (validated) → the pure core
//! computes a `plan::Plan` of file changes from the files as they are →
//! `diff` renders it → `writer` (the only module that writes) applies it.

pub mod cert;
pub mod cli;
pub mod commands;
pub mod exit_codes;

use exit_codes::Code;

/// Runs one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<Code> {
    match cli.command {
        cli::Command::Cert(c) => commands::cert::run(&cli.global, &c),
        _ => Ok(Code::Success),
    }
}
