//! The layers of the crate, written once as data, and a test that holds every source file
//! to them: an import may point down or sideways, never up, and the modules of the table
//! never import each other in a circle.
//!
//! The test reads `src/**/*.rs` (the library; `main.rs` is another crate), maps each file
//! to its module path, takes every `crate::…` path it names (in `use` trees and inline,
//! test code included) and every `super::…` path (resolved against the file's module and
//! its inline `mod` blocks), and looks both ends up in [`LAYERS`]: the longest prefix
//! wins, so `auth::jwt` can sit lower than `auth` (the extractors). Paths inside comments
//! and string literals are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// From the bottom up. A module may import its own layer and the layers below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Value types and settings that know nothing of storage or requests.
    Foundation,
    /// The database and the outside systems Relevo calls.
    Storage,
    /// What every request path shares: the error story, input parsing, request ids,
    /// the audit trail, the parts of authentication that need no request.
    Plumbing,
    /// `AppState`: what handlers and workers share.
    State,
    /// The services: the decisions, and the events and audit rows that follow them.
    Service,
    /// HTTP: handlers, extractors, the document, the console.
    Edge,
    /// What builds the application out of everything else.
    Composition,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Layer::Foundation => "foundation",
            Layer::Storage => "storage",
            Layer::Plumbing => "plumbing",
            Layer::State => "state",
            Layer::Service => "service",
            Layer::Edge => "edge",
            Layer::Composition => "composition",
        };
        f.write_str(name)
    }
}

/// Every module of the crate, by path prefix (the longest prefix wins). Each row is also a
/// unit of the cycle check: two rows may not import each other, directly or around a
/// circle, even within a layer.
const LAYERS: &[(&str, Layer)] = &[
    // Foundations. `domain` holds the wire-level value types (`Timestamp`) that services
    // write into events; `metrics` is given to whoever counts, and imports no state.
    ("clock", Layer::Foundation),
    ("i18n", Layer::Foundation),
    ("domain", Layer::Foundation),
    ("config", Layer::Foundation),
    ("secrets", Layer::Foundation),
    ("targets", Layer::Foundation),
    ("metrics", Layer::Foundation),
    // How log lines are written and which request they belong to: settings and blocking
    // pools name it, and it imports nothing of the crate.
    ("telemetry", Layer::Foundation),
    // The closed set of error keys: stored by `db`, counted by `metrics`, rendered by `error`.
    ("error_key", Layer::Foundation),
    // Storage and outside systems. `db` answers what changed and decides nothing that
    // follows; `evolution` owns every shape Evolution speaks, its webhooks included.
    ("db", Layer::Storage),
    // `db`'s macro, exported at the crate root.
    ("on_backend", Layer::Storage),
    ("evolution", Layer::Storage),
    // Shared plumbing. `error` maps storage and Evolution failures to HTTP, so it sits
    // above them. `auth::identity` is who a request acts for (the types), without the
    // extractors that find it; `auth::sender` and `auth::client_address` are pure
    // functions of a token and of an address.
    ("error", Layer::Plumbing),
    ("input", Layer::Plumbing),
    ("request_id", Layer::Plumbing),
    ("audit", Layer::Plumbing),
    ("auth::jwt", Layer::Plumbing),
    ("auth::password", Layer::Plumbing),
    ("auth::identity", Layer::Plumbing),
    ("auth::sender", Layer::Plumbing),
    ("auth::client_address", Layer::Plumbing),
    ("state", Layer::State),
    // Services. Logging in is a service like the others (it audits, throttles and
    // decides), so `auth::login` and its throttle sit here, not with the extractors.
    ("sender", Layer::Service),
    ("lifecycle", Layer::Service),
    ("messaging", Layer::Service),
    ("events", Layer::Service),
    ("registry", Layer::Service),
    ("auth::login", Layer::Service),
    ("auth::login_guard", Layer::Service),
    // The edge. `auth` itself re-exports the extractors, which need the state.
    ("routes", Layer::Edge),
    ("auth", Layer::Edge),
    ("console", Layer::Edge),
    ("edge", Layer::Edge),
    ("openapi", Layer::Edge),
    // The shared responses handlers declare: the document imports the handlers, the
    // handlers import these, and these import neither.
    ("openapi::responses", Layer::Edge),
    ("browser_pages", Layer::Edge),
    // Composition, and this test, which reads everything and is imported by nothing.
    ("startup", Layer::Composition),
    ("cli", Layer::Composition),
    ("architecture", Layer::Composition),
];

/// The row of [`LAYERS`] a module path falls in: the longest prefix, whole segments only.
fn unit_of(path: &[String]) -> Option<(&'static str, Layer)> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            let prefix: Vec<&str> = prefix.split("::").collect();
            prefix.len() <= path.len() && prefix.iter().zip(path).all(|(a, b)| a == b)
        })
        .max_by_key(|(prefix, _)| prefix.split("::").count())
        .copied()
}

/// The arrows between units: (from, to) → the imports that make each.
type Arrows = BTreeMap<(&'static str, &'static str), Vec<Import>>;

/// One import: the file that makes it and the path it names.
#[derive(Clone, Debug)]
struct Import {
    file: PathBuf,
    path: Vec<String>,
}

/// What reading the sources found: each file's module and the paths it names.
struct Graph {
    /// (file, module path, the `crate::` paths it names).
    files: Vec<(PathBuf, Vec<String>, Vec<Vec<String>>)>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = Vec::new();
        for file in rust_files(src) {
            let relative = file.strip_prefix(src).expect("under src");
            if relative == Path::new("main.rs") {
                continue;
            }
            let module = module_path(relative);
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            let paths = crate_paths(&tokens(&text), &module);
            files.push((relative.to_path_buf(), module, paths));
        }
        Graph { files }
    }

    /// Edges between units: (from, to) → the imports that make the edge.
    fn edges(&self) -> Result<Arrows, Vec<String>> {
        let mut edges = Arrows::new();
        let mut unmapped = Vec::new();
        for (file, module, paths) in &self.files {
            if module.is_empty() {
                // The crate root only declares the modules.
                continue;
            }
            let Some((from, _)) = unit_of(module) else {
                unmapped.push(format!(
                    "{}: module `{}` is in no row of LAYERS",
                    file.display(),
                    module.join("::")
                ));
                continue;
            };
            for path in paths {
                let Some((to, _)) = unit_of(path) else {
                    unmapped.push(format!(
                        "{}: `crate::{}` is in no row of LAYERS",
                        file.display(),
                        path.join("::")
                    ));
                    continue;
                };
                if from != to {
                    edges.entry((from, to)).or_default().push(Import {
                        file: file.clone(),
                        path: path.clone(),
                    });
                }
            }
        }
        match unmapped.is_empty() {
            true => Ok(edges),
            false => Err(unmapped),
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("a readable directory")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found
}

/// `db/claims/claim.rs` → `db::claims::claim`; `db/mod.rs` → `db`; `lib.rs` → the root.
fn module_path(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
        segments.pop();
    }
    segments
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

/// The tokens that matter for paths; comments, strings and character literals dropped.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i = match c {
            '/' if at(i + 1) == '/' => skip_line(&chars, i),
            '/' if at(i + 1) == '*' => skip_block_comment(&chars, i),
            '"' => {
                out.push(Token::Other);
                skip_string(&chars, i + 1)
            }
            '\'' => {
                out.push(Token::Other);
                skip_char_or_lifetime(&chars, i)
            }
            ':' if at(i + 1) == ':' => {
                out.push(Token::PathSep);
                i + 2
            }
            c if c.is_alphabetic() || c == '_' => word(&chars, i, &mut out),
            c => {
                match c {
                    '{' => out.push(Token::Open),
                    '}' => out.push(Token::Close),
                    ',' => out.push(Token::Comma),
                    '*' => out.push(Token::Star),
                    c if c.is_whitespace() => {}
                    _ => out.push(Token::Other),
                }
                i + 1
            }
        };
    }
    out
}

/// Past the end of the line at `i`.
fn skip_line(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '\n' {
        i += 1;
    }
    i
}

/// Past the block comment (nested ones included) that opens at `i`.
fn skip_block_comment(chars: &[char], mut i: usize) -> usize {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
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
            i += 1;
        }
    }
    i
}

/// Past a character literal (`'a'`, `'\n'`, `'\u{1F600}'`) at `i`, or past the quote of
/// a lifetime or label.
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    if at(i + 1) == '\\' {
        // Past the backslash and the character it escapes (`'\''` too).
        let mut end = i + 3;
        while end < chars.len() && chars[end] != '\'' {
            end += 1;
        }
        end + 1
    } else if at(i + 2) == '\'' {
        i + 3
    } else {
        i + 1
    }
}

/// The identifier at `i` into `out`, or the raw or byte string it starts (`r"…"`,
/// `r#"…"#`, `b"…"`, `br#"…"#`) skipped; answers the index after it.
fn word(chars: &[char], start: usize, out: &mut Vec<Token>) -> usize {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut i = start;
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
        i += 1;
    }
    let word: String = chars[start..i].iter().collect();
    if matches!(word.as_str(), "r" | "br" | "b") && matches!(at(i), '"' | '#') {
        let mut hashes = 0;
        while at(i + hashes) == '#' {
            hashes += 1;
        }
        if at(i + hashes) == '"' {
            out.push(Token::Other);
            return match word.as_str() {
                "b" => skip_string(chars, i + 1),
                _ => skip_raw_string(chars, i + hashes + 1, hashes),
            };
        }
    }
    out.push(Token::Ident(word));
    i
}

/// Past the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Past the `"` and `hashes` `#` that close a raw string whose body starts at `i`.
fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize) -> usize {
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// Every path the tokens name from the crate root: `crate::…` as written, `super::…`
/// resolved against `module` and the inline `mod` blocks around it.
fn crate_paths(tokens: &[Token], module: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    // The inline modules open at this point, with the brace depth each opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let after_sep = i > 0 && tokens[i - 1] == Token::PathSep;
        match &tokens[i] {
            Token::Open => {
                depth += 1;
                if let (Some(Token::Ident(name)), Some(Token::Ident(keyword))) =
                    (tokens.get(i.wrapping_sub(1)), tokens.get(i.wrapping_sub(2)))
                {
                    if keyword == "mod" {
                        inline.push((name.clone(), depth));
                    }
                }
            }
            Token::Close => {
                if inline.last().is_some_and(|(_, opened)| *opened == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            Token::Ident(word)
                if word == "crate" && !after_sep && tokens.get(i + 1) == Some(&Token::PathSep) =>
            {
                i = use_tree(tokens, i + 2, Vec::new(), &mut paths);
                continue;
            }
            Token::Ident(word) if word == "super" && !after_sep => {
                let mut base: Vec<String> = module.to_vec();
                base.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut j = i;
                while matches!(&tokens.get(j), Some(Token::Ident(w)) if w == "super")
                    && tokens.get(j + 1) == Some(&Token::PathSep)
                {
                    base.pop();
                    j += 2;
                }
                if j > i {
                    i = use_tree(tokens, j, base, &mut paths);
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    paths
}

/// Reads the use tree (or inline path) at `i` under `prefix` into `paths`; answers the
/// index after it.
fn use_tree(
    tokens: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    paths: &mut Vec<Vec<String>>,
) -> usize {
    match tokens.get(i) {
        Some(Token::Open) => {
            i += 1;
            loop {
                match tokens.get(i) {
                    Some(Token::Comma) => i += 1,
                    Some(Token::Close) => return i + 1,
                    None => return i,
                    Some(_) => i = use_tree(tokens, i, prefix.clone(), paths),
                }
            }
        }
        Some(Token::Star) => {
            paths.push(prefix);
            i + 1
        }
        Some(Token::Ident(name)) if name == "self" => {
            paths.push(prefix);
            i + 1
        }
        Some(Token::Ident(name)) => {
            let mut path = prefix;
            path.push(name.clone());
            let continues = tokens.get(i + 1) == Some(&Token::PathSep)
                && matches!(
                    tokens.get(i + 2),
                    Some(Token::Ident(_) | Token::Open | Token::Star)
                );
            if continues {
                use_tree(tokens, i + 2, path, paths)
            } else {
                paths.push(path);
                i + 1
            }
        }
        _ => {
            paths.push(prefix);
            i
        }
    }
}

/// The units that take part in a circle, each circle once: strongly connected
/// components of more than one unit (Tarjan's algorithm).
fn circles(edges: &BTreeSet<(&'static str, &'static str)>) -> Vec<Vec<&'static str>> {
    struct Search<'a> {
        edges: &'a BTreeSet<(&'static str, &'static str)>,
        index: BTreeMap<&'static str, usize>,
        low: BTreeMap<&'static str, usize>,
        stack: Vec<&'static str>,
        found: Vec<Vec<&'static str>>,
    }
    impl Search<'_> {
        fn visit(&mut self, unit: &'static str) {
            let n = self.index.len();
            self.index.insert(unit, n);
            self.low.insert(unit, n);
            self.stack.push(unit);
            let next: Vec<&'static str> = self
                .edges
                .iter()
                .filter(|(from, _)| *from == unit)
                .map(|(_, to)| *to)
                .collect();
            for to in next {
                if !self.index.contains_key(to) {
                    self.visit(to);
                    let low = self.low[unit].min(self.low[to]);
                    self.low.insert(unit, low);
                } else if self.stack.contains(&to) {
                    let low = self.low[unit].min(self.index[to]);
                    self.low.insert(unit, low);
                }
            }
            if self.low[unit] == self.index[unit] {
                let at = self
                    .stack
                    .iter()
                    .position(|u| *u == unit)
                    .expect("on the stack");
                let component: Vec<&'static str> = self.stack.split_off(at);
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    let units: BTreeSet<&'static str> = edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
    for unit in units {
        if !search.index.contains_key(unit) {
            search.visit(unit);
        }
    }
    search.found
}

fn layer_of(unit: &str) -> Layer {
    LAYERS
        .iter()
        .find(|(prefix, _)| *prefix == unit)
        .map(|(_, layer)| *layer)
        .expect("a unit is a row")
}

/// At most three of the imports that make an arrow, to read where it comes from.
fn describe(imports: &[Import]) -> String {
    let mut named: Vec<String> = imports
        .iter()
        .take(3)
        .map(|import| {
            format!(
                "{} names crate::{}",
                import.file.display(),
                import.path.join("::")
            )
        })
        .collect();
    if imports.len() > 3 {
        named.push(format!("and {} more", imports.len() - 3));
    }
    named.join("; ")
}

/// The shortest way around a circle among `units`, as the units in order, the first
/// repeated at the end.
fn shortest_circle(
    edges: &BTreeSet<(&'static str, &'static str)>,
    units: &[&'static str],
) -> Vec<&'static str> {
    let mut best: Vec<&'static str> = Vec::new();
    for start in units {
        // Breadth first from `start` back to it, inside the circle's units.
        let mut came_from: BTreeMap<&'static str, &'static str> = BTreeMap::new();
        let mut frontier = vec![*start];
        'search: while !frontier.is_empty() {
            let mut next = Vec::new();
            for from in frontier {
                for (_, to) in edges
                    .iter()
                    .filter(|(a, b)| *a == from && units.contains(b))
                {
                    if *to == *start {
                        let mut way = vec![*start, from];
                        while let Some(before) = came_from.get(way.last().expect("not empty")) {
                            way.push(before);
                        }
                        way.reverse();
                        if best.is_empty() || way.len() < best.len() {
                            best = way;
                        }
                        break 'search;
                    }
                    if !came_from.contains_key(to) && to != start {
                        came_from.insert(to, from);
                        next.push(*to);
                    }
                }
            }
            frontier = next;
        }
    }
    best
}

#[test]
fn every_import_points_down_and_none_goes_around_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&src);
    let edges = match graph.edges() {
        Ok(edges) => edges,
        Err(unmapped) => panic!("modules missing from LAYERS:\n{}", unmapped.join("\n")),
    };
    let mut problems = Vec::new();
    for ((from, to), imports) in &edges {
        let (low, high) = (layer_of(to), layer_of(from));
        if low > high {
            for import in imports {
                problems.push(format!(
                    "{}: `crate::{}` goes up, from {from} ({high}) to {to} ({low})",
                    import.file.display(),
                    import.path.join("::"),
                ));
            }
        }
    }
    let arrows: BTreeSet<(&'static str, &'static str)> = edges.keys().copied().collect();
    for circle in circles(&arrows) {
        let steps: Vec<String> = shortest_circle(&arrows, &circle)
            .windows(2)
            .map(|step| {
                format!(
                    "  {} → {}: {}",
                    step[0],
                    step[1],
                    describe(&edges[&(step[0], step[1])])
                )
            })
            .collect();
        problems.push(format!(
            "a circle among {} (one way around):\n{}",
            circle.join(", "),
            steps.join("\n")
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) with the layers (see LAYERS in src/architecture.rs):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths_in(source: &str, module: &str) -> Vec<String> {
        let module: Vec<String> = module.split("::").map(str::to_string).collect();
        crate_paths(&tokens(source), &module)
            .into_iter()
            .map(|path| path.join("::"))
            .collect()
    }

    #[test]
    fn use_trees_inline_paths_and_super_are_read_and_comments_and_strings_are_not() {
        let source = r##"
            //! See [`crate::routes::wire`].
            use crate::db::{self, claims::{Claim, ClaimOutcome}, DbConnection};
            use crate::events::*;
            use super::status::phone_of_jid;
            /* crate::startup in a block comment */
            fn f() {
                let _ = "crate::routes in a string";
                let _ = r#"crate::cli in a raw string"#;
                let _ = 'c';
                let _ = ('\'', '"', '\u{22}');
                let _ = "a \"quoted\" crate::startup";
                let _ = b"crate::cli";
                crate::metrics::observe::<u8>();
            }
            fn g<'a>(x: &'a str) -> &'a str { x }
            #[cfg(test)]
            mod tests {
                use super::*;
                use super::super::instance::Audit;
            }
            use crate::on_backend;
        "##;
        assert_eq!(
            paths_in(source, "lifecycle::inbound"),
            [
                "db",
                "db::claims::Claim",
                "db::claims::ClaimOutcome",
                "db::DbConnection",
                "events",
                "lifecycle::status::phone_of_jid",
                "metrics::observe",
                "lifecycle::inbound",
                "lifecycle::instance::Audit",
                "on_backend",
            ]
        );
    }

    #[test]
    fn the_longest_prefix_places_a_module() {
        let path = |raw: &str| raw.split("::").map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            unit_of(&path("auth::jwt::JwtKeys")),
            Some(("auth::jwt", Layer::Plumbing))
        );
        assert_eq!(
            unit_of(&path("auth::SuperAdmin")),
            Some(("auth", Layer::Edge))
        );
        assert_eq!(unit_of(&path("authx")), None);
        assert_eq!(unit_of(&path("db::claims")), Some(("db", Layer::Storage)));
    }

    #[test]
    fn a_circle_is_found_within_a_layer_too() {
        let edges: BTreeSet<(&'static str, &'static str)> = [
            ("sender", "messaging"),
            ("messaging", "events"),
            ("events", "sender"),
            ("events", "db"),
        ]
        .into_iter()
        .collect();
        let found = circles(&edges);
        assert_eq!(found.len(), 1);
        let mut circle = found[0].clone();
        circle.sort_unstable();
        assert_eq!(circle, ["events", "messaging", "sender"]);
        assert_eq!(
            shortest_circle(&edges, &circle),
            ["events", "sender", "messaging", "events"]
        );
        assert!(circles(&[("a", "b")].into_iter().collect()).is_empty());
    }
}
