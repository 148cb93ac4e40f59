//! A global allocator that aborts on any single allocation above a limit, so an input that
//! makes the code ask for a huge buffer is a crash the fuzzer keeps, without a sanitizer
//! (libFuzzer's own `-malloc_limit_mb` needs a sanitizer's malloc hooks, which a stable build
//! does not have). `-rss_limit_mb` still bounds the total, including C allocations
//! (libjpeg-turbo).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation allowed, in bytes (0 = no limit until `set_limit_from_env`).
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Default limit: the decoders may allocate a 25 Mpx image at up to 8 bytes a pixel
/// (`image::Limits::max_alloc` = 200 MB) plus its conversion, so 512 MiB is a real excess.
pub const DEFAULT_LIMIT_MB: usize = 512;

/// Reads `PHOTOCHECK_FUZZ_MALLOC_LIMIT_MB` (default [`DEFAULT_LIMIT_MB`]; 0 = none).
pub fn set_limit_from_env() {
    let mb = std::env::var("PHOTOCHECK_FUZZ_MALLOC_LIMIT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT_MB);
    LIMIT.store(mb.saturating_mul(1 << 20), Ordering::Relaxed);
}

pub struct LimitedAlloc;

#[cold]
fn too_large(size: usize) -> ! {
    // No allocation here: format the number on the stack.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = size;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr();
    let _ = err.write_all(b"==photocheck-fuzz== allocation of ");
    let _ = err.write_all(&buf[i..]);
    let _ = err.write_all(b" bytes is above PHOTOCHECK_FUZZ_MALLOC_LIMIT_MB: out-of-memory (malloc)\n");
    std::process::abort();
}

#[inline]
fn check(size: usize) {
    let limit = LIMIT.load(Ordering::Relaxed);
    if limit != 0 && size > limit {
        too_large(size);
    }
}

unsafe impl GlobalAlloc for LimitedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}
