//! The command line a saved plan records (`plan --out`), and reading it
//! back for `apply --plan`.
//!
//! The plan file holds the words of the `plan` command line, minus the
//! options that only say how to run (`--root`, `--output`, `--out`,
//! `--detailed-exitcode`, `--lock-timeout`, `--keep-backups`): those come
//! from the command that takes the plan back. Parsing the recorded words
//! again with the same clap model gives exactly the inputs the plan was
//! computed from.

use std::ffi::OsString;

use anyhow::{Result, anyhow, bail};
use clap::Parser;

use super::{Cli, Command};
use crate::settings::{GlobalInput, MigrateOptions, Origin, RegistryInput, SourceInput};

/// Options (with a value) that say how to run, not what to plan.
const RUN_OPTIONS: [&str; 5] = [
    "--out",
    "--root",
    "--output",
    "--lock-timeout",
    "--keep-backups",
];
/// Flags that say how to run.
const RUN_FLAGS: [&str; 1] = ["--detailed-exitcode"];

/// This process's command line as a plan file records it.
pub fn recorded_args() -> Result<Vec<String>> {
    keep_planning(std::env::args_os().skip(1).collect())
}

fn keep_planning(words: Vec<OsString>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let Some(word) = word.to_str().map(String::from) else {
            bail!(
                "--out: the command line holds a word that is not UTF-8; a plan file records only UTF-8"
            );
        };
        if RUN_FLAGS.contains(&word.as_str()) {
            continue;
        }
        if RUN_OPTIONS.contains(&word.as_str()) {
            words.next();
            continue;
        }
        if RUN_OPTIONS
            .iter()
            .any(|o| word.starts_with(&format!("{o}=")))
        {
            continue;
        }
        out.push(word);
    }
    Ok(out)
}

/// What a recorded `plan` command line asks for.
pub struct Replayed {
    pub global: GlobalInput,
    pub registries: Vec<RegistryInput>,
    pub source: SourceInput,
    pub migrate: Option<MigrateOptions>,
}

/// Parses a recorded command line; `name` names the plan file in messages.
pub fn replay(name: &str, words: &[String], origin: &Origin) -> Result<Replayed> {
    let cli =
        Cli::try_parse_from(std::iter::once("certsd").chain(words.iter().map(String::as_str)))
            .map_err(|e| {
                anyhow!(
                    "{name}: its recorded command line does not parse: {}",
                    e.kind()
                )
            })?;
    let Command::Plan(args) = &cli.command else {
        bail!("{name}: its recorded command line is not a `certsd plan`");
    };
    if args.plan.is_some() || args.out.is_some() {
        bail!("{name}: its recorded command line names a plan file itself");
    }
    Ok(Replayed {
        global: cli.global.input(),
        registries: args.trust.registries(),
        source: args.spec.input(),
        migrate: args.trust.migrate(origin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn only_what_plans_is_recorded() {
        let kept = keep_planning(words(
            "--root /r plan --out p.plan --host h --output=json --detailed-exitcode --ca c.crt --keep-backups 2",
        ))
        .unwrap();
        assert_eq!(kept, ["plan", "--host", "h", "--ca", "c.crt"]);
    }

    #[test]
    fn a_recorded_line_parses_back() {
        let origin = Origin::CommandLine(super::super::flag_name);
        let args: Vec<String> = ["plan", "--host", "h", "--skip-verify"]
            .map(String::from)
            .to_vec();
        let replayed = replay("p", &args, &origin).unwrap();
        assert_eq!(replayed.registries.len(), 1);
        let bad: Vec<String> = ["apply", "--host", "h"].map(String::from).to_vec();
        assert!(replay("p", &bad, &origin).is_err());
    }
}
