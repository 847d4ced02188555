//! Fuzz target: see `checks::pipeline`.
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(
    init: {
        // libfuzzer-sys aborts on every panic, even one the pipeline catches
        // by design (a decoder that panics on a damaged file fails that
        // conversion with an error). The default hook lets those be caught;
        // a panic that escapes the target still ends the process, since it
        // cannot unwind out of libFuzzer's `extern "C"` entry point.
        drop(std::panic::take_hook());
    },
    |data: &[u8]| checks::pipeline(data)
);
