//! The server's module layering, as `lib.rs` documents it: the handler modules it
//! names import no other handler module, and no chain of imports among the modules
//! comes back to where it started, so a newcomer can start reading from any leaf. And
//! every crate's top doc names all its modules.
//!
//! Imports are the `crate::<module>` paths in code; comments (doc links included) are
//! not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules a crate root declares in files of their own (`mod x;`).
fn modules(root: &str) -> BTreeSet<String> {
    root.lines()
        .filter_map(|l| l.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ").strip_prefix("mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(|name| name.trim().to_string())
        .collect()
}

/// The modules `lib.rs`'s doc lists as handler modules: those between its "Handler
/// modules" line and the list of what they share.
fn handler_modules(lib: &str) -> BTreeSet<String> {
    let doc: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//!")).collect();
    let start = doc.iter().position(|l| l.contains("Handler modules")).expect("lib.rs lists its handler modules");
    let end = start + doc[start..].iter().position(|l| l.contains("What handlers share")).expect("and what they share");
    doc[start..end].iter().filter_map(|l| listed_name(l)).collect()
}

/// `name` from a doc list item ``- [`name`]: ...`` or ``- `name`: ...``.
fn listed_name(line: &str) -> Option<String> {
    let item = line.trim().strip_prefix("- ")?;
    let item = item.strip_prefix('[').unwrap_or(item).strip_prefix('`')?;
    Some(item[..item.find('`')?].to_string())
}

/// The source of `module`: its file, or every file of its folder.
fn sources(module: &str) -> String {
    let file = src().join(format!("{module}.rs"));
    if file.exists() {
        return std::fs::read_to_string(file).unwrap();
    }
    let mut all = String::new();
    let mut stack = vec![src().join(module)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("module {module}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                all.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    all
}

/// The other top-level modules `code` names as `crate::<module>`, comments left out.
fn imports(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
        // `use crate::{a, b::c}`.
        if let Some(group) = line.split("crate::{").nth(1) {
            for part in group.split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if modules.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// The server's modules, what each imports, and its `lib.rs`.
fn graph() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>, String) {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let modules = modules(&lib);
    let graph = modules
        .iter()
        .map(|m| {
            let mut uses = imports(&sources(m), &modules);
            uses.remove(m);
            (m.clone(), uses)
        })
        .collect();
    (graph, modules, lib)
}

/// A cycle through `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

/// Every crate of the workspace names each of its modules in its top doc (as
/// `` `name` `` or a path starting with it), so the doc is a map of the crate.
#[test]
fn every_crate_doc_names_all_its_modules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        for root in ["src/lib.rs", "src/main.rs"] {
            let Ok(text) = std::fs::read_to_string(dir.join(root)) else { continue };
            let doc: String = text.lines().filter_map(|l| l.strip_prefix("//!")).collect::<Vec<_>>().join("\n");
            let unnamed: Vec<String> = modules(&text)
                .into_iter()
                .filter(|m| !doc.contains(&format!("`{m}`")) && !doc.contains(&format!("`{m}::")))
                .collect();
            assert!(unnamed.is_empty(), "{}/{root}: the top doc does not name {unnamed:?}", dir.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} crates found under {}", crates.display());
}

#[test]
fn no_handler_module_imports_another() {
    let (graph, modules, lib) = graph();
    let handlers = handler_modules(&lib);
    assert!(handlers.len() >= 10 && handlers.is_subset(&modules), "{handlers:?}");
    let crossing: Vec<String> = handlers
        .iter()
        .flat_map(|h| graph[h].intersection(&handlers).map(move |other| format!("{h} -> {other}")))
        .collect();
    assert!(crossing.is_empty(), "handler modules import each other: {crossing:?}");
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let (graph, _, _) = graph();
    assert!(graph["router"].contains("openapi"), "imports are seen: {graph:?}");
    assert_eq!(cycle(&graph), None, "an import cycle");
}

#[test]
fn the_checks_see_imports_and_cycles() {
    let modules: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let code = "use crate::a::X;\n/// [`crate::c`]\nuse crate::{b, c::Y}; // crate::zzz\n";
    assert_eq!(imports(code, &modules), ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    assert_eq!(imports("//! [`crate::a`]", &modules), BTreeSet::new());
    let edges = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in pairs {
            g.entry(from.to_string()).or_default().insert(to.to_string());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    assert_eq!(cycle(&edges(&[("a", "b"), ("b", "c")])), None);
    assert!(cycle(&edges(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
    assert_eq!(listed_name(" - [`ingest`]: ingestion"), Some("ingest".into()));
    assert_eq!(listed_name(" - `resource`: the pattern"), Some("resource".into()));
}
