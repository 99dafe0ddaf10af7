//! echo example.
fn main() {}
