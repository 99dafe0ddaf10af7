//! Fuzz bodies for plezi-dispatch and plezi-messaging, shared by the libFuzzer targets
//! (`fuzz_targets/`) and the stable regression test `crates/plezi-dispatch/tests/fuzz_regressions.rs`.

pub mod bodies;
