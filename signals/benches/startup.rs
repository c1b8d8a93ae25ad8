#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Startup cost of link-time registration, and the per-send cost of
//! macro-registered receivers against hand-connected ones.
//!
//! - `startup/10000_receivers_to_first_send`: a fresh signal's first send when
//!   10,000 `#[receiver]` functions are registered for it (collecting them from
//!   the link-time registry, ordering and connecting them, publishing the
//!   snapshot, then the send itself, which calls all 10,000). Target: < 5 ms.
//! - `per_send/{macro,hand}`: one send to 10 receivers doing the same work,
//!   registered with `#[receiver]` or connected by hand.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use signals::{signal, Registrar, Signal};

/// The signal the 10,000 receivers are registered on.
#[signal(providing_args = [n: u64])]
pub static startup: Signal;

macro_rules! ten_receivers {
    () => {
        #[receiver(crate::startup)]
        fn r0(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r1(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r2(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r3(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r4(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r5(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r6(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r7(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r8(n: &u64) {
            black_box(n);
        }
        #[receiver(crate::startup)]
        fn r9(n: &u64) {
            black_box(n);
        }
    };
}

/// Ten modules, each holding what `$inner` expands to.
macro_rules! ten_modules {
    ($inner:ident) => {
        mod m0 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m1 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m2 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m3 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m4 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m5 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m6 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m7 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m8 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
        mod m9 {
            use signals::receiver;
            use std::hint::black_box;
            $inner!();
        }
    };
}

macro_rules! hundred_receivers {
    () => {
        ten_modules!(ten_receivers);
    };
}

macro_rules! thousand_receivers {
    () => {
        ten_modules!(hundred_receivers);
    };
}

#[allow(unused_imports)]
mod registered {
    ten_modules!(thousand_receivers);
}

/// Ten receivers of the same work, registered at link time...
#[signal(providing_args = [n: u64])]
pub static per_send: Signal;

#[allow(unused_imports)]
mod per_send_receivers {
    use std::hint::black_box;

    use signals::receiver;

    macro_rules! per_send_ten {
        ($($name:ident)*) => {
            $(
                #[receiver(crate::per_send)]
                fn $name(n: &u64) {
                    black_box(n);
                }
            )*
        };
    }
    per_send_ten!(a b c d e f g h i j);
}

/// ...and connected by hand.
static HAND: Signal<PerSendArgs> = Signal::new("hand");

fn hand_connect() {
    macro_rules! hand_ten {
        ($($name:ident)*) => {
            $(
                fn $name(_: &&'static str, args: &PerSendArgs) {
                    black_box(&args.n);
                }
                let _ = HAND.connect($name);
            )*
        };
    }
    hand_ten!(a b c d e f g h i j);
}

/// Connects `startup`'s registered receivers to a fresh signal, as the first use
/// of `startup` itself would.
fn connect_startup_receivers(registrar: &mut Registrar<'_, StartupArgs>) {
    signals::__private::connect_registered(&startup, registrar);
}

fn benches(c: &mut Criterion) {
    // The real static, once: its first use pays the same startup.
    let began = std::time::Instant::now();
    let first = startup
        .send("app", &StartupArgs { n: 1 })
        .expect("no receiver fails");
    println!(
        "first send of `startup` ({} receivers): {:?}",
        first.len(),
        began.elapsed()
    );
    assert_eq!(first.len(), 10_000);

    c.bench_function("startup/10000_receivers_to_first_send", |b| {
        b.iter_batched(
            || Signal::new("fresh").with_initializer(connect_startup_receivers),
            |fresh: Signal<StartupArgs>| {
                let responses = fresh
                    .send("app", &StartupArgs { n: 1 })
                    .expect("no receiver fails");
                assert_eq!(responses.len(), 10_000);
                fresh
            },
            BatchSize::PerIteration,
        )
    });

    hand_connect();
    let args = PerSendArgs { n: 7 };
    assert_eq!(per_send.send("app", &args).expect("ok").len(), 10);
    assert_eq!(HAND.send("app", &args).expect("ok").len(), 10);
    let mut group = c.benchmark_group("per_send");
    group.bench_function("macro", |b| {
        b.iter(|| per_send.send(black_box("app"), black_box(&args)))
    });
    group.bench_function("hand", |b| {
        b.iter(|| HAND.send(black_box("app"), black_box(&args)))
    });
    group.finish();
}

criterion_group!(startup_benches, benches);
criterion_main!(startup_benches);
