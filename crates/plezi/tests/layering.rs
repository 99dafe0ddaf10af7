//! Tidy: the crate layering of `docs/architecture.md`, checked from the manifests (pure file
//! reads of `crates/*/Cargo.toml` and `Cargo.lock`, no cargo invocation).
//!
//! - the workspace crates stack as `plezi-server`, `plezi-messaging` < `plezi-dispatch` < `plezi`:
//!   a crate depends only on crates strictly below it (so `plezi-messaging` never depends on
//!   `plezi-server`, nor the other way round);
//! - `plezi-server` builds without serde, serde_json or redis, directly or through any crate it
//!   depends on;
//! - `plezi-test-support` depends on no plezi crate and is only ever a dev-dependency.
//!
//! Dev-dependencies are left out: tests may use anything. Run: `cargo test -p plezi --test layering`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("layering: cannot read {}: {e}", path.display()))
}

/// Where a crate stands: a crate may depend only on crates with a lower rank.
fn rank(name: &str) -> Option<u8> {
    match name {
        "plezi-server" | "plezi-messaging" | "plezi-test-support" => Some(0),
        "plezi-dispatch" => Some(1),
        "plezi" => Some(2),
        _ => None,
    }
}

/// What a manifest declares, by section kind.
#[derive(Default, Debug)]
struct Manifest {
    /// `[dependencies]`, `[build-dependencies]` and their `[target.*]` forms: what builds the crate.
    normal: BTreeSet<String>,
    /// `[dev-dependencies]` (and `[target.*.dev-dependencies]`).
    dev: BTreeSet<String>,
}

/// Reads the dependency names of a `Cargo.toml`: `name = ...` and `name.workspace = true` lines
/// of the dependency tables, and `[dependencies.name]` headers.
fn manifest(text: &str) -> Manifest {
    #[derive(PartialEq)]
    enum Section {
        Normal,
        Dev,
        Other,
    }
    let kind = |table: &str| {
        let last = table.rsplit('.').next().unwrap_or(table);
        match last {
            "dependencies" | "build-dependencies" => Section::Normal,
            "dev-dependencies" => Section::Dev,
            _ => Section::Other,
        }
    };
    let mut m = Manifest::default();
    let mut section = Section::Other;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let table = table.trim();
            section = kind(table);
            // `[dependencies.serde]`: a dependency spelled as a table.
            if section == Section::Other
                && let Some((parent, name)) = table.rsplit_once('.')
                && kind(parent) != Section::Other
            {
                let set = if kind(parent) == Section::Dev {
                    &mut m.dev
                } else {
                    &mut m.normal
                };
                set.insert(name.trim_matches(['"', '\'']).to_owned());
            }
            continue;
        }
        if section == Section::Other {
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let name = key.trim().split('.').next().unwrap_or_default();
        let name = name.trim_matches(['"', '\'']).to_owned();
        match section {
            Section::Normal => m.normal.insert(name),
            Section::Dev => m.dev.insert(name),
            Section::Other => false,
        };
    }
    m
}

/// The workspace crates: `crates/*/Cargo.toml` by package name.
fn workspace() -> BTreeMap<String, Manifest> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(root().join("crates"))
        .expect("layering: cannot list crates/")
        .flatten()
    {
        let toml = entry.path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&toml) else {
            continue;
        };
        let name = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("layering: no package name in {}", toml.display()));
        out.insert(name, manifest(&text));
    }
    out
}

/// `Cargo.lock`: each package's dependencies (first version wins; names only). For packages from a
/// registry these are what builds them; dev-dependencies of registry packages are not recorded.
fn lock() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in read("Cargo.lock").split("[[package]]").skip(1) {
        let Some(name) = package
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
        else {
            continue;
        };
        let deps = package
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or_default())
            .unwrap_or_default()
            .split(',')
            .filter_map(|d| d.trim().trim_matches('"').split(' ').next())
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect();
        out.entry(name).or_insert(deps);
    }
    out
}

/// Every crate that builds into `name` (its non-dev dependencies, transitively), with the path
/// that pulls each one in.
fn build_closure(
    name: &str,
    crates: &BTreeMap<String, Manifest>,
    lock: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut todo = vec![(name.to_owned(), name.to_owned())];
    while let Some((at, path)) = todo.pop() {
        let deps: Vec<String> = match crates.get(&at) {
            Some(m) => m.normal.iter().cloned().collect(),
            None => lock.get(&at).cloned().unwrap_or_default(),
        };
        for dep in deps {
            if !seen.contains_key(&dep) {
                let via = format!("{path} -> {dep}");
                seen.insert(dep.clone(), via.clone());
                todo.push((dep, via));
            }
        }
    }
    seen
}

fn report(check: &str, fix: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "layering: {check}:\n  {}\n{fix}",
        problems.join("\n  ")
    );
}

#[test]
fn the_manifest_reader_sees_every_kind_of_dependency() {
    let m = manifest(
        "[package]\nname = \"x\"\n[dependencies]\nserde.workspace = true\nmio = { version = \"1\" }\n\
         [target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n[dependencies.redis]\nversion = \"1\"\n\
         [dev-dependencies]\ntungstenite.workspace = true\n[lints]\nworkspace = true\n",
    );
    let normal: Vec<&str> = m.normal.iter().map(String::as_str).collect();
    assert_eq!(normal, ["libc", "mio", "redis", "serde"]);
    let dev: Vec<&str> = m.dev.iter().map(String::as_str).collect();
    assert_eq!(dev, ["tungstenite"]);
}

#[test]
fn crates_depend_only_on_lower_crates() {
    let crates = workspace();
    for expected in ["plezi-server", "plezi-messaging", "plezi-dispatch", "plezi"] {
        assert!(
            crates.contains_key(expected),
            "layering: no crate {expected} under crates/"
        );
    }
    let mut problems = Vec::new();
    for (name, m) in &crates {
        let Some(mine) = rank(name) else {
            problems.push(format!(
                "{name} has no place in the layering (add it to `rank` in this test)"
            ));
            continue;
        };
        for dep in &m.normal {
            if let Some(theirs) = rank(dep)
                && (theirs >= mine || dep == "plezi-test-support")
            {
                problems.push(format!("{name} depends on {dep}"));
            }
        }
    }
    report(
        "a crate depends on a crate at or above its own level",
        "The order is plezi-server, plezi-messaging < plezi-dispatch < plezi \
         (docs/architecture.md); plezi-test-support is a dev-dependency only. Move the shared code \
         down, or pass it in from above.",
        &problems,
    );
}

#[test]
fn the_server_builds_without_serde_or_redis() {
    let crates = workspace();
    let closure = build_closure("plezi-server", &crates, &lock());
    assert!(
        closure.contains_key("mio"),
        "layering: the dependency reader lost plezi-server's dependencies: {closure:?}"
    );
    let problems: Vec<String> = ["serde", "serde_json", "redis"]
        .iter()
        .filter_map(|banned| closure.get(*banned).cloned())
        .collect();
    report(
        "plezi-server pulls in serde, serde_json or redis",
        "The server core speaks bytes (docs/architecture.md): JSON and Redis belong to \
         plezi-messaging and plezi-dispatch.",
        &problems,
    );
}

#[test]
fn the_test_support_crate_stands_alone() {
    let crates = workspace();
    let Some(support) = crates.get("plezi-test-support") else {
        panic!("layering: no crates/plezi-test-support");
    };
    let problems: Vec<String> = support
        .normal
        .iter()
        .filter(|d| d.starts_with("plezi"))
        .map(|d| format!("plezi-test-support depends on {d}"))
        .collect();
    report(
        "the test-support crate depends on a plezi crate",
        "A dev-dependency on a crate that depends on the crate under test builds that crate \
         twice; keep plezi-test-support generic (see its README).",
        &problems,
    );
}

#[test]
fn a_dependency_pulled_in_through_another_crate_is_found() {
    let mut crates = BTreeMap::new();
    crates.insert(
        "plezi-server".to_owned(),
        manifest("[dependencies]\nmio = \"1\"\n[dev-dependencies]\nserde_json = \"1\"\n"),
    );
    let mut lock = BTreeMap::new();
    lock.insert(
        "mio".to_owned(),
        vec!["libc".to_owned(), "serde".to_owned()],
    );
    lock.insert("serde".to_owned(), vec![]);
    let closure = build_closure("plezi-server", &crates, &lock);
    assert_eq!(
        closure.get("serde").map(String::as_str),
        Some("plezi-server -> mio -> serde")
    );
    assert!(
        !closure.contains_key("serde_json"),
        "dev-dependencies do not build the crate"
    );
}
