//! certsd as an Ansible module: Ansible copies the binary to the node and
//! runs it with one argument, the path of a file holding the module's
//! arguments as a JSON object, and reads one JSON object from stdout.
//!
//! [`detect`] tells that command line apart from every normal one; [`run`]
//! plans (check mode) or applies exactly as `certsd plan|apply -f` would and
//! returns the result object. Nothing is printed on the way: status lines
//! become `warnings`, and an error becomes `{"failed": true, "msg": ...}`
//! with the message the CLI prints.

use std::ffi::OsString;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use super::source::{DEFAULT_RESTART, Prepared, Registries};
use super::trust::{self, Step};
use crate::exit_codes::Code;
use crate::formats::spec::MAX_BYTES;
use crate::render::ansible::{self as result, Extra};
use crate::settings::ansible::ModuleArgs;
use crate::settings::{Field, GlobalInput, Origin, Output, Settings};
use crate::writer;

/// A module invocation: what the args file holds.
pub struct Invocation {
    pub bytes: Vec<u8>,
}

/// The args file, when the command line is Ansible's: exactly one argument,
/// not starting with `-` and not a subcommand name, naming a regular file
/// whose first non-blank byte is `{`. No normal command line has that shape
/// (every one starts with a subcommand or a flag), so no file can turn a
/// real command into a module run: `certsd plan` is `plan` even when a file
/// named `plan` holds JSON. `subcommands` is called only for a
/// one-argument command line.
pub fn detect(args: &[OsString], subcommands: fn() -> Vec<String>) -> Option<Invocation> {
    let [_, arg] = args else {
        return None;
    };
    let text = arg.to_string_lossy();
    if text.starts_with('-') || subcommands().iter().any(|s| *s == text) {
        return None;
    }
    let path = PathBuf::from(arg);
    if !std::fs::metadata(&path).ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    // One byte over the limit, so an oversized file is refused, not cut.
    let limit = u64::try_from(MAX_BYTES).unwrap_or(u64::MAX) + 1;
    std::fs::File::open(&path)
        .ok()?
        .take(limit)
        .read_to_end(&mut bytes)
        .ok()?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    (*first == b'{').then_some(Invocation { bytes })
}

/// Runs the module: the result object and the exit code (non-zero on
/// failure). A panic, which is a bug, still ends in a `failed` result.
pub fn run(invocation: &Invocation) -> (Value, Code) {
    let outcome = catch_unwind(AssertUnwindSafe(|| execute(&invocation.bytes)));
    match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => (result::failure(&format!("{err:#}")), Code::for_error(&err)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let msg =
                format!("certsd stopped on an internal error (a bug; please report it): {what}");
            (result::failure(&msg), Code::Failure)
        }
    }
}

fn execute(bytes: &[u8]) -> Result<(Value, Code)> {
    let args = ModuleArgs::read(bytes, DEFAULT_RESTART)?;
    // Settings messages name the module's keys, which are the spec's names.
    let origin = Origin::CommandLine(Field::key);
    let global = args.spec.globals(&GlobalInput {
        root: args.root.clone(),
        output: Output::Json,
        ..GlobalInput::default()
    })?;
    let mut run = Prepared {
        settings: Settings::new(&global, &origin)?,
        origin,
        registries: Registries::new(args.spec.registries),
        warnings: Vec::new(),
        prune: args.prune,
        restart: args.restart,
        migrate: None,
    };
    // `no_log` hides the result anyway; file contents are not even sent.
    let diff = args.ansible.diff && !args.ansible.no_log;
    if args.ansible.check_mode {
        check(&mut run, diff).map(|r| (r, Code::Success))
    } else {
        apply(&mut run, diff)
    }
}

/// Check mode: `certsd plan`, nothing written (and no lock taken).
fn check(run: &mut Prepared, diff: bool) -> Result<Value> {
    let mut warnings = Vec::new();
    if writer::interrupted(run.settings.root.dir()) {
        warnings.push(
            "a certsd run was killed while writing; this check shows the files as it left them, and the next run completes or undoes its writes first"
                .to_string(),
        );
    }
    let (_, plan) = run.plan()?;
    Ok(result::result(
        &plan,
        &Extra {
            warnings: &warnings,
            diff,
            applied: None,
        },
    ))
}

/// The steps of `certsd apply` (commands/trust.rs), in the same order, with
/// what it prints on stderr collected as warnings instead.
fn apply(run: &mut Prepared, diff: bool) -> Result<(Value, Code)> {
    let mut warnings: Vec<String> = Vec::new();
    let done = trust::execute(run, None, &mut |step| {
        match step {
            Step::Repaired(line) | Step::Noted(line) => warnings.push(format!("certsd: {line}")),
            Step::Validated(v) => {
                if let (false, Some(_), Some(reason)) = (v.ran, &v.binary, &v.reason) {
                    warnings.push(format!("config.toml not checked by containerd: {reason}"));
                }
            }
            Step::Planned(_) => {}
        }
        Ok(())
    })?;
    let applied = done.applied();
    let report = result::result(
        &done.plan,
        &Extra {
            warnings: &warnings,
            diff,
            applied: Some(&applied),
        },
    );
    match done.restart_failure() {
        Some(err) => Ok((
            result::failed_after(report, &format!("{err:#}")),
            Code::Failure,
        )),
        None => Ok((report, Code::Success)),
    }
}
