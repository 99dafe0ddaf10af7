//! plezi: the facade crate.
pub use plezi_dispatch;
pub use plezi_messaging;
pub use plezi_server;
