//! plezi-messaging: connection UUIDs, the message bus, identity mailboxes.
