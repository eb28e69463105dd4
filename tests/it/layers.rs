//! The product's modules import each other in one direction only: a test
//! that reads `src/` and fails on any loop of imports between its files,
//! so that no change can bring one back.
//!
//! A file imports another when it names something defined there: through
//! `use` (a tree of paths, expanded) or a `crate::…`/`super::…` path in its
//! code. A name a module only re-exports (`pub use`) is followed to the
//! file that defines it, as a reader would, so a `mod.rs` that re-exports
//! its children is not a loop with them. Test modules at the end of a file
//! (`#[cfg(test)]`) are left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// A module path from the crate root: `["slack", "app"]`.
type ModPath = Vec<String>;

struct Crate {
    /// Module path → its file.
    files: BTreeMap<ModPath, PathBuf>,
    /// Module path → name → where that module re-exports it from.
    reexports: HashMap<ModPath, HashMap<String, ModPath>>,
    /// Module path → the paths it uses (absolute).
    uses: HashMap<ModPath, Vec<ModPath>>,
}

fn module_path(root: &Path, file: &Path) -> Option<ModPath> {
    let relative = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" if parts.is_empty() => {}
        "main.rs" if parts.is_empty() => return None,
        "mod.rs" => {}
        other => parts.push(other.strip_suffix(".rs")?.to_owned()),
    }
    Some(parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments, string literals and its trailing
/// test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                code.push_str("\"\"");
            }
            other => code.push(other),
        }
    }
    code
}

/// `use` trees, expanded: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len().saturating_sub(1)];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// A path as written in `module` made absolute; None for one outside the
/// crate (`std::…`, a dependency). `modules` are the crate's modules, for
/// a `use` path that starts with a child module's name.
fn absolute(module: &ModPath, path: &str, modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut segments = path.split("::").map(str::to_owned);
    let first = segments.next()?;
    let mut base: ModPath = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut parent = module.clone();
            parent.pop();
            parent
        }
        child => {
            let mut relative = module.clone();
            relative.push(child.to_owned());
            if !modules.contains(&relative) {
                return None;
            }
            relative
        }
    };
    for segment in segments {
        match segment.as_str() {
            "super" => {
                base.pop();
            }
            "self" | "*" => {}
            other => base.push(other.split(" as ").next().unwrap_or(other).to_owned()),
        }
    }
    Some(base)
}

fn read_crate(root: &Path) -> Crate {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().filter_map(|f| module_path(root, f)).collect();
    let mut krate = Crate {
        files: BTreeMap::new(),
        reexports: HashMap::new(),
        uses: HashMap::new(),
    };
    for file in files {
        let Some(module) = module_path(root, &file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        let mut uses = Vec::new();
        let mut reexports = HashMap::new();
        let mut rest = String::new();
        for statement in code.split_inclusive(';') {
            let trimmed = statement.trim_start();
            let (public, tree) = if let Some(tree) = trimmed.strip_prefix("pub use ") {
                (true, tree)
            } else if let Some(tree) = trimmed
                .strip_prefix("pub(crate) use ")
                .or_else(|| trimmed.strip_prefix("pub(super) use "))
            {
                (true, tree)
            } else if let Some(tree) = trimmed.strip_prefix("use ") {
                (false, tree)
            } else {
                rest.push_str(statement);
                continue;
            };
            for path in expand(tree.trim_end_matches(';')) {
                let name_part = path.rsplit("::").next().unwrap_or("").to_owned();
                let alias = name_part
                    .split(" as ")
                    .last()
                    .unwrap_or(&name_part)
                    .to_owned();
                let path = path.replace(" as ", "@");
                let path = path.split('@').next().unwrap_or("").to_owned();
                let Some(target) = absolute(&module, &path, &modules) else {
                    continue;
                };
                if public {
                    reexports.insert(alias, target);
                } else {
                    uses.push(target);
                }
            }
        }
        uses.extend(
            regex_free_paths(&rest)
                .into_iter()
                .filter_map(|p| absolute(&module, &p, &modules)),
        );
        krate.files.insert(module.clone(), file);
        krate.uses.insert(module.clone(), uses);
        krate.reexports.insert(module, reexports);
    }
    krate
}

/// `crate::a::b` and `super::a` paths written in code.
fn regex_free_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            let preceded = at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':');
            if preceded {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            found.push(code[at..end].trim_end_matches(':').to_owned());
        }
    }
    found
}

impl Crate {
    /// The file that defines what `path` names: the longest module prefix
    /// that is a file, then through its re-exports.
    fn defining_file(&self, path: &ModPath, depth: usize) -> Option<ModPath> {
        let module = (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| self.files.contains_key(prefix))?;
        if depth < 8 {
            if let Some(name) = path.get(module.len()) {
                if let Some(source) = self.reexports.get(&module).and_then(|r| r.get(name)) {
                    let mut followed = source.clone();
                    followed.extend(path[module.len() + 1..].iter().cloned());
                    if let Some(found) = self.defining_file(&followed, depth + 1) {
                        return Some(found);
                    }
                }
            }
        }
        Some(module)
    }

    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (module, uses) in &self.uses {
            let targets = edges.entry(module.clone()).or_default();
            for used in uses {
                if let Some(file) = self.defining_file(used, 0) {
                    // A module naming its own child (`mod x;` aside) or
                    // itself is not an import between two files.
                    if &file != module {
                        targets.insert(file);
                    }
                }
            }
        }
        edges
    }
}

/// The strongly connected groups of more than one file (Tarjan).
fn loops(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: HashMap<&'a ModPath, usize>,
        low: HashMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a ModPath) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    group.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

/// The loops among the files of the crate whose sources are in `root`;
/// `at_least`: imports the reader must find there, or it is not reading
/// the code.
fn loops_in(root: &Path, at_least: usize) -> Vec<String> {
    let krate = read_crate(root);
    let edges = krate.edges();
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() >= at_least,
        "the reader found too few imports in {} to be reading the code",
        root.display()
    );
    loops(&edges)
        .into_iter()
        .map(|group| {
            group
                .iter()
                .map(|m| {
                    krate.files[m]
                        .strip_prefix(root)
                        .unwrap_or(&krate.files[m])
                        .display()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" ↔ ")
        })
        .collect()
}

#[test]
fn no_file_of_the_product_imports_one_that_imports_it_back() {
    let found = loops_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 150);
    assert!(
        found.is_empty(),
        "import loops among src/'s files:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_file_of_the_stand_ins_imports_one_that_imports_it_back() {
    let found = loops_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("standins/src"),
        8,
    );
    assert!(
        found.is_empty(),
        "import loops among standins/src/'s files:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reader_finds_a_loop_when_there_is_one() {
    // Two modules that name each other, and a parent that only re-exports.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub use a::x::Thing;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "pub mod x;\npub mod y;\npub use x::Thing;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/x.rs"),
        "use super::y::Other;\npub struct Thing;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/y.rs"),
        "pub struct Other;\nfn f() { let _ = crate::Thing; }\n",
    )
    .unwrap();
    let krate = read_crate(src);
    let groups = loops(&krate.edges());
    assert_eq!(groups.len(), 1, "{groups:?}");
    let mut group = groups[0].clone();
    group.sort();
    assert_eq!(
        group,
        vec![
            vec!["a".to_owned(), "x".to_owned()],
            vec!["a".to_owned(), "y".to_owned()]
        ]
    );
}
