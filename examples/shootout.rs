//! shootout example.
fn main() {}
