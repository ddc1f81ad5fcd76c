//! certsd: make containerd trust private registries.
//!
//! The shape: `cli` (clap types) → `settings` and `request` (validated) →
//! `planner`, the pure core, computes a `plan::Plan` of file changes from the
//! files as they are → `diff`/`report` render it → `writer` (the only module
//! that writes) applies it. One module per file format: `containerd_config`,
//! `hosts_toml`, `trust_files` (PEM inputs).

pub mod cert;
pub mod cli;
pub mod commands;
pub mod containerd_config;
pub mod current;
pub mod diff;
pub mod doctor;
pub mod exit_codes;
pub mod host;
pub mod hosts_toml;
pub mod issuance;
pub mod paths;
pub mod plan;
pub mod planner;
pub mod report;
pub mod request;
pub mod settings;
pub mod templates;
pub mod toml_util;
pub mod trust_files;
pub mod version;
pub mod writer;

use cli::Command;
use exit_codes::Code;

/// Runs one parsed command line.
pub fn run(cli: &cli::Cli) -> anyhow::Result<Code> {
    match &cli.command {
        Command::Plan(args) => {
            let settings = settings::Settings::from_cli(&cli.global)?;
            commands::trust::plan(&settings, &args.trust, args.detailed_exitcode)
        }
        Command::Apply(args) => {
            let settings = settings::Settings::from_cli(&cli.global)?;
            commands::trust::apply(&settings, &args.trust)
        }
        Command::Cert(c) => commands::cert::run(&cli.global, c),
    }
}
