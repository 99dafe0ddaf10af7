//! libFuzzer entry for [`plezi_server_fuzz::bodies::origins`] (see ../README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plezi_server_fuzz::bodies::origins(data));
