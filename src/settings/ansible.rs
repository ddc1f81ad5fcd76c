//! certsd's arguments as an Ansible module: the JSON object Ansible writes
//! to the args file. Its keys are the spec's (read by the spec reader, so the
//! messages and "did you mean" are the same) plus the module's own (`root`,
//! `prune`, `restart`, `restart_command`, `state`) and Ansible's `_ansible_*`
//! family, of which only the keys that change what a run does are read.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::spec::{Spec, SpecSource, TOP_KEYS};
use super::spec_table::Table;
use crate::exit_codes::usage;
use crate::formats::spec::{self, Entry, Format, Node, Value};

/// How messages name the arguments: the args file is a temporary file
/// Ansible removes, and its one line of JSON is not what the user wrote.
pub const ARGS_NAME: &str = "module args";

/// The module's own keys, beside the spec's.
const MODULE_KEYS: [&str; 5] = ["root", "prune", "restart", "restart_command", "state"];

/// Keys naming files the module reads on the node (see [`relative_paths`]).
const INPUT_PATH_KEYS: [&str; 5] = ["ca", "client_cert", "client_key", "password_file", "ca_dir"];

/// What Ansible itself asks for, from its `_ansible_*` keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnsibleFlags {
    /// `--check`: plan only, write nothing.
    pub check_mode: bool,
    /// `--diff`: return the before and after of every changed file.
    pub diff: bool,
    /// `no_log: true`: return no file contents at all.
    pub no_log: bool,
}

/// The module's arguments, read and checked.
pub struct ModuleArgs {
    /// The spec keys, read as `-f` reads a spec.
    pub spec: Spec,
    /// `root`: as `--root`.
    pub root: Option<PathBuf>,
    /// `prune`: as `--prune`.
    pub prune: bool,
    /// `restart` (with `restart_command`, split into words): as `--restart`.
    pub restart: Option<Vec<String>>,
    pub ansible: AnsibleFlags,
}

impl ModuleArgs {
    /// Reads the args file's bytes; every mistake is a usage error.
    pub fn read(bytes: &[u8], default_restart: &str) -> Result<ModuleArgs> {
        let root =
            spec::parse(ARGS_NAME, bytes, Format::Json).map_err(|e| usage(format!("{e:#}")))?;
        let Value::Table(entries) = &root.value else {
            return Err(usage(format!(
                "{ARGS_NAME}: must be a JSON object of module arguments, not {}",
                root.value.kind()
            )));
        };
        // Ansible adds keys of its own with every release: the whole family is
        // accepted, so a newer ansible-core does not break the module.
        let (ansible, ours): (Vec<Entry>, Vec<Entry>) = entries
            .iter()
            .cloned()
            .partition(|e| e.key.starts_with("_ansible_"));
        let args = Node {
            value: Value::Table(ours),
            at: root.at,
        };
        let known: Vec<&str> = TOP_KEYS.iter().chain(&MODULE_KEYS).copied().collect();
        let t = Table::new(ARGS_NAME, &args, "the module arguments".into(), &known)?;
        check_state(&t)?;
        let spec = read_spec(&t)?;
        Ok(ModuleArgs {
            spec,
            root: read_root(&t)?,
            prune: t.bool("prune")?.unwrap_or(false),
            restart: restart_words(&t, default_restart)?,
            ansible: flags(&ansible),
        })
    }
}

fn flags(entries: &[Entry]) -> AnsibleFlags {
    let set = |key: &str| {
        entries
            .iter()
            .any(|e| e.key == key && e.node.value == Value::Bool(true))
    };
    AnsibleFlags {
        check_mode: set("_ansible_check_mode"),
        diff: set("_ansible_diff"),
        no_log: set("_ansible_no_log"),
    }
}

fn check_state(t: &Table<'_>) -> Result<()> {
    let Some(entry) = t.get("state") else {
        return Ok(());
    };
    match t.str("state")?.as_deref() {
        None | Some("present") => Ok(()),
        Some(other) => Err(usage(format!(
            "{}: state {other:?} is not supported; the only state is \"present\" (to remove a \
             registry certsd created, drop it from `registries` and set prune: true)",
            t.place(entry)
        ))),
    }
}

/// `root`, which must be absolute: the module's working directory is a
/// temporary one Ansible makes.
fn read_root(t: &Table<'_>) -> Result<Option<PathBuf>> {
    let Some(root) = t.str("root")? else {
        return Ok(None);
    };
    if !Path::new(&root).is_absolute() {
        let place = t.get("root").map_or_else(String::new, |e| t.place(e));
        return Err(usage(format!(
            "{place}: {root:?} is a relative path; give the absolute path of the directory on the node"
        )));
    }
    Ok(Some(PathBuf::from(root)))
}

/// `restart_command` as the flag takes it (`'CMD ARGS'`, run without a
/// shell) or as a list of words.
fn restart_words(t: &Table<'_>, default: &str) -> Result<Option<Vec<String>>> {
    let command = t.get("restart_command");
    if !t.bool("restart")?.unwrap_or(false) {
        return match command {
            Some(e) => Err(usage(format!(
                "{} is given but restart is not true; set restart: true to restart containerd when config.toml changes",
                t.place(e)
            ))),
            None => Ok(None),
        };
    }
    let words = match command.map(|e| (e, &e.node.value)) {
        None => shlex::split(default).unwrap_or_default(),
        Some((e, Value::Str(raw))) => shlex::split(raw).ok_or_else(|| {
            usage(format!(
                "{}: cannot split {raw:?} into words (an unclosed quote?); it is run without a shell, or give a list",
                t.place(e)
            ))
        })?,
        Some((e, Value::List(_))) => t.strings("restart_command")?.ok_or_else(|| {
            usage(format!("{}: must be a list of strings", t.place(e)))
        })?,
        Some((e, other)) => {
            return Err(usage(format!(
                "{} must be a string 'CMD ARGS' or a list of words, not {}",
                t.place(e),
                other.kind()
            )));
        }
    };
    if words.is_empty() {
        return Err(usage(format!(
            "{}: the restart command is empty; give e.g. [systemctl, restart, containerd]",
            command.map_or_else(|| ARGS_NAME.to_string(), |e| t.place(e))
        )));
    }
    Ok(Some(words))
}

/// The spec's keys, read as a spec. The module runs in a temporary
/// directory on the node, so no directory would make a relative path mean
/// what its writer thought: input files must be absolute.
fn read_spec(t: &Table<'_>) -> Result<Spec> {
    let spec_entries: Vec<Entry> = t
        .entries()
        .iter()
        .filter(|e| TOP_KEYS.contains(&e.key.as_str()))
        .cloned()
        .collect();
    if let Some((at, key, path)) = spec_entries.iter().find_map(relative_paths) {
        return Err(usage(format!(
            "{ARGS_NAME}:{at}: {key} {path:?} is a relative path; the module runs in a temporary directory on the node, so give the absolute path of the file on the node"
        )));
    }
    let source = SpecSource {
        name: ARGS_NAME.into(),
        dir: PathBuf::from("/"),
        bytes: Vec::new(),
        format: Format::Json,
    };
    let node = Node {
        value: Value::Table(spec_entries),
        at: t.at,
    };
    Spec::from_tree(&source, &node)
}

/// The first relative input path under `registries` (its mirrors and
/// `auth` tables included): where it is, its key and the path.
fn relative_paths(entry: &Entry) -> Option<(spec::Pos, String, String)> {
    let relative = |n: &Node| match &n.value {
        Value::Str(p) if !Path::new(p).is_absolute() => Some(p.clone()),
        _ => None,
    };
    match (&entry.node.value, entry.key.as_str()) {
        (Value::List(items), "registries" | "mirrors") => items.iter().find_map(|item| {
            let Value::Table(entries) = &item.value else {
                return None;
            };
            entries.iter().find_map(relative_paths)
        }),
        (Value::Table(entries), "auth") => entries.iter().find_map(relative_paths),
        (Value::List(items), key) if INPUT_PATH_KEYS.contains(&key) => items
            .iter()
            .find_map(|n| relative(n).map(|p| (n.at, key.to_string(), p))),
        (_, key) if INPUT_PATH_KEYS.contains(&key) => {
            relative(&entry.node).map(|p| (entry.at, key.to_string(), p))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<ModuleArgs> {
        ModuleArgs::read(json.as_bytes(), "systemctl restart containerd")
    }

    fn err(json: &str) -> String {
        format!("{:#}", read(json).err().expect(json))
    }

    #[test]
    fn spec_keys_module_keys_and_ansible_flags() {
        let a = read(
            r#"{"registries": [{"host": "r.example", "skip_verify": true}], "root": "/tmp/r",
                "prune": true, "restart": true, "restart_command": ["/bin/rec", "a b"],
                "_ansible_check_mode": true, "_ansible_diff": true, "_ansible_verbosity": 3,
                "_ansible_some_future_key": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(a.spec.registries.len(), 1);
        assert_eq!(a.root, Some(PathBuf::from("/tmp/r")));
        assert!(a.prune);
        assert_eq!(a.restart, Some(vec!["/bin/rec".into(), "a b".into()]));
        assert!(a.ansible.check_mode && a.ansible.diff && !a.ansible.no_log);
    }

    #[test]
    fn restart_command_as_a_string_is_split_like_the_flag() {
        let a =
            read(r#"{"registries": [], "restart": true, "restart_command": "rec 'a b'"}"#).unwrap();
        assert_eq!(a.restart, Some(vec!["rec".into(), "a b".into()]));
        let a = read(r#"{"registries": [], "restart": true}"#).unwrap();
        assert_eq!(a.restart.unwrap()[0], "systemctl");
        assert!(read(r#"{"registries": []}"#).unwrap().restart.is_none());
    }

    #[test]
    fn mistakes_name_the_key() {
        for (json, want) in [
            (
                r#"{"registries": [], "prnue": true}"#,
                "unknown key `prnue`",
            ),
            (
                r#"{"registries": [], "prnue": true}"#,
                "did you mean prune?",
            ),
            (
                r#"{"registries": [{"host": "r", "skip_verfy": true}]}"#,
                "did you mean skip_verify?",
            ),
            (
                r#"{"registries": [], "state": "absent"}"#,
                "state \"absent\"",
            ),
            (
                r#"{"registries": [], "restart_command": "x"}"#,
                "restart is not true",
            ),
            (
                r#"{"registries": [], "restart": true, "restart_command": []}"#,
                "empty",
            ),
            (r#"{"registries": [], "restart": "yes"}"#, "true or false"),
            (r"[1]", "must be a JSON object"),
            (r#"{"root": "/x"}"#, "no `registries` key"),
            (r#"{"registries": [], "root": "x"}"#, "relative path"),
        ] {
            let e = err(json);
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn relative_input_paths_are_refused_wherever_they_are() {
        for json in [
            r#"{"registries": [{"host": "r", "ca": "ca.crt"}]}"#,
            r#"{"registries": [{"host": "r", "ca": ["/abs.crt", "rel.crt"]}]}"#,
            r#"{"registries": [{"host": "r", "mirrors": [{"url": "https://m", "client_cert": "c", "client_key": "/k"}]}]}"#,
            r#"{"registries": [{"host": "r", "auth": {"username": "u", "password_file": "pw"}}]}"#,
        ] {
            let e = err(json);
            assert!(e.contains("is a relative path"), "{json}: {e}");
        }
        read(r#"{"registries": [{"host": "r", "ca": "/etc/ca.crt"}]}"#).unwrap();
    }
}
