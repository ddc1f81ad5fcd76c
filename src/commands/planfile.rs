//! Saved plans: `plan --out FILE` writes one, `apply --plan FILE` applies
//! exactly it, `plan --plan FILE` shows it again (see `formats::planfile`
//! for the text).
//!
//! Applying a saved plan computes the plan again, from the recorded command
//! line and the node as it is now, and refuses (before anything is written)
//! when a file the plan was computed from no longer has its recorded hash,
//! when the containerd it was for changed, or when the diff computed now is
//! not the one in the file: the file's diff is what was reviewed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::source::{self, Prepared};
use crate::cli::replay;
use crate::core::plan::FileChange;
use crate::exit_codes::usage;
use crate::formats::planfile::{Place, PlanFile, Recorded};
use crate::node::reads::{Read, sha256};
use crate::node::{Node, NodePath, Root, read_bounded, read_existing};
use crate::settings::{GlobalInput, Origin, SourceInput};
use crate::writer;

/// Where `plan --out` writes, and what it records beyond the files read.
pub struct Save {
    pub out: PathBuf,
    /// The recorded command line (see `cli::replay`).
    pub args: Vec<String>,
    /// Files read outside the node readers: the spec, a k3s registries.yaml.
    pub inputs: Vec<PathBuf>,
}

impl Save {
    /// For `plan --out FILE` with this source.
    pub fn new(out: &Path, source: &SourceInput) -> Result<Save> {
        let inputs: Vec<PathBuf> = source
            .spec
            .iter()
            .chain(&source.from_k3s)
            .cloned()
            .collect();
        if inputs.iter().any(|p| p.as_os_str() == "-") {
            return Err(usage(
                "--out: a spec read from stdin (-f -) cannot be checked again at apply; save the spec to a file and give -f FILE",
            ));
        }
        Ok(Save {
            out: std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?,
            args: replay::recorded_args()?,
            inputs,
        })
    }
}

/// A plan file read back.
pub struct Saved {
    /// The path as given, for messages.
    pub name: String,
    pub file: PlanFile,
}

/// Writes the plan file (atomically, through the writer).
pub fn save(save: &Save, run: &Prepared, node: &Node, reads: &[Read], shown: &str) -> Result<()> {
    let mut files = classify(run.settings.root.dir(), reads);
    for input in &save.inputs {
        let path = std::path::absolute(input).unwrap_or_else(|_| input.clone());
        let hash = read_bounded(&path, &path.display())?.map(|(bytes, _)| sha256(&bytes));
        files.push(Recorded {
            place: Place::Input,
            path: path.display().to_string(),
            sha256: hash,
        });
    }
    let file = PlanFile {
        cwd: std::env::current_dir()
            .context("the working directory")?
            .display()
            .to_string(),
        args: save.args.clone(),
        target: node.target().map(|t| t.version.to_string()),
        files,
        shown: shown.to_string(),
    };
    let path = NodePath::on_this_machine(save.out.clone());
    let dir = save.out.parent().unwrap_or(Path::new("/"));
    let options = writer::Options {
        keep_backups: 0,
        lock_timeout: run.settings.write.lock_timeout,
    };
    let session = writer::Session::for_dir(dir, options)?;
    let before = read_existing(&Root::new(PathBuf::from("/")), &path)?;
    let change = FileChange::exact(path, before, file.render().into_bytes(), 0o644, false);
    session.apply([&change], None)?;
    eprintln!(
        "certsd: plan saved to {}; `certsd apply --plan {}` applies exactly it",
        save.out.display(),
        save.out.display()
    );
    Ok(())
}

/// Node files by node path, the rest (inputs) by their path on this machine.
fn classify(root: &Path, reads: &[Read]) -> Vec<Recorded> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    reads
        .iter()
        .map(|read| match read.path.strip_prefix(&root) {
            Ok(rel) => Recorded {
                place: Place::Node,
                path: format!("/{}", rel.display()),
                sha256: read.sha256.clone(),
            },
            Err(_) => Recorded {
                place: Place::Input,
                path: read.path.display().to_string(),
                sha256: read.sha256.clone(),
            },
        })
        .collect()
}

/// Reads and checks a plan file (bounded; strict).
pub fn read(path: &Path) -> Result<Saved> {
    let name = path.display().to_string();
    let Some((bytes, _)) = read_bounded(path, &name)? else {
        bail!("{name}: No such file or directory; make a plan with `certsd plan --out {name}`");
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{name}: not a certsd plan (not UTF-8 text)"))?;
    Ok(Saved {
        file: PlanFile::parse(&name, &text)?,
        name,
    })
}

/// The run the plan was computed from: its recorded command line, with how
/// to run (`--root`, `--output`, backups, lock, validation, restart) from
/// this command. Relative inputs are read from the plan's directory.
pub fn prepare(
    saved: &Saved,
    current: &GlobalInput,
    restart: &SourceInput,
    origin: &Origin,
) -> Result<Prepared> {
    let root = match &current.root {
        Some(r) => Some(std::path::absolute(r).with_context(|| format!("--root {}", r.display()))?),
        None => None,
    };
    std::env::set_current_dir(&saved.file.cwd).with_context(|| {
        format!("{}: cannot enter {}, the directory the plan was made in (its inputs are relative to it)", saved.name, saved.file.cwd)
    })?;
    let replayed = replay::replay(&saved.name, &saved.file.args, origin)?;
    let global = GlobalInput {
        root,
        no_validate: current.no_validate,
        output: current.output,
        write: current.write,
        ..replayed.global
    };
    let source = SourceInput {
        restart: restart.restart,
        restart_command: restart.restart_command.clone(),
        ..replayed.source
    };
    let mut run = source::prepare(&global, origin, replayed.registries, &source)?;
    run.migrate = replayed.migrate;
    Ok(run)
}

/// Every recorded file still as it was: the first that is not is named.
pub fn check_files(saved: &Saved, root: &Root) -> Result<()> {
    for file in &saved.file.files {
        let real = match file.place {
            Place::Node => root.host_path(&NodePath::fixed(&file.path)),
            Place::Input => PathBuf::from(&file.path),
        };
        let now = read_bounded(&real, &file.path)?.map(|(bytes, _)| sha256(&bytes));
        if now != file.sha256 {
            let what = match (&file.sha256, &now) {
                (None, Some(_)) => "exists now; the plan was made when it did not".to_string(),
                (Some(_), None) => "is gone".to_string(),
                (_, _) => format!(
                    "changed (sha256 {} now, {} in the plan)",
                    short(now.as_deref()),
                    short(file.sha256.as_deref())
                ),
            };
            bail!(
                "{}: {what} since the plan was made; nothing was written. Make a new plan and review it: {}",
                file.path,
                stale(saved)
            );
        }
    }
    Ok(())
}

/// The containerd and the diff computed now match the plan's.
pub fn check_result(saved: &Saved, node: &Node, shown: &str) -> Result<()> {
    let target = node.target().map(|t| t.version.to_string());
    if target != saved.file.target {
        bail!(
            "{}: made for containerd {}, the node has {} now; nothing was written. {}",
            saved.name,
            saved.file.target.as_deref().unwrap_or("(unknown)"),
            target.as_deref().unwrap_or("(unknown)"),
            stale(saved)
        );
    }
    if shown != saved.file.shown {
        let first = shown
            .lines()
            .zip(saved.file.shown.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| shown.lines().count().min(saved.file.shown.lines().count()));
        bail!(
            "{}: the change computed now differs from the reviewed diff (from its line {}); nothing was written. {}",
            saved.name,
            first + 1,
            stale(saved)
        );
    }
    Ok(())
}

fn stale(saved: &Saved) -> String {
    format!("`certsd plan --plan {}` shows what it was", saved.name)
}

fn short(hash: Option<&str>) -> &str {
    hash.map_or("-", |h| &h[..h.len().min(12)])
}

/// `certsd plan --plan FILE`: prints the saved diff as it was reviewed,
/// then says whether it still applies to the node as it is now.
pub fn show(
    path: &Path,
    current: &GlobalInput,
    origin: &Origin,
    detailed_exitcode: bool,
) -> Result<crate::exit_codes::Code> {
    use std::io::Write as _;
    let saved = read(path)?;
    {
        let mut out = std::io::stdout().lock();
        out.write_all(saved.file.shown.as_bytes())?;
        out.flush()?;
    }
    let mut run = prepare(&saved, current, &SourceInput::default(), origin)?;
    check_files(&saved, &run.settings.root)?;
    let changed = super::trust::check_saved(&mut run, &saved)?;
    eprintln!(
        "certsd: the plan still applies: `certsd apply --plan {}` writes exactly it",
        saved.name
    );
    Ok(if detailed_exitcode && changed {
        crate::exit_codes::Code::ChangesPending
    } else {
        crate::exit_codes::Code::Success
    })
}
