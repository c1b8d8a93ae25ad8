//! `send` with no receiver allocates nothing (a counting global allocator checks).
//! Its own test binary: the allocator is process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use signals::{ConnectOptions, Signal};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

struct Args {
    a: u64,
    b: u64,
}

#[test]
fn send_to_no_receiver_or_one_does_not_allocate() {
    static EMPTY: Signal<Args> = Signal::new("empty");
    static FILTERED: Signal<Args> = Signal::new("filtered");
    static CACHED: Signal<Args> = Signal::new("cached").with_caching();
    let _ = FILTERED.connect_with(
        |_: &&str, _: &Args| {},
        ConnectOptions::new().sender("other"),
    );
    let _ = CACHED.connect_with(
        |_: &&str, _: &Args| {},
        ConnectOptions::new().sender("other"),
    );
    let args = Args { a: 1, b: 2 };
    // First use initializes the signal (one snapshot) and fills the cache.
    for sig in [&EMPTY, &FILTERED, &CACHED] {
        sig.send("me", &args).unwrap();
        sig.send_robust("me", &args);
    }
    let counted = allocations_during(|| {
        for _ in 0..1000 {
            assert!(EMPTY.send("me", &args).unwrap().is_empty());
            assert!(EMPTY.send_robust("me", &args).is_empty());
            assert!(!EMPTY.has_listeners("me"));
            assert!(!FILTERED.has_listeners("me"));
            assert!(!CACHED.has_listeners("me"));
        }
    });
    assert_eq!(counted, 0, "sending to no receiver allocated");
    assert_eq!(args.a + args.b, 3);
    // One receiver: its response and id are held inline.
    let _ = EMPTY.connect(|_: &&str, _: &Args| {});
    EMPTY.send("me", &args).unwrap();
    assert_eq!(
        allocations_during(|| drop(EMPTY.send("me", &args).unwrap())),
        0
    );
    // A hundred `()` responses: the ids are shared with the signal and the
    // values take no space.
    for i in 0..99u64 {
        // Capturing closures: each is a distinct receiver.
        let _ = EMPTY.connect(move |_: &&str, args: &Args| assert_ne!(args.a, i + 100));
    }
    EMPTY.send("me", &args).unwrap();
    assert_eq!(
        allocations_during(|| assert_eq!(EMPTY.send("me", &args).unwrap().len(), 100)),
        0
    );
    // The counter does count: three sized responses move to the heap.
    static SIZED: Signal<Args, &'static str, u64> = Signal::new("sized");
    for i in 0..3 {
        let _ = SIZED.connect(move |_: &&str, args: &Args| args.a + i);
    }
    SIZED.send("me", &args).unwrap();
    assert!(allocations_during(|| drop(SIZED.send("me", &args).unwrap())) > 0);
}
