//! `apply`'s check of a new config.toml by the real containerd, before the
//! rename: which binary judges it, or why none does.
//!
//! The judging itself is `node::validate`; this glue picks the binary
//! (`--containerd-bin`, else the node's, inside `--root` first), skips when
//! there is nothing to judge or no binary, and refuses a named binary of
//! another release line than `--containerd-version` (its verdict would be
//! about a different containerd).

use anyhow::{Context, Result, bail};

use crate::core::plan::Plan;
use crate::exit_codes::usage;
use crate::formats::containerd_config::ContainerdConfig;
use crate::node::containerd::{self, Binary};
use crate::node::validate::{self, Check, Validation};
use crate::node::{Node, Root};
use crate::settings::{Field, Origin, Settings};

/// Judges the plan's new config.toml; `Err` (nothing written) on a refusal.
pub fn before_install(
    settings: &Settings,
    origin: &Origin,
    node: &Node,
    plan: &Plan,
) -> Result<Validation> {
    if !settings.validate {
        let flag = origin.name(Field::NoValidate);
        return Ok(Validation::skipped(None, format!("skipped ({flag})")));
    }
    let config = node.config_path();
    let Some(after) = plan
        .files
        .iter()
        // `changes` first: a byte compare, where comparing paths parses
        // their components, for each of a fleet's thousands of files.
        .find(|f| f.changes() && f.path == *config)
        .and_then(|f| f.after_held().map(|after| (f, after)))
    else {
        return Ok(Validation::skipped(
            None,
            format!("{config} does not change"),
        ));
    };
    let (change, after) = after;
    let binary = match &settings.containerd_bin {
        Some(bin) => containerd::ask(bin)
            .with_context(|| format!("{}: cannot use it", origin.name(Field::ContainerdBin)))?,
        None => match containerd::find(&settings.root) {
            Some(binary) => binary,
            None => return Ok(Validation::skipped(None, no_binary(&settings.root))),
        },
    };
    if let Some(reason) = other_line(settings, origin, &binary)? {
        return Ok(Validation::skipped(Some(&binary), reason));
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let old = change
        .before_bytes()
        .filter(|b| !b.iter().all(u8::is_ascii_whitespace))
        .map(text);
    let new = text(after);
    let want = ContainerdConfig::parse(config.as_path(), after)?
        .config_path()
        .map(String::from);
    validate::check(&Check {
        root: &settings.root,
        binary: &binary,
        config,
        old: old.as_deref(),
        new: &new,
        want: want.as_deref(),
    })?;
    Ok(Validation::ran(&binary))
}

/// A binary of another release line than `--containerd-version`: an error
/// when the user named it, a reason to skip when it was found.
fn other_line(settings: &Settings, origin: &Origin, binary: &Binary) -> Result<Option<String>> {
    let Some(target) = &settings.containerd else {
        return Ok(None);
    };
    let (want, have) = (target.version, binary.version);
    if (want.major, want.minor) == (have.major, have.minor) {
        return Ok(None);
    }
    let what = format!(
        "{} is containerd {have}, but the files are written for {want} ({})",
        binary.path.display(),
        target.source
    );
    if settings.containerd_bin.is_some() {
        bail!(usage(format!(
            "{}: {what}; its `config dump` would judge them as {have} reads them. \
             Name a {}.{} binary, or drop one of the two",
            origin.name(Field::ContainerdBin),
            want.major,
            want.minor
        )));
    }
    Ok(Some(what))
}

fn no_binary(root: &Root) -> String {
    if root.is_system() {
        "no containerd on PATH that reports its version".to_string()
    } else {
        format!(
            "no containerd in {} (usr/local/bin, usr/bin, bin) that reports its version",
            root.dir().display()
        )
    }
}
