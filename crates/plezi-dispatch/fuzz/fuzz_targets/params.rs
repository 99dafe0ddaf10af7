//! libFuzzer entry for [`plezi_dispatch_fuzz::bodies::params`] (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plezi_dispatch_fuzz::bodies::params(data));
