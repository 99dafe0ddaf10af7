//! plezi-server: the mio event-loop HTTP/1.1 and WebSocket core. See docs/dev/server-api-contract.md.
