//! libFuzzer entry for [`plezi_dispatch_fuzz::bodies::envelope`] (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plezi_dispatch_fuzz::bodies::envelope(data));
