//! In each product crate (`core`, `io`, `lambda`), the modules import one another without a
//! ring: the `crate::` and `super::` paths in each source file (comments aside) form a graph with
//! no cycle. A folder module (`kube/mod.rs`) and each of its files (`kube/scale.rs`) count as
//! separate modules; a parent declaring its children (`pub mod scale;`) is not an import, a parent
//! re-exporting from one (`pub use scale::Scale;`) is. Test code is left out: a file's
//! `#[cfg(test)] mod tests { .. }` at its end, and a module declared under `#[cfg(test)]` (a test
//! helper may build the whole configuration the module under test is part of). Folders too: a
//! folder and everything in it, taken as one module, form no ring with the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every source file's module path (`kube::scale`; the crate root is empty) and text.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            found.insert(parts.join("::"), without_tests(&text));
        }
    }
    let test_only: Vec<String> = found
        .iter()
        .flat_map(|(module, text)| {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            lines
                .windows(2)
                .filter(|w| w[0] == "#[cfg(test)]")
                .filter_map(|w| {
                    w[1].strip_prefix("mod ")
                        .or(w[1].strip_prefix("pub(crate) mod "))
                })
                .map(|child| child.trim_end_matches(';').to_owned())
                .map(|child| {
                    if module.is_empty() {
                        child
                    } else {
                        format!("{module}::{child}")
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for module in test_only {
        found.remove(&module);
    }
    found
}

/// `text` up to its `#[cfg(test)] mod tests {` block, which runs to the end of the file.
fn without_tests(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim().starts_with("mod tests {"))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// The path segments after `crate::`, `super::` or `self::` at each place in `line`, with the
/// module each is relative to. A group (`crate::{a, b::c}`) gives each of its members.
fn paths(line: &str, module: &str, is_mod_rs: bool) -> Vec<(String, Vec<String>)> {
    let ident = |s: &str| {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect::<Vec<_>>()
    };
    let parent = |m: &str| {
        m.rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_owned())
    };
    let mut out = Vec::new();
    for (anchor, base) in [
        ("crate::", String::new()),
        // In `x.rs`, `super` is `x`'s parent; in `x/mod.rs` too, and `self` is `x`.
        ("super::", parent(module)),
        (
            "self::",
            if is_mod_rs {
                module.to_owned()
            } else {
                parent(module)
            },
        ),
    ] {
        let mut rest = line;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            rest = &rest[at + anchor.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for member in group.split(',') {
                    out.push((base.clone(), ident(member.trim())));
                }
            } else {
                out.push((base.clone(), ident(rest)));
            }
        }
    }
    out
}

/// The longest module that `base::segments` starts with.
fn resolve(known: &BTreeSet<String>, base: &str, segments: &[String]) -> String {
    let mut best = base.to_owned();
    let mut path = base.to_owned();
    for s in segments {
        path = if path.is_empty() {
            s.clone()
        } else {
            format!("{path}::{s}")
        };
        if known.contains(&path) {
            best = path.clone();
        } else {
            break;
        }
    }
    best
}

/// Every import edge between two different modules.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &modules {
        let is_mod_rs = module.is_empty() || {
            let dir = src.join(module.replace("::", "/"));
            dir.join("mod.rs").exists()
        };
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split(" //").next().unwrap_or(code);
            let mut found = paths(code, module, is_mod_rs);
            // `use scale::Scale;` in `kube/mod.rs`: a path from a child of this module.
            let used = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .find_map(|u| code.strip_prefix(u));
            if let Some(first) = used.and_then(|u| u.split("::").next()) {
                let child = if module.is_empty() {
                    first.to_owned()
                } else {
                    format!("{module}::{first}")
                };
                if known.contains(&child) {
                    found.push((child, Vec::new()));
                }
            }
            for (base, segments) in found {
                let to = resolve(&known, &base, &segments);
                if &to != module {
                    graph.entry(module.clone()).or_default().insert(to);
                }
            }
        }
        graph.entry(module.clone()).or_default();
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut ring = stack[at..].to_vec();
            ring.push(node.to_owned());
            return Some(ring);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(ring) = visit(next, graph, done, stack) {
                return Some(ring);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn name(module: &str) -> &str {
    if module.is_empty() {
        "crate"
    } else {
        module
    }
}

#[test]
fn no_module_imports_form_a_ring() {
    for krate in ["core", "io", "lambda"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates")
            .join(krate)
            .join("src");
        no_ring_in(krate, &src);
    }
}

/// `graph` with each module taken as its ancestor `depth` segments deep (`report::doctor` is
/// `report` at depth 1): a folder and everything in it are one node, and the imports inside it
/// are left out.
fn folders(
    graph: &BTreeMap<String, BTreeSet<String>>,
    depth: usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let up = |m: &str| m.split("::").take(depth).collect::<Vec<_>>().join("::");
    let mut folded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in graph {
        let from = up(from);
        let entry = folded.entry(from.clone()).or_default();
        for t in to {
            let t = up(t);
            if t != from {
                entry.insert(t);
            }
        }
    }
    folded
}

/// The modules of the crate whose sources are in `src` form no ring, file by file, and folder
/// by folder at each depth: `a/x.rs` importing `b.rs` while `b.rs` imports `a/y.rs` is a ring
/// between the folder `a` and `b`, which no two files show.
fn no_ring_in(krate: &str, src: &Path) {
    let files = edges(src);
    let deepest = files
        .keys()
        .map(|m| m.split("::").count())
        .max()
        .unwrap_or(1);
    for depth in 1..deepest {
        let graph = folders(&files, depth);
        if let Some(ring) = cycle(&graph) {
            let ring: Vec<&str> = ring.iter().map(|m| name(m)).collect();
            panic!(
                "a ring of imports between folders (depth {depth}) in {krate}: {}",
                ring.join(" -> ")
            );
        }
    }
    let graph = files;
    let listing: Vec<String> = graph
        .iter()
        .map(|(from, to)| {
            let to: Vec<&str> = to.iter().map(|m| name(m)).collect();
            format!("{} -> {}", name(from), to.join(", "))
        })
        .collect();
    println!("{}", listing.join("\n"));
    if let Some(ring) = cycle(&graph) {
        let ring: Vec<&str> = ring.iter().map(|m| name(m)).collect();
        panic!(
            "a ring of imports in {krate}: {}\nthe imports:\n{}",
            ring.join(" -> "),
            listing.join("\n")
        );
    }
}

#[test]
fn the_scanner_sees_plain_grouped_and_relative_imports() {
    let known: BTreeSet<String> = ["kube", "kube::scale", "error"]
        .into_iter()
        .map(String::from)
        .collect();
    let found: Vec<String> = paths(
        "use crate::{error::Error, kube::scale::Scale}; let x = super::scale::f(crate::kube::x);",
        "kube::probe",
        false,
    )
    .into_iter()
    .map(|(base, segments)| resolve(&known, &base, &segments))
    .collect();
    assert_eq!(found, ["error", "kube::scale", "kube", "kube::scale"]);
}

#[test]
fn a_ring_between_a_folder_and_a_file_is_seen_at_the_folders_depth() {
    // `report/lines.rs` imports `failure.rs`, which imports `report/mod.rs`: no two files form a
    // ring, the folder `report` and `failure` do.
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("report", vec![]),
        ("report::lines", vec!["failure"]),
        ("failure", vec!["report"]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycle(&graph), None, "no ring between files");
    assert_eq!(
        cycle(&folders(&graph, 1)),
        Some(vec![
            "failure".to_owned(),
            "report".to_owned(),
            "failure".to_owned()
        ])
    );
}
