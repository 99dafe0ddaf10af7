//! The chat example's typed events end to end (`docs/client.md#typed-events`): its handlers refuse
//! a payload of the wrong shape with `err` 400 naming the field; its page's types
//! (`examples/public/chat-events.d.ts`) are what `chat --typescript` generates from those handlers;
//! and the page (`examples/public/chat.js`) type-checks against them with `tsc`
//! (`examples/tsconfig.json`), while the same page against a module whose field was renamed fails.
//!
//! Needs Node.js and `npm install` in `crates/plezi-dispatch/tests/browser` (typescript); `cargo
//! xtask setup` installs them. The test fails with a message when one is missing; it never skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use plezi_test_support::tools::{ScriptOutput, require_node_packages, run_bounded};
use serde_json::json;
use support::ExampleProcess;

const TSC_DEADLINE: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tsc -p config` with the TypeScript the browser tests install.
fn tsc(config: &Path) -> ScriptOutput {
    let dir = repo_root().join("crates/plezi-dispatch/tests/browser");
    require_node_packages(&dir, &["typescript"]);
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("node_modules/typescript/bin/tsc"))
        .arg("-p")
        .arg(config);
    run_bounded(cmd, TSC_DEADLINE)
}

#[test]
fn a_chat_whose_message_is_not_a_string_gets_err_400_naming_message() {
    let app = ExampleProcess::start("chat", &[]);
    let mut ws = app.ws("/chat");
    let mut other = app.ws("/chat");
    other.nothing_before_echo("ready");
    let request = json!({"event": "chat", "message": 42});
    ws.send(&request);
    let err = ws.json();
    assert_eq!(err["event"], "err");
    assert_eq!(err["status"], 400);
    assert_eq!(
        err["result"],
        "bad payload at `message`: invalid type: integer `42`, expected a string"
    );
    assert_eq!(err["request"], request);
    // Not broadcast: the other connection's next message is its own echo.
    other.nothing_before_echo("nothing was broadcast");
    // A `dm` to something that is no connection UUID names `to`.
    ws.send(&json!({"event": "dm", "to": "nobody", "message": "hi"}));
    let err = ws.json();
    assert_eq!(err["status"], 400);
    assert!(
        err["result"]
            .as_str()
            .unwrap()
            .starts_with("bad payload at `to`:"),
        "{err}"
    );
    // A good one still reaches the others, typed as the page expects.
    ws.send(&json!({"event": "chat", "message": "hi"}));
    let line = other.json();
    assert_eq!(
        (&line["event"], &line["message"]),
        (&json!("chat"), &json!("hi"))
    );
    assert!(line["from"].is_string(), "{line}");
}

#[test]
fn the_pages_events_module_is_what_the_handlers_generate() {
    let module = repo_root().join("examples/public/chat-events.d.ts");
    let mut cmd = Command::new(support::example_path("chat"));
    cmd.arg("--typescript").arg(&module).arg("--check");
    run_bounded(cmd, TSC_DEADLINE).assert_success(
        "examples/public/chat-events.d.ts is stale: run `cargo xtask codegen`, then commit it; \
         `chat --typescript PATH --check`",
    );
}

#[test]
fn the_chat_page_type_checks_against_its_generated_events() {
    tsc(&repo_root().join("examples/tsconfig.json"))
        .assert_success("tsc -p examples/tsconfig.json (the chat page against its event types)");
}

/// The page against the module the handlers would generate if `Say.message` and `Line.message`
/// were renamed: the emit of `chat` and the handlers reading `message` no longer type-check.
#[test]
fn a_renamed_field_breaks_the_page_check() {
    let root = repo_root().canonicalize().expect("the repository root");
    let dir = std::env::temp_dir().join(format!("plezi-typed-chat-{}", std::process::id()));
    let public = dir.join("public");
    std::fs::create_dir_all(&public).expect("a scratch folder");
    let module = std::fs::read_to_string(root.join("examples/public/chat-events.d.ts"))
        .expect("the generated module");
    let said = "export type Say = { message: string, };";
    let line = "from: string, message: string, };";
    assert!(module.contains(said) && module.contains(line), "{module}");
    let renamed = module
        .replace(said, "export type Say = { text: string, };")
        .replace(line, "from: string, text: string, };");
    std::fs::write(public.join("chat-events.d.ts"), renamed).expect("the renamed module");
    std::fs::copy(root.join("examples/public/chat.js"), public.join("chat.js")).expect("the page");
    let dts = root.join("crates/plezi-dispatch/client/plezi-client.d.ts");
    let config = json!({
        "compilerOptions": {
            "allowJs": true, "checkJs": true, "noEmit": true, "strict": true,
            "target": "es2017", "module": "commonjs", "lib": ["es2017", "dom", "dom.iterable"],
            "types": [], "paths": {"plezi-client": [dts]}
        },
        "files": [dts, public.join("chat.js")]
    });
    std::fs::write(dir.join("tsconfig.json"), config.to_string()).expect("tsconfig");
    let out = tsc(&dir.join("tsconfig.json"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_ne!(
        out.code,
        Some(0),
        "the renamed field went unnoticed:\n{}",
        out.stdout
    );
    let errors = out.stdout + &out.stderr;
    assert!(
        errors.contains("'message' does not exist in type 'Emitted<ChatEmits, \"chat\">'"),
        "the emit of `chat` should fail:\n{errors}"
    );
    assert!(
        errors.contains("Property 'message' does not exist on type 'Line & { event: \"chat\"; }'"),
        "the `chat` handler should fail:\n{errors}"
    );
}
