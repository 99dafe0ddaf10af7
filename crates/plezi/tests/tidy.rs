//! Tidy: checks of the repository itself (the rust-analyzer habit). Pure file reads below the
//! workspace root, no cargo invocations; each check lists every problem with what to do.
//!
//! - every environment variable the code reads is documented in `docs/configuration.md`, and so
//!   is every field of the config structs and every builder method;
//! - no unfinished-code or debugging macros in the code;
//! - every crate under `crates/` has a `README.md`;
//! - relative links in the READMEs and `docs/*.md` point at files that exist;
//! - no source file under `crates/*/src` has more than [`MAX_SOURCE_LINES`] lines besides doc comments;
//! - nothing in the tree cites what lies outside it (planning documents, issue numbers, machine
//!   paths), and every `docs/protocol.md#anchor` cited names an anchor that exists.
//!
//! Run: `cargo test -p plezi --test tidy`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Longest source file allowed under `crates/*/src`, in lines that are not doc comments
/// (`CONTRIBUTING.md`: a file over ~600 lines is usually two; documenting and giving examples for
/// an API never makes a file do two jobs).
const MAX_SOURCE_LINES: usize = 800;

/// The configuration reference every variable, field and builder method must appear in.
const CONFIG_DOC: &str = "docs/configuration.md";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: impl AsRef<Path>) -> String {
    let path = root().join(rel.as_ref());
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("tidy: cannot read {}: {e}", path.display()))
}

/// `path` relative to the workspace root, for messages.
fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Files below `dir` (relative to the root) whose name ends in `ext`, skipping `target` and
/// hidden directories; sorted, so reports are stable.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, ext, out);
                }
            } else if name.ends_with(ext) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), ext, &mut out);
    out.sort();
    out
}

/// The crate directories: `crates/*` holding a `Cargo.toml`.
fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .expect("tidy: cannot list crates/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The Rust sources of the framework and its examples: `crates/*/src/**` and `examples/*.rs`.
fn framework_sources() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = crate_dirs()
        .iter()
        .flat_map(|dir| files(&rel(&dir.join("src")), ".rs"))
        .collect();
    out.extend(
        files("examples", ".rs")
            .into_iter()
            .filter(|p| p.parent() == Some(&root().join("examples"))),
    );
    out
}

/// Fails with one line per problem.
fn report(check: &str, fix: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "tidy: {check}\n  {}\nFix: {fix}\n",
        problems.join("\n  ")
    );
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names of environment variables read in `source`: string literals passed to a function
/// named `var` or `var_os` (`std::env::var("X")`, a local `var("X")` helper), or a `const`
/// string of the same file passed by name. Only `UPPER_CASE` names count.
fn env_var_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for needle in ["var(", "var_os("] {
        for (at, _) in source.match_indices(needle) {
            if source[..at].chars().next_back().is_some_and(is_ident) {
                continue; // `envvar(`, `my_var(`
            }
            let arg = source[at + needle.len()..].trim_start();
            let name = if let Some(lit) = arg.strip_prefix('"') {
                lit.split('"').next().map(str::to_owned)
            } else {
                let ident: String = arg.chars().take_while(|&c| is_ident(c)).collect();
                const_str(source, &ident)
            };
            if let Some(name) = name.filter(|n| is_env_name(n)) {
                names.insert(name);
            }
        }
    }
    names
}

/// The value of `const NAME: &str = "...";` in `source`.
fn const_str(source: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let decl = format!("const {name}: &str = \"");
    let start = source.find(&decl)? + decl.len();
    source[start..].split('"').next().map(str::to_owned)
}

fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn env_var_scanner_finds_literals_and_consts() {
    let source = r#"
        const CHILD: &str = "PL_CHILD";
        fn var(name: &str) -> Option<String> { std::env::var(name).ok() }
        let a = std::env::var("HOST");
        let b = var( "PL_THREADS").or_else(|| var("REDIS_URL"));
        let c = std::env::var_os(CHILD);
        let d = envvar("NOT_THIS"); let e = my_var("NOR_THIS"); let f = var("lowercase");
    "#;
    let found: Vec<String> = env_var_names(source).into_iter().collect();
    assert_eq!(found, ["HOST", "PL_CHILD", "PL_THREADS", "REDIS_URL"]);
}

#[test]
fn every_environment_variable_is_documented() {
    let doc = read(CONFIG_DOC);
    let mut problems = Vec::new();
    let mut seen = 0;
    for path in framework_sources() {
        let source = read(&path);
        for name in env_var_names(&source) {
            seen += 1;
            if !doc.contains(&format!("`{name}`")) {
                problems.push(format!("{} reads `{name}`", rel(&path)));
            }
        }
    }
    assert!(
        seen > 0,
        "tidy: no environment variable found in crates/*/src or examples/: is the scanner broken?"
    );
    report(
        &format!("environment variables missing from {CONFIG_DOC}"),
        &format!("add a row for each to the environment table of {CONFIG_DOC} (meaning, default)"),
        &problems,
    );
}

/// The `pub` fields of `pub struct NAME { ... }` in `source`.
fn pub_fields(source: &str, name: &str) -> Vec<String> {
    let decl = format!("pub struct {name} {{");
    let Some(start) = source.find(&decl) else {
        return Vec::new();
    };
    let body = &source[start + decl.len()..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    body.lines()
        .filter_map(|line| line.trim_start().strip_prefix("pub "))
        .filter_map(|rest| {
            rest.split_once(':')
                .map(|(field, _)| field.trim().to_owned())
        })
        .collect()
}

/// The methods of `impl NAME { ... }` in `source` that take `self` or `&self` mutably (the
/// builder-style options).
fn builder_methods(source: &str, name: &str) -> Vec<String> {
    let decl = format!("impl {name} {{");
    let Some(start) = source.find(&decl) else {
        return Vec::new();
    };
    let body = &source[start + decl.len()..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    let mut methods = Vec::new();
    for (at, _) in body.match_indices("pub fn ") {
        let rest = &body[at + "pub fn ".len()..];
        let method: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let signature = &rest[..rest.find('{').unwrap_or(rest.len())];
        if signature.contains("mut self") {
            methods.push(method);
        }
    }
    methods
}

#[test]
fn every_config_field_and_builder_method_is_documented() {
    let doc = read(CONFIG_DOC);
    let mut problems = Vec::new();
    let structs = [
        ("crates/plezi-server/src/config.rs", "ServerConfig"),
        ("crates/plezi-messaging/src/config.rs", "BusConfig"),
        ("crates/plezi-dispatch/src/params/mod.rs", "ParamsLimits"),
        ("crates/plezi/src/config.rs", "Config"),
    ];
    for (file, name) in structs {
        let fields = pub_fields(&read(file), name);
        if fields.is_empty() {
            problems.push(format!(
                "{file}: no `pub struct {name}` with pub fields (moved? update tidy.rs)"
            ));
        }
        for field in fields {
            if !doc.contains(&format!("\n| `{field}` |")) {
                problems.push(format!("{name}::{field} ({file}) has no table row"));
            }
        }
    }
    let builders = [
        ("crates/plezi-server/src/server.rs", "ServerBuilder"),
        ("crates/plezi-dispatch/src/routes.rs", "Routes"),
        ("crates/plezi/src/app.rs", "App"),
    ];
    for (file, name) in builders {
        let methods = builder_methods(&read(file), name);
        if methods.is_empty() {
            problems.push(format!(
                "{file}: no `impl {name}` builder methods (moved? update tidy.rs)"
            ));
        }
        for method in methods {
            if !doc.contains(&format!("`.{method}(")) {
                problems.push(format!(
                    "{name}::{method} ({file}) is not listed as `.{method}(..)`"
                ));
            }
        }
    }
    report(
        &format!("options missing from {CONFIG_DOC}"),
        &format!(
            "add each to its crate's table in {CONFIG_DOC}, with the default as the code writes it"
        ),
        &problems,
    );
}

#[test]
fn no_unfinished_or_debugging_macros() {
    // Built at run time so that this file does not match itself.
    let macros: Vec<String> = ["todo", "unimplemented", "dbg"]
        .iter()
        .map(|m| format!("{m}!("))
        .collect();
    let mut problems = Vec::new();
    for dir in ["crates", "examples", "xtask", "benches/src"] {
        for path in files(dir, ".rs") {
            for (n, line) in read(&path).lines().enumerate() {
                for m in &macros {
                    if let Some(at) = line.find(m.as_str())
                        && !line[..at].chars().next_back().is_some_and(is_ident)
                    {
                        problems.push(format!("{}:{}: {}", rel(&path), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    report(
        "unfinished or debugging macros",
        "finish the code (or return an error), and use `log::debug!` instead of `dbg!`",
        &problems,
    );
}

/// The commands of the README's first shell block, comments dropped.
fn readme_commands() -> Vec<String> {
    let readme = read("README.md");
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default();
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_gives_two_commands_and_ci_runs_its_test_command() {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        2,
        "tidy: the README's first screen gives exactly two commands (start the example, run the tests): {commands:?}"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        "tidy: .ci/run must run the README's test command `{}` as it is",
        commands[1]
    );
}

#[test]
fn every_crate_has_a_readme() {
    let problems: Vec<String> = crate_dirs()
        .iter()
        .filter(|dir| !dir.join("README.md").is_file())
        .map(|dir| format!("{}/README.md is missing", rel(dir)))
        .collect();
    report(
        "crates without a README",
        "write a short README: what the crate is, when to depend on it directly, a tiny example, links to the docs",
        &problems,
    );
}

/// The targets of the Markdown links `[text](target)` in `text`, outside fenced code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            if let Some(end) = rest.find(')') {
                targets.push(rest[..end].trim().to_owned());
            }
        }
    }
    targets
}

#[test]
fn relative_links_in_readmes_and_docs_resolve() {
    let mut pages = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    pages.extend(
        crate_dirs()
            .iter()
            .map(|d| d.join("README.md"))
            .filter(|p| p.is_file()),
    );
    pages.extend(
        files("docs", ".md")
            .into_iter()
            .filter(|p| p.parent() == Some(&root().join("docs"))),
    );
    let mut problems = Vec::new();
    for page in pages {
        let text = read(&page);
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            let dir = page.parent().unwrap_or(Path::new("."));
            if !dir.join(path).exists() {
                problems.push(format!("{} links to {target}", rel(&page)));
            }
        }
    }
    report(
        "links to files that do not exist",
        "write the missing page or fix the link (links are relative to the page)",
        &problems,
    );
}

/// The lines of `source` that are not doc comments (`///`, `//!`).
fn code_lines(source: &str) -> usize {
    source
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("///") && !line.starts_with("//!")
        })
        .count()
}

#[test]
fn source_files_are_small() {
    let mut sizes: Vec<(usize, String)> = crate_dirs()
        .iter()
        .flat_map(|dir| files(&rel(&dir.join("src")), ".rs"))
        .map(|path| (code_lines(&read(&path)), rel(&path)))
        .collect();
    sizes.sort_by(|a, b| b.cmp(a));
    for (lines, path) in sizes.iter().take(3) {
        eprintln!("tidy: largest source files: {path} ({lines} lines without doc comments)");
    }
    let problems: Vec<String> = sizes
        .iter()
        .filter(|(lines, _)| *lines > MAX_SOURCE_LINES)
        .map(|(lines, path)| format!("{path}: {lines} lines without doc comments"))
        .collect();
    report(
        &format!("source files over {MAX_SOURCE_LINES} lines"),
        "split the file by job (a file over ~600 lines is usually two)",
        &problems,
    );
}

/// Every text file of the repository: below the root, skipping `.git`, build output (`target`),
/// installed packages (`node_modules`) and local fuzzing output (`artifacts`); hidden folders
/// such as `.ci` are included. Files that are not UTF-8 (fuzz seeds) are skipped by the caller.
fn tree_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(&*name, ".git" | "target" | "node_modules" | "artifacts") {
                    walk(&path, out);
                }
            } else if name != ".git" {
                // (In a git worktree `.git` is a file naming the main repository.)
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out.sort();
    out
}

/// What a line must not say: the product speaks for itself. Each entry is the lower-case text
/// to find and what to write instead. Built from pieces so that this file does not match itself.
fn forbidden_citations() -> Vec<(String, &'static str)> {
    let join = |parts: &[&str]| parts.concat();
    vec![
        (
            join(&["spec ", "§"]),
            "cite the section of docs/protocol.md (`docs/protocol.md#anchor`)",
        ),
        (
            join(&["design ", "brief"]),
            "say what the code does and why, not what was asked for",
        ),
        (
            join(&["the ", "brief"]),
            "say what the code does and why, not what was asked for",
        ),
        (
            join(&["agreed ", "with"]),
            "say what the code guarantees, not who agreed to it",
        ),
        (
            join(&["/wo", "rk/"]),
            "use a path relative to the repository (or $CARGO_TARGET_DIR)",
        ),
        (
            join(&["../sha", "red"]),
            "everything the reader needs is in this repository",
        ),
        (
            join(&["shared/", "spec"]),
            "everything the reader needs is in this repository",
        ),
        (join(&["working-", "agreement"]), "link CONTRIBUTING.md"),
        (
            join(&["server-api-", "contract"]),
            "link the crate documentation or docs/architecture.md",
        ),
    ]
}

/// The word for a tracker entry followed by its number (with or without `#`, singular or
/// plural): an entry of a tracker the reader cannot see.
fn cites_an_issue_number(line_lower: &str) -> bool {
    let word = ["iss", "ue"].concat();
    line_lower.match_indices(&word).any(|(at, _)| {
        if line_lower[..at].chars().next_back().is_some_and(is_ident) {
            return false; // `tissue`
        }
        let rest = line_lower[at + word.len()..].trim_start_matches('s');
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let rest = rest.strip_prefix('#').unwrap_or(rest);
        rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn citation_scanner_finds_issue_numbers() {
    let word = ["iss", "ue"].concat();
    assert!(cites_an_issue_number(&format!("as in {word} 8")));
    assert!(cites_an_issue_number(&format!("({word} #12)")));
    assert!(cites_an_issue_number(&format!("{word}s 2 and 4")));
    assert!(!cites_an_issue_number(&format!("an {word} with the cache")));
    assert!(!cites_an_issue_number("tissue 9"));
}

#[test]
fn nothing_cites_what_lies_outside_the_repository() {
    let forbidden = forbidden_citations();
    let mut problems = Vec::new();
    let mut scanned = 0;
    for path in tree_files() {
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // not UTF-8: a fuzz seed or a binary
        };
        scanned += 1;
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for (needle, fix) in &forbidden {
                if lower.contains(needle.as_str()) {
                    problems.push(format!("{}:{}: `{needle}`: {fix}", rel(&path), n + 1));
                }
            }
            if cites_an_issue_number(&lower) {
                problems.push(format!(
                    "{}:{}: a numbered issue: say what the code does and why",
                    rel(&path),
                    n + 1
                ));
            }
        }
    }
    assert!(
        scanned > 100,
        "tidy: only {scanned} text files found: is the walker broken?"
    );
    report(
        "text that cites what lies outside the repository",
        "write what a new contributor needs here: docs/protocol.md and docs/architecture.md hold the design",
        &problems,
    );
}

/// The anchors of `docs/protocol.md`: explicit `<a id="...">` tags.
fn protocol_anchors() -> BTreeSet<String> {
    read("docs/protocol.md")
        .split("<a id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn protocol_citations_name_existing_anchors() {
    let anchors = protocol_anchors();
    assert!(
        anchors.contains("auto-dispatch"),
        "tidy: docs/protocol.md has no `<a id=\"auto-dispatch\">`: is the scanner broken?"
    );
    let mut problems = Vec::new();
    let mut cited = 0;
    for path in tree_files() {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("protocol.md#") {
                let anchor: String = line[at + "protocol.md#".len()..]
                    .chars()
                    .take_while(|&c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    .collect();
                if anchor.is_empty() || anchor == "anchor" {
                    continue; // the pattern itself, in prose
                }
                cited += 1;
                if !anchors.contains(&anchor) {
                    problems.push(format!("{}:{}: #{anchor}", rel(&path), n + 1));
                }
            }
        }
    }
    assert!(
        cited > 0,
        "tidy: no `docs/protocol.md#...` citation found: is the scanner broken?"
    );
    report(
        "citations of docs/protocol.md sections that do not exist",
        "cite one of the `<a id=\"...\">` anchors of docs/protocol.md (add one if a section has none)",
        &problems,
    );
}
