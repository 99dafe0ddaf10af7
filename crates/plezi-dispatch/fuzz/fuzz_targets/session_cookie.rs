//! libFuzzer entry for [`plezi_dispatch_fuzz::bodies::session_cookie`] (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plezi_dispatch_fuzz::bodies::session_cookie(data));
