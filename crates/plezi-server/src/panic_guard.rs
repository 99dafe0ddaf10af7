//! Application code (services, hooks, timers, closures) runs on loop threads; a panic in it must
//! not take the loop and its other connections down.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; if it panics, logs one error naming `what` and returns `None`.
pub(crate) fn guard<R>(what: &str, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            log::error!("plezi: {what} panicked: {msg}");
            None
        }
    }
}
