//! `cargo xtask setup`: installs what the test suite drives, only what is missing, saying what and
//! why: Debian packages (`apt-get`, as root or through `sudo`), Python packages (`pip`) and the Node
//! packages of every test folder with a `package.json` (`npm ci`, from the committed lock file).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Debian package the tests need, found by one of its commands.
struct AptTool {
    command: &'static str,
    packages: &'static [&'static str],
    why: &'static str,
}

const APT_TOOLS: &[AptTool] = &[
    AptTool {
        command: "redis-server",
        packages: &["redis-server", "redis-tools"],
        why: "the bus, mailbox, session, TLS and failover tests spawn real redis-server processes",
    },
    AptTool {
        command: "chromium",
        packages: &["chromium"],
        why: "the browser tests drive headless Chromium",
    },
    AptTool {
        command: "haproxy",
        packages: &["haproxy"],
        why: "the rolling-restart test runs the chat example behind HAProxy",
    },
    AptTool {
        command: "node",
        packages: &["nodejs", "npm"],
        why: "the Node `ws` clients, the browser driver and the client type check run on Node",
    },
    AptTool {
        command: "python3",
        packages: &["python3", "python3-pip"],
        why: "the Python `websockets` interop tests and the Autobahn runner are Python",
    },
];

/// A Python package the tests need, found by importing a module or running a command.
struct PipTool {
    package: &'static str,
    check: PipCheck,
    why: &'static str,
}

enum PipCheck {
    Module(&'static str),
    Command(&'static str),
}

const PIP_TOOLS: &[PipTool] = &[
    PipTool {
        package: "websockets",
        check: PipCheck::Module("websockets"),
        why: "a third-party WebSocket client the interop tests talk to",
    },
    PipTool {
        package: "prometheus-client",
        check: PipCheck::Module("prometheus_client"),
        why: "the official Prometheus parser the metrics tests read the /metrics text with",
    },
    PipTool {
        package: "kosoku",
        check: PipCheck::Command("kosoku"),
        why: "runs the Autobahn|Testsuite conformance cases",
    },
];

/// Installs what is missing. Fails with what to do when something cannot be installed.
pub fn run(root: &Path) -> Result<(), String> {
    let apt: Vec<&AptTool> = APT_TOOLS
        .iter()
        .filter(|t| !has_command(t.command))
        .collect();
    if !apt.is_empty() {
        for tool in &apt {
            println!(
                "setup: installing {} with apt-get: {} ({} is missing)",
                tool.packages.join(" "),
                tool.why,
                tool.command
            );
        }
        let packages: Vec<&str> = apt
            .iter()
            .flat_map(|t| t.packages.iter().copied())
            .collect();
        apt_install(&packages)?;
    }
    for tool in PIP_TOOLS {
        let present = match tool.check {
            PipCheck::Module(m) => {
                succeeds(Command::new("python3").args(["-c", &format!("import {m}")]))
            }
            PipCheck::Command(c) => has_command(c),
        };
        if !present {
            println!("setup: installing {} with pip: {}", tool.package, tool.why);
            let pip = |extra: &[&str]| {
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "pip", "install", "-q"])
                    .args(extra)
                    .arg(tool.package);
                cmd
            };
            if !succeeds(&mut pip(&[])) {
                // Debian's own Python refuses pip outside a virtualenv (PEP 668); these are test
                // tools on a test machine.
                println!(
                    "setup: pip refused; again with --break-system-packages (Debian's Python)"
                );
                run_checked(
                    &mut pip(&["--break-system-packages"]),
                    &format!("pip install {}", tool.package),
                )?;
            }
        }
    }
    for dir in node_folders(root) {
        let modules = dir.join("node_modules");
        let lock = dir.join("package-lock.json");
        if !modules.is_dir() || newer(&lock, &modules) {
            println!(
                "setup: npm ci in {}: the Node packages its tests use (from the lock file)",
                dir.strip_prefix(root).unwrap_or(&dir).display()
            );
            run_checked(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir),
                &format!("npm ci in {}", dir.display()),
            )?;
            // Mark it fresh (npm ci does not always touch the folder itself).
            let _ = Command::new("touch").arg(&modules).status();
        }
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let root = is_root();
    let prefix: &[&str] = match (root, has_command("sudo")) {
        (true, _) => &[],
        (false, true) => &["sudo"],
        (false, false) => {
            return Err(format!(
                "cannot install {}: not root and no sudo; run as root: apt-get install -y {}",
                packages.join(" "),
                packages.join(" ")
            ));
        }
    };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = prefix.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut cmd = Command::new(all[0]);
        cmd.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run_checked(&mut apt(&["update", "-qq"]), "apt-get update")?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend_from_slice(packages);
    run_checked(&mut apt(&args), "apt-get install")
}

/// Every folder below `crates/` with a `package.json` (not inside `node_modules`).
fn node_folders(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.join("crates")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && entry.file_name() != "node_modules" && entry.file_name() != "target"
            {
                stack.push(path);
            } else if entry.file_name() == "package.json" {
                found.push(dir.clone());
            }
        }
    }
    found.sort();
    found
}

fn newer(a: &Path, b: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((modified(a), modified(b)), (Some(a), Some(b)) if a > b)
}

fn has_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd`; an error names `what` and how it ended.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{what} failed ({status})")),
        Err(e) => Err(format!("{what} could not start: {e}")),
    }
}
