//! Fuzzes the harness's decoding of what a shim process writes: framing (bounded lines) and
//! message decoding must never panic, whatever the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shim_protocol::codec::fuzz_decode(data);
});
