//! The libFuzzer binary for every target: `PHOTOCHECK_FUZZ_TARGET=<name> photocheck-fuzz
//! [libFuzzer flags] CORPUS...` (scripts/fuzz.sh sets it up). `PHOTOCHECK_FUZZ_TARGET=list`
//! prints the targets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[global_allocator]
static ALLOC: photocheck_fuzz::alloc::LimitedAlloc = photocheck_fuzz::alloc::LimitedAlloc;

static TARGET: OnceLock<fn(&[u8])> = OnceLock::new();

fuzz_target!(
    init: {
        let name = std::env::var("PHOTOCHECK_FUZZ_TARGET").unwrap_or_default();
        let Some(f) = photocheck_fuzz::target(&name) else {
            eprintln!("PHOTOCHECK_FUZZ_TARGET={name:?} is not a target; one of:");
            for (n, what, _) in photocheck_fuzz::TARGETS {
                eprintln!("  {n:16} {what}");
            }
            std::process::exit(if name == "list" { 0 } else { 2 });
        };
        if let Some(dir) = std::env::var_os("PHOTOCHECK_FUZZ_SEEDS") {
            match photocheck_fuzz::seeds::write(&name, std::path::Path::new(&dir)) {
                Ok(n) => {
                    eprintln!("wrote {n} synthetic seeds for {name}");
                    std::process::exit(0);
                }
                Err(e) => {
                    eprintln!("cannot write seeds: {e}");
                    std::process::exit(1);
                }
            }
        }
        if name == "engine" {
            photocheck_fuzz::init_engine();
        }
        photocheck_fuzz::alloc::set_limit_from_env();
        let _ = TARGET.set(f);
    },
    |data: &[u8]| {
        (TARGET.get().expect("target chosen in init"))(data);
    }
);
