//! The shape of `src/`, checked: the top-level modules import each other
//! without a cycle, and only `cli` (and the exit-code mapping of clap's own
//! errors) knows clap. A change that tangles the layers fails here, naming
//! the imports that close the circle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Top-level module -> the top-level modules it names with `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(path).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for piece in text.split("crate::").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any, as the list of modules on it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut circle = path.clone();
                circle.push(start.to_string());
                return Some(circle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let graph = imports();
    assert!(graph.len() >= 8, "too few modules found: {graph:?}");
    for module in graph.keys() {
        if let Some(circle) = cycle_from(&graph, module) {
            panic!("import cycle: {}", circle.join(" -> "));
        }
    }
    // The core is pure: it neither parses the command line nor writes.
    for low in ["core", "formats", "node", "settings"] {
        for high in ["cli", "commands", "render", "writer"] {
            assert!(
                !graph[low].contains(high),
                "{low} imports {high}: the layers run the wrong way"
            );
        }
    }
}

#[test]
fn only_the_command_line_layer_knows_clap() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = entry
            .path()
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if entry.path().extension().is_none_or(|e| e != "rs")
            || rel.starts_with("cli/")
            || rel == "main.rs"
            || rel == "exit_codes.rs"
        {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap();
        assert!(
            !text.contains("clap::"),
            "{rel} uses clap: only src/cli/ may"
        );
    }
}
