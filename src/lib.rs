//! certsd: make containerd trust private registries.
//!
//! The shape, top to bottom: `cli` (clap types) hands plain inputs to
//! `settings` (validated, clap-free) → `node` reads the node once (paths
//! under `--root`, config.toml, the installed containerd) → `core`, the pure
//! part, computes a `Plan` of file writes and deletes → `render` shows it →
//! `writer`, the only module that writes, applies it. `formats` holds one
//! module per file format; `cert` all of X.509. `commands` is the glue.

mod cert;
pub mod cli;
mod commands;
mod core;
/// Public so `tests/connect.rs` can drive the `--connect` probe directly.
pub mod doctor;
pub mod exit_codes;
mod formats;
mod nearest;
mod node;
mod render;
mod settings;
mod version;
mod writer;

use cli::Command;
use exit_codes::Code;
use settings::{DoctorSettings, Origin, Settings};

/// certsd run by Ansible as a module (see `commands::ansible::detect` for
/// how that command line is told apart): runs it, prints the one JSON result
/// on stdout and returns the exit code. `None`: a normal command line.
pub fn run_as_ansible_module(args: &[std::ffi::OsString]) -> Option<std::process::ExitCode> {
    let invocation = commands::ansible::detect(args, cli::subcommand_names)?;
    // A panic is reported in the result; the default hook would add a
    // message (or with RUST_BACKTRACE a backtrace) on stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let (result, code) = commands::ansible::run(&invocation);
    let mut out = std::io::stdout().lock();
    let printed = serde_json::to_writer(&mut out, &result)
        .map_err(std::io::Error::from)
        .and_then(|()| std::io::Write::write_all(&mut out, b"\n"));
    Some(match printed {
        Ok(()) => code.into(),
        Err(_) => Code::Failure.into(),
    })
}

/// Runs one parsed command line.
pub fn run(cli: &cli::Cli) -> anyhow::Result<Code> {
    let origin = Origin::CommandLine(cli::flag_name);
    let global = cli.global.input();
    match &cli.command {
        Command::Plan(args) if args.plan.is_some() => {
            let file = args.plan.as_deref().unwrap_or(std::path::Path::new(""));
            commands::planfile::show(file, &global, &origin, args.detailed_exitcode)
        }
        Command::Plan(args) => {
            let save = args
                .out
                .as_deref()
                .map(|out| commands::planfile::Save::new(out, &args.spec.input()))
                .transpose()?;
            let mut run = commands::source::prepare(
                &global,
                &origin,
                args.trust.registries(),
                &args.spec.input(),
            )?;
            run.migrate = args.trust.migrate(&origin);
            commands::trust::plan(&mut run, args.detailed_exitcode, save.as_ref())
        }
        Command::Apply(args) => {
            let global = settings::GlobalInput {
                no_validate: args.no_validate,
                ..global
            };
            if let Some(file) = &args.plan {
                let saved = commands::planfile::read(file)?;
                let mut run =
                    commands::planfile::prepare(&saved, &global, &args.spec.input(), &origin)?;
                return commands::trust::apply(&mut run, Some(&saved));
            }
            let mut run = commands::source::prepare(
                &global,
                &origin,
                args.trust.registries(),
                &args.spec.input(),
            )?;
            run.migrate = args.trust.migrate(&origin);
            commands::trust::apply(&mut run, None)
        }
        Command::Rollback(args) => {
            let settings = Settings::new(&global, &origin)?;
            let options = core::rollback::Options {
                steps: args.steps,
                force: args.force,
            };
            let restart = settings::SourceInput {
                restart: args.restart,
                restart_command: args.restart_command.clone(),
                ..settings::SourceInput::default()
            };
            let request = commands::rollback::Request {
                options,
                dry_run: args.dry_run,
                detailed_exitcode: args.detailed_exitcode,
                restart: commands::source::restart(&restart)?,
                dir: args.dir.clone(),
            };
            commands::rollback::run(&settings, &request)
        }
        Command::Cert(c) => commands::cert::run(&c.job(), global.output, global.write, &origin),
        Command::Doctor(args) => {
            let settings = Settings::new(&global, &origin)?;
            let doctor = DoctorSettings::new(&args.input(), &origin)?;
            commands::doctor::run(&settings, &doctor)
        }
        Command::Completions { shell } => commands::trust::shown(cli::docs::completions(
            *shell,
            &mut std::io::stdout().lock(),
        ))
        .map(|()| Code::Success),
        Command::Man => commands::trust::shown(cli::docs::man(&mut std::io::stdout().lock()))
            .map(|()| Code::Success),
    }
}
