//! The crate's modules import downwards only: each top-level module of
//! `host/src` sits in a layer, and imports (`crate::module`) point to its
//! own layer or below, never up, and never round in a circle. Read from the
//! sources, comments and unit tests left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: what reads bytes and files; every setting;
/// the fleet and who we are; the policy, the snapshot and the answer; what
/// is made of an answer; the daemon; the binary's commands.
const LAYERS: &[&[&str]] = &[
    &[
        "atomic_file",
        "bounded_read",
        "capped_file",
        "located",
        "paths",
        "report",
        "terminal_text",
    ],
    &["settings"],
    &["events", "identity", "inventory", "self_lifecycle"],
    &["membership", "policy", "snapshot"],
    &[
        "cases", "changes", "diff", "explain", "graph", "output", "resolve", "sink", "wait",
    ],
    &["daemon", "embedded"],
    &["cli", "commands", "scaffold"],
];

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every top-level module, and the modules its code (not its comments or
/// unit tests) names as `crate::module`, each with the file that does.
fn imports() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let root = source_root();
    let mut imports: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = Path::new(first).with_extension("");
            let module = module.to_str().unwrap().to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let named = imports.entry(module.clone()).or_default();
            for other in named_modules(&std::fs::read_to_string(&path).unwrap()) {
                if other != module {
                    named.entry(other).or_insert_with(|| relative.to_owned());
                }
            }
        }
    }
    imports
}

/// The top-level modules `text` names after `crate::`, its comments and its
/// `#[cfg(test)] mod tests` left out; `use crate::{a, b::c}` names `a` and
/// `b`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let identifier = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find("};").unwrap_or(group.len())];
            let mut depth = 0;
            let mut start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start => {
                        named.insert(identifier(&group[index..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(identifier(rest));
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<_> = imports()
        .into_keys()
        .filter(|module| layer_of(module).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer of tests/layers.rs: {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut upwards = Vec::new();
    for (module, named) in imports() {
        for (other, file) in named {
            if let (Some(from), Some(to)) = (layer_of(&module), layer_of(&other))
                && to > from
            {
                upwards.push(format!("{} imports {other}", file.display()));
            }
        }
    }
    assert!(upwards.is_empty(), "imports up a layer: {upwards:#?}");
}

#[test]
fn the_modules_import_one_another_in_no_circle() {
    let imports = imports();
    // Depth-first from every module; a module met again while its own
    // search is open closes a circle.
    fn visit(
        module: &str,
        imports: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        open: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = open.iter().position(|open| open == module) {
            let mut circle = open[at..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        open.push(module.to_owned());
        for other in imports.get(module).into_iter().flat_map(BTreeMap::keys) {
            if let Some(circle) = visit(other, imports, open, done) {
                return Some(circle);
            }
        }
        open.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in imports.keys() {
        let circle = visit(module, &imports, &mut Vec::new(), &mut done);
        assert_eq!(circle, None, "modules that import one another in a circle");
    }
}

#[test]
fn imports_are_read_from_paths_groups_and_not_comments() {
    let text = "use crate::a::B;\nuse crate::{c, d::{E, F}, g::H};\n\
                // crate::commented\nfn f() { crate::i::j(); }\n\
                #[cfg(test)]\nmod tests {\n    use crate::tested;\n}\n";
    let named: Vec<_> = named_modules(text).into_iter().collect();
    assert_eq!(named, ["a", "c", "d", "g", "i"]);
}
