//! plezi-load: the WebSocket load tool.
fn main() {}
