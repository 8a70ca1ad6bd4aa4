//! The in-memory allow and deny paths allocate nothing once a client has its record.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};

use amoskys_auth::config::RateLimitConfig;
use amoskys_auth::rate_limit::{ClientKey, Ipv6Prefix, MemoryRateLimiter};
use http::Method;

/// Counts the allocations of the current thread while counting is on.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with` because the thread-local may already be gone while a thread exits.
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
            }
        });
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    work();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn memory_check_allocates_nothing() {
    let limiter = MemoryRateLimiter::new(&RateLimitConfig::default()).unwrap();
    let login = limiter.rule_for(&Method::POST, "/api/auth/login");
    let other = limiter.rule_for(&Method::GET, "/anything");
    let key = ClientKey::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), Ipv6Prefix::DEFAULT);
    // The first check of each pair inserts its record.
    assert!(limiter.check(login, key).is_ok());
    assert!(limiter.check(other, key).is_ok());

    let allocations = allocations_during(|| {
        for _ in 0..4 {
            assert!(limiter.check(login, key).is_ok());
        }
        for _ in 0..10 {
            assert!(limiter.check(login, key).is_err());
        }
        for _ in 0..20 {
            assert!(limiter.check(other, key).is_ok());
        }
    });
    assert_eq!(allocations, 0);
}
