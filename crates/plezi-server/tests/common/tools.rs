//! External clients (Python `websockets`, Node `ws`): presence checks that fail loudly with the
//! install command, and the bounded script runner of plezi-test-support.

use std::path::PathBuf;

pub use plezi_test_support::tools::{
    ScriptOutput, require_node_packages, require_python_module, run_bounded,
};

/// Folder of this crate's tests (`crates/plezi-server/tests`).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Panics with the install command unless `python3` can import `websockets`.
pub fn require_python_websockets() {
    require_python_module("websockets");
}

/// Panics with the install command unless `node` runs and `ws` is installed in tests/node.
pub fn require_node_ws() {
    require_node_packages(&tests_dir().join("node"), &["ws"]);
}
