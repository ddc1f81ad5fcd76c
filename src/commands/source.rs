//! Where a `plan`/`apply` run takes its registries from: the `--host` flags,
//! a spec file (`-f FILE`, `-` for stdin), or a k3s registries.yaml
//! (`--from-k3s`); and the restart command `--restart` runs.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit_codes::usage;
use crate::formats::spec::{Format, MAX_BYTES};
use crate::settings::{
    self, GlobalInput, MigrateOptions, Origin, RegistryEntry, RegistryInput, Settings, SourceInput,
    Spec, SpecSource,
};

/// The default for `--restart-command`.
pub const DEFAULT_RESTART: &str = "systemctl restart containerd";

/// Everything a trust run needs, read and checked.
pub struct Prepared {
    pub settings: Settings,
    /// How messages name each setting (flags, or spec keys).
    pub origin: Origin,
    pub registries: Registries,
    /// Warnings from reading the source (k3s settings certsd cannot write).
    pub warnings: Vec<String>,
    pub prune: bool,
    /// The command `--restart` runs, split into words.
    pub restart: Option<Vec<String>>,
    /// `--migrate`: move the legacy registry tables first.
    pub migrate: Option<MigrateOptions>,
}

/// The registries of a run. Planning takes them (each entry is dropped as
/// soon as it is planned: a fleet's spec is megabytes), so they are planned
/// once; a second plan of the same run is an error, never an empty list,
/// which with `--prune` would mean "remove every host".
pub struct Registries(Option<Vec<RegistryEntry>>);

impl Registries {
    pub fn new(entries: Vec<RegistryEntry>) -> Registries {
        Registries(Some(entries))
    }

    /// The entries, for the one plan of the run.
    pub fn take(&mut self) -> Result<Vec<RegistryEntry>> {
        self.0.take().ok_or_else(|| {
            anyhow::anyhow!("internal error: the registries of a run are planned once")
        })
    }
}

/// Reads the source and the global options into a [`Prepared`] run.
pub fn prepare(
    global: &GlobalInput,
    origin: &Origin,
    flags: Vec<RegistryInput>,
    source: &SourceInput,
) -> Result<Prepared> {
    let restart = source.restart.then(|| restart_words(source)).transpose()?;
    let (global, registries, warnings) = if let Some(path) = &source.spec {
        let spec = Spec::read(&load(path, source.format)?)?;
        (spec.globals(global)?, spec.registries, Vec::new())
    } else if let Some(path) = &source.from_k3s {
        let bytes = read_limited(path)?;
        let k3s = settings::k3s::read(&path.display().to_string(), &base_dir(path), &bytes)?;
        (global.clone(), k3s.registries, k3s.warnings)
    } else {
        let entries = flags
            .into_iter()
            .map(|input| RegistryEntry {
                input,
                origin: origin.clone(),
            })
            .collect();
        (global.clone(), entries, Vec::new())
    };
    Ok(Prepared {
        settings: Settings::new(&global, origin)?,
        origin: origin.clone(),
        registries: Registries::new(registries),
        warnings,
        prune: source.prune,
        restart,
        migrate: None,
    })
}

/// With `--restart`: the restart command's words.
pub fn restart(source: &SourceInput) -> Result<Option<Vec<String>>> {
    source.restart.then(|| restart_words(source)).transpose()
}

fn restart_words(source: &SourceInput) -> Result<Vec<String>> {
    let raw = source.restart_command.as_deref().unwrap_or(DEFAULT_RESTART);
    match shlex::split(raw) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(usage(format!(
            "--restart-command {raw:?}: cannot split it into words (an unclosed quote?); it is run without a shell, e.g. 'systemctl restart containerd'"
        ))),
    }
}

/// The spec's bytes and format; `-` is stdin.
fn load(path: &Path, format: Option<Format>) -> Result<SpecSource> {
    if path.as_os_str() == "-" {
        let format = format.ok_or_else(|| {
            usage("-f - reads the spec from stdin: say its format with --format toml|yaml|json")
        })?;
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(limit())
            .read_to_end(&mut bytes)
            .context("cannot read the spec from stdin")?;
        return Ok(SpecSource {
            name: "<stdin>".into(),
            dir: PathBuf::from("."),
            bytes,
            format,
        });
    }
    let name = path.display().to_string();
    let format = match format {
        Some(f) => f,
        None => Format::from_extension(&name).ok_or_else(|| {
            usage(format!(
                "-f {name}: cannot tell the format from the name; end it in .toml, .yaml, .yml or .json, or pass --format"
            ))
        })?,
    };
    Ok(SpecSource {
        bytes: read_limited(path)?,
        dir: base_dir(path),
        name,
        format,
    })
}

/// One byte more than a spec may hold, so an oversized file is recognised
/// without reading all of it.
fn limit() -> u64 {
    u64::try_from(MAX_BYTES).unwrap_or(u64::MAX) + 1
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let label = path.display();
    if path.is_dir() {
        return Err(usage(format!(
            "{label}: is a directory; give the spec file"
        )));
    }
    let file = std::fs::File::open(path).with_context(|| format!("{label}: cannot read"))?;
    let mut bytes = Vec::new();
    file.take(limit())
        .read_to_end(&mut bytes)
        .with_context(|| format!("{label}: cannot read"))?;
    Ok(bytes)
}

/// Relative input paths in a file are taken from the file's directory.
fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::Registries;

    #[test]
    fn registries_are_planned_once_never_as_an_empty_list() {
        let mut registries = Registries::new(Vec::new());
        assert!(registries.take().is_ok_and(|r| r.is_empty()));
        let Err(err) = registries.take() else {
            panic!("a second plan got entries");
        };
        let err = err.to_string();
        assert!(err.contains("planned once"), "{err}");
    }
}
