//! The rule that keeps a crate's files layered: no two files import each
//! other, directly or through a cycle. A file imports another when it
//! names a module of that file by path (`use crate::api::error::ApiError`,
//! `use super::*`, `super::templates::list` in an attribute, `mod.rs`'s
//! `pub use error::ApiError`); a `mod x;` declaration is not an import.
//! A path resolves to the file of the longest module prefix it names, so
//! an item re-exported by `mod.rs` and imported through it is an import
//! of `mod.rs`. A path through one of `lib.rs`'s names for another crate
//! (`use flotilla_core::service;` then `crate::service::…`) is that
//! crate, not a file. Calls of methods defined in another file's `impl`
//! are not paths, and are not counted.
//!
//! Test-only: both `flotilla-engine` and `flotilla-server` run it on their
//! own `src/` (the server includes this file by its path).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file's reference to another: where, and the path as written.
#[derive(Debug, Clone)]
pub struct Reference {
    pub line: usize,
    pub path: String,
}

/// The files of `src` (relative paths, `/`-separated) and, for each, the
/// files it imports with the first reference to each.
pub type Imports = BTreeMap<String, BTreeMap<String, Reference>>;

/// `Err` names every cycle found, one per line, with the reference that
/// makes each step of it.
pub fn check(src: &Path) -> Result<(), String> {
    let imports = imports(src)?;
    let cycles = cycles(&imports);
    if cycles.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    for cycle in cycles {
        out.push_str("import cycle:");
        for pair in cycle.windows(2) {
            let r = &imports[&pair[0]][&pair[1]];
            out.push_str(&format!(
                "\n  {} imports {} (line {}: {})",
                pair[0], pair[1], r.line, r.path
            ));
        }
        out.push('\n');
    }
    Err(out)
}

/// Every `.rs` file under `src` with the files it imports.
pub fn imports(src: &Path) -> Result<Imports, String> {
    let mut files = Vec::new();
    walk(src, src, &mut files)?;
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|(rel, _)| (module_of(rel), rel.clone()))
        .collect();
    let mut lib_aliases = BTreeSet::new();
    let mut parsed = Vec::new();
    for (rel, text) in &files {
        let tokens = tokens(text);
        let module = module_of(rel);
        let refs = references(&tokens, &module);
        if module.is_empty() {
            lib_aliases.extend(external_names(&tokens, &modules));
        }
        parsed.push((rel.clone(), refs));
    }
    let mut out = Imports::new();
    for (rel, refs) in parsed {
        let mut to: BTreeMap<String, Reference> = BTreeMap::new();
        for (segments, written, line) in refs {
            let Some(target) = resolve(&segments, &modules, &lib_aliases) else {
                continue;
            };
            if target != rel {
                to.entry(target).or_insert(Reference {
                    line,
                    path: written,
                });
            }
        }
        out.insert(rel, to);
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, text));
        }
    }
    Ok(())
}

/// `api/mod.rs` and `api.rs` are `api`; `lib.rs` and `main.rs` the crate.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(String::from).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    let top = parts.is_empty();
    if !(stem == "mod" || (top && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_string());
    }
    parts
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens that matter, with their line: comments, strings and
/// character literals are dropped, `$crate` is `crate`.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && raw_or_byte_string(&chars, i).is_some()) {
            // "…", b"…", r"…", r#"…"#, br#"…"#
            let (hashes, start) = raw_or_byte_string(&chars, i).unwrap_or((None, i + 1));
            i = start;
            while i < chars.len() {
                match (chars[i], hashes) {
                    ('\\', None) => i += 2,
                    ('"', None) => {
                        i += 1;
                        break;
                    }
                    ('"', Some(n)) if (1..=n).all(|k| at(i + k) == '#') => {
                        i += 1 + n;
                        break;
                    }
                    (ch, _) => {
                        line += usize::from(ch == '\n');
                        i += 1;
                    }
                }
            }
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{1f}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push((Token::Ident(word), line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Token::Path, line));
            i += 2;
        } else if c == '$' {
            // `$crate` in a macro is `crate`.
            i += 1;
        } else {
            if !c.is_whitespace() {
                out.push((Token::Punct(c), line));
            }
            i += 1;
        }
    }
    out
}

/// At `i`, the start of a raw or byte string: its `#` count (`None` for
/// one with escapes) and the index after its opening quote.
fn raw_or_byte_string(chars: &[char], i: usize) -> Option<(Option<usize>, usize)> {
    // Only at the start of a word: `for"` is not a string.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    let raw = chars.get(j) == Some(&'r');
    if raw {
        j += 1;
        let mut n = 0;
        while chars.get(j) == Some(&'#') {
            n += 1;
            j += 1;
        }
        return (chars.get(j) == Some(&'"')).then_some((Some(n), j + 1));
    }
    (j > i && chars.get(j) == Some(&'"')).then_some((None, j + 1))
}

fn ident(tokens: &[(Token, usize)], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some((Token::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(tokens: &[(Token, usize)], i: usize, t: &Token) -> bool {
    tokens.get(i).is_some_and(|(x, _)| x == t)
}

/// Every path a file names, made absolute where it starts at `crate`,
/// `super` or `self`, or at a module declared in the file; with the path
/// as written and its line. Inline modules (`mod tests { … }`) shift
/// what `super` and `self` mean.
fn references(
    tokens: &[(Token, usize)],
    file_module: &[String],
) -> Vec<(Vec<String>, String, usize)> {
    // Modules declared here (`mod x;` or `mod x { … }`), by the module
    // they are declared in.
    let mut declared: BTreeSet<Vec<String>> = BTreeSet::new();
    // The inline modules open at each point: (module, brace depth at open).
    let mut stack: Vec<(Vec<String>, usize)> = vec![(file_module.to_vec(), 0)];
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut i = 0;
    // First pass: declared modules, with the nesting they are in.
    {
        let mut stack: Vec<(Vec<String>, usize)> = vec![(file_module.to_vec(), 0)];
        let mut depth = 0usize;
        let mut j = 0;
        while j < tokens.len() {
            match &tokens[j].0 {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if stack.len() > 1 && stack.last().is_some_and(|(_, d)| *d == depth) {
                        stack.pop();
                    }
                }
                Token::Ident(w) if w == "mod" => {
                    if let Some(name) = ident(tokens, j + 1) {
                        let mut m = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
                        m.push(name.to_string());
                        declared.insert(m.clone());
                        if is(tokens, j + 2, &Token::Punct('{')) {
                            stack.push((m, depth));
                            depth += 1;
                            j += 3;
                            continue;
                        }
                    }
                }
                _ => {}
            }
            j += 1;
        }
    }
    while i < tokens.len() {
        let current = stack.last().map(|(m, _)| m.clone()).unwrap_or_default();
        match &tokens[i].0 {
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                if stack.len() > 1 && stack.last().is_some_and(|(_, d)| *d == depth) {
                    stack.pop();
                }
                i += 1;
            }
            Token::Ident(w) if w == "mod" && ident(tokens, i + 1).is_some() => {
                let name = ident(tokens, i + 1).unwrap_or_default().to_string();
                if is(tokens, i + 2, &Token::Punct('{')) {
                    let mut m = current.clone();
                    m.push(name);
                    stack.push((m, depth));
                    depth += 1;
                    i += 3;
                } else {
                    i += 2;
                }
            }
            // `pub(crate)`, `pub(super)`, `pub(in crate::x)` name no import.
            Token::Ident(w) if w == "pub" && is(tokens, i + 1, &Token::Punct('(')) => {
                i += 2;
                while i < tokens.len() && !is(tokens, i, &Token::Punct(')')) {
                    i += 1;
                }
                i += 1;
            }
            Token::Ident(w) if w == "use" => {
                let line = tokens[i].1;
                let mut paths = Vec::new();
                i = use_tree(tokens, i + 1, Vec::new(), &mut paths);
                for p in paths {
                    if let Some(abs) = absolute(&p, &current, &declared) {
                        out.push((abs, p.join("::"), line));
                    }
                }
            }
            Token::Ident(first) => {
                let line = tokens[i].1;
                // A path: ident (:: ident)*, not the tail of another path.
                let after_path = i > 0 && is(tokens, i - 1, &Token::Path);
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while is(tokens, j, &Token::Path) {
                    match ident(tokens, j + 1) {
                        Some(next) => {
                            segments.push(next.to_string());
                            j += 2;
                        }
                        None => break,
                    }
                }
                if !after_path
                    && segments.len() > 1
                    && let Some(abs) = absolute(&segments, &current, &declared)
                {
                    out.push((abs, segments.join("::"), line));
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Parse a use tree from `i` under `prefix`; push each full path (a glob
/// as its module's path); return the index after the tree (and its `;`).
fn use_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    if is(tokens, i, &Token::Path) {
        i += 1; // `use ::std::…`
    }
    loop {
        match tokens.get(i).map(|(t, _)| t) {
            Some(Token::Ident(w)) => {
                path.push(w.clone());
                i += 1;
                if is(tokens, i, &Token::Path) {
                    i += 1;
                    continue;
                }
                if ident(tokens, i) == Some("as") {
                    i += 2;
                }
                out.push(path);
                break;
            }
            Some(Token::Punct('*')) => {
                out.push(path);
                i += 1;
                break;
            }
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    if is(tokens, i, &Token::Punct('}')) {
                        i += 1;
                        break;
                    }
                    i = use_tree(tokens, i, path.clone(), out);
                    if is(tokens, i, &Token::Punct(',')) {
                        i += 1;
                    }
                    if i >= tokens.len() {
                        break;
                    }
                }
                break;
            }
            _ => break,
        }
    }
    if is(tokens, i, &Token::Punct(';')) {
        i += 1;
    }
    i
}

/// `segments` from the crate root, if they start at `crate`, `super`,
/// `self` or a module declared in `current`; else `None` (another crate,
/// or a name imported by a `use` already counted).
fn absolute(
    segments: &[String],
    current: &[String],
    declared: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = current.to_vec();
    let mut rest = segments;
    match segments.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &segments[1..];
        }
        Some("self") => rest = &segments[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) => {
            let mut child = current.to_vec();
            child.push(first.to_string());
            if !declared.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The names `lib.rs` gives other crates (`use flotilla_core::{clock,
/// service};`, `use flotilla_store as store;`): a path through them is
/// not a file of this crate.
fn external_names(
    tokens: &[(Token, usize)],
    modules: &BTreeMap<Vec<String>, String>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < tokens.len() {
        if ident(tokens, i) == Some("use") {
            let mut paths = Vec::new();
            let start = i + 1;
            i = use_tree(tokens, start, Vec::new(), &mut paths);
            let first = ident(tokens, start).unwrap_or_default();
            if matches!(first, "crate" | "self" | "super")
                || modules.contains_key(&vec![first.to_string()])
            {
                continue;
            }
            // The name each path is bound to: its `as`, else its last segment.
            let mut j = start;
            while j < i {
                if ident(tokens, j) == Some("as")
                    && let Some(alias) = ident(tokens, j + 1)
                {
                    names.insert(alias.to_string());
                }
                j += 1;
            }
            for p in paths {
                if let Some(last) = p.last() {
                    names.insert(last.clone());
                }
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The file a path leads to: that of the longest module prefix of it.
fn resolve(
    segments: &[String],
    modules: &BTreeMap<Vec<String>, String>,
    lib_aliases: &BTreeSet<String>,
) -> Option<String> {
    if segments.first().is_some_and(|s| lib_aliases.contains(s))
        && !modules.contains_key(&segments[..1].to_vec())
    {
        return None;
    }
    (0..=segments.len())
        .rev()
        .find_map(|n| modules.get(&segments[..n].to_vec()).cloned())
}

/// Each cycle once, as the files around it with the first repeated last.
pub fn cycles(imports: &Imports) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; one cycle shown per
    // component (a shortest one through its first file).
    let names: Vec<&String> = imports.keys().collect();
    let index: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            imports[*n]
                .keys()
                .filter_map(|t| index.get(t).copied())
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for component in components(&edges) {
        let start = component[0];
        if component.len() == 1 && !edges[start].contains(&start) {
            continue;
        }
        // Breadth-first from `start` back to it, inside the component.
        let inside: BTreeSet<usize> = component.iter().copied().collect();
        let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut end = None;
        'search: while let Some(n) = queue.pop_front() {
            for &m in &edges[n] {
                if m == start {
                    end = Some(n);
                    break 'search;
                }
                if inside.contains(&m) && !previous.contains_key(&m) {
                    previous.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        let Some(mut n) = end else { continue };
        let mut cycle = vec![start];
        while n != start {
            cycle.push(n);
            n = previous[&n];
        }
        cycle.push(start);
        let last = cycle.len() - 1;
        cycle[1..last].reverse();
        out.push(cycle.into_iter().map(|i| names[i].clone()).collect());
    }
    out
}

fn components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for k in 0..s.edges[v].len() {
            let w = s.edges[v][k];
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(i) if s.on_stack[w] => s.low[v] = s.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}
