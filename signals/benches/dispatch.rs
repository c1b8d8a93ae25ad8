#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Dispatch cost of `signals` against a bare loop doing the same work, and against
//! the Rust peer `signals2`.
//!
//! The baseline is what any dispatcher must do at least: walk a
//! `Vec<Box<dyn Fn>>`, call each receiver, and collect the responses with their
//! receivers' ids the way `send` does (see `bare_send`).

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use signals::{ConnectOptions, ReceiverId};
use signals2::{Connect2, Emit2};
use smallvec::SmallVec;
use support::{receiver, Args, Sig};

const NS: [usize; 4] = [0, 1, 10, 100];

type BoxedReceiver = Box<dyn Fn(&&'static str, &Args) + Send + Sync>;

/// `n` distinct receivers (distinct closures, so none is deduplicated).
fn connect_n(sig: &Sig, n: usize, sender: Option<&'static str>) -> Vec<ReceiverId> {
    (0..n)
        .map(|i| {
            let options = match sender {
                Some(s) => ConnectOptions::new().sender(s),
                None => ConnectOptions::new(),
            };
            sig.connect_with(receiver(i), options).id()
        })
        .collect()
}

type Bare = Vec<BoxedReceiver>;

/// What the bare loop returns: the responses and whose they are.
#[allow(dead_code)] // read only through `black_box`
enum BareResponses {
    /// No receiver, or one: its id and response.
    One(Option<(ReceiverId, ())>),
    /// More: the values (inline up to two), the ids shared with the caller.
    Many(Arc<[ReceiverId]>, SmallVec<[(); 2]>),
}

/// Collects exactly as `send` does: one `(ReceiverId, response)` pair inline;
/// past one, the responses inline up to two (else in a `Vec`) beside a shared
/// list of the ids.
#[allow(clippy::unit_arg)] // the responses are `()`, as the signals' are
fn bare_send(
    receivers: &Bare,
    ids: &Arc<[ReceiverId]>,
    sender: &'static str,
    args: &Args,
) -> BareResponses {
    match receivers.len() {
        0 => BareResponses::One(None),
        1 => BareResponses::One(Some((ids[0], receivers[0](&sender, args)))),
        2 => {
            let mut values = SmallVec::new();
            for f in receivers {
                values.push(f(&sender, args));
            }
            BareResponses::Many(Arc::clone(ids), values)
        }
        n => {
            let mut values = Vec::with_capacity(n);
            for f in receivers {
                values.push(f(&sender, args));
            }
            BareResponses::Many(Arc::clone(ids), SmallVec::from_vec(values))
        }
    }
}

fn dispatch(c: &mut Criterion) {
    let args = Args { a: 1, b: 2 };
    let mut group = c.benchmark_group("send");
    for n in NS {
        let ids = connect_n(&Sig::new("ids"), n, None);
        let bare: Bare = (0..n)
            .map(|i| Box::new(receiver(i)) as BoxedReceiver)
            .collect();
        let ids: Arc<[ReceiverId]> = ids.into();
        group.bench_with_input(BenchmarkId::new("baseline_vec_box_fn", n), &n, |b, _| {
            b.iter(|| black_box(bare_send(&bare, &ids, black_box("tasks.add"), &args)))
        });

        let plain = Sig::new("plain");
        connect_n(&plain, n, None);
        group.bench_with_input(BenchmarkId::new("signals_send", n), &n, |b, _| {
            b.iter(|| black_box(plain.send(black_box("tasks.add"), &args)))
        });
        group.bench_with_input(BenchmarkId::new("signals_send_robust", n), &n, |b, _| {
            b.iter(|| black_box(plain.send_robust(black_box("tasks.add"), &args)))
        });

        let cached = Sig::new("cached").with_caching();
        connect_n(&cached, n, None);
        group.bench_with_input(BenchmarkId::new("signals_send_cached", n), &n, |b, _| {
            b.iter(|| black_box(cached.send(black_box("tasks.add"), &args)))
        });

        // Sender filter: half the receivers for our sender, half for another one.
        let filtered = Sig::new("filtered");
        connect_n(&filtered, n.div_ceil(2), Some("tasks.add"));
        connect_n(&filtered, n / 2, Some("tasks.mul"));
        group.bench_with_input(BenchmarkId::new("signals_send_filtered", n), &n, |b, _| {
            b.iter(|| black_box(filtered.send(black_box("tasks.add"), &args)))
        });
        let filtered_cached = Sig::new("filtered_cached").with_caching();
        connect_n(&filtered_cached, n.div_ceil(2), Some("tasks.add"));
        connect_n(&filtered_cached, n / 2, Some("tasks.mul"));
        group.bench_with_input(
            BenchmarkId::new("signals_send_filtered_cached", n),
            &n,
            |b, _| b.iter(|| black_box(filtered_cached.send(black_box("tasks.add"), &args))),
        );

        // The same work per receiver as ours: the sum and the receiver's
        // `black_box`ed index (`receiver(i)`).
        let peer: signals2::Signal<(u64, u64)> = signals2::Signal::new();
        for i in 0..n {
            peer.connect(move |a: u64, b: u64| {
                black_box(a + b + black_box(i) as u64);
            });
        }
        group.bench_with_input(BenchmarkId::new("signals2_emit", n), &n, |b, _| {
            b.iter(|| black_box(peer.emit(black_box(1), black_box(2))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("has_listeners_miss");
    let empty = Sig::new("empty");
    group.bench_function("no_receivers", |b| {
        b.iter(|| black_box(empty.has_listeners(black_box("tasks.add"))))
    });
    let other = Sig::new("other").with_caching();
    connect_n(&other, 100, Some("tasks.mul"));
    group.bench_function("100_receivers_other_sender_cached", |b| {
        b.iter(|| black_box(other.has_listeners(black_box("tasks.add"))))
    });
    let other_plain = Sig::new("other_plain");
    connect_n(&other_plain, 100, Some("tasks.mul"));
    group.bench_function("100_receivers_other_sender", |b| {
        b.iter(|| black_box(other_plain.has_listeners(black_box("tasks.add"))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800))
        .sample_size(30);
    targets = dispatch
}
criterion_main!(benches);
