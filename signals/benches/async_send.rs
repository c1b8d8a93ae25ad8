#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! The cost of `asend` against awaiting the same receivers' futures by hand,
//! and of `asend` against `send` when only sync receivers are connected.
//!
//! - `asend/ready/N`: N async receivers whose futures finish on their first
//!   poll (a channel send, a cache write), against `join_all` over a `Vec` of
//!   the very same receivers' futures, boxed as any list of different
//!   receivers must be, as `asend` boxes them (`hand_join/ready/N`), and
//!   unboxed (`hand_join_unboxed/ready/N`, possible here only because every
//!   receiver has the same type).
//! - `asend/pending_once/N`: each future is pending once (it wakes itself)
//!   before it finishes, so the join's wake-up path runs; against the same by
//!   hand.
//! - `sync_only`: `asend` and `send` with N sync receivers.
//!
//! The futures are polled with a no-op waker until ready, so that no executor's
//! cost is counted on either side.

mod support;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::future::join_all;
use signals::Receiver;
use support::{async_receiver, receiver, run, Args, Sig};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

fn async_receivers(c: &mut Criterion) {
    let args = Args { a: 1, b: 2 };
    for (kind, pending_once) in [("ready", false), ("pending_once", true)] {
        let mut group = c.benchmark_group(format!("asend/{kind}"));
        for n in [0usize, 1, 10, 100] {
            let sig: Sig = Sig::new("async");
            let mut by_hand: Vec<BoxedAsync> = Vec::new();
            let mut unboxed = Vec::new();
            for i in 0..n {
                let _ = sig.connect(Receiver::new_async(async_receiver(i, pending_once)));
                let receiver = async_receiver(i, pending_once);
                by_hand.push(Box::new(move |sender: &&'static str, args: &Args| {
                    Box::pin(receiver(sender, args)) as BoxFuture
                }));
                unboxed.push(async_receiver(i, pending_once));
            }
            group.bench_with_input(BenchmarkId::new("asend", n), &n, |b, _| {
                b.iter(|| black_box(run(sig.asend(black_box("app"), black_box(&args)))))
            });
            group.bench_with_input(BenchmarkId::new("hand_join", n), &n, |b, _| {
                b.iter(|| {
                    let sender = black_box("app");
                    let args = black_box(&args);
                    let futures: Vec<BoxFuture> = by_hand
                        .iter()
                        .map(|receiver| receiver(&sender, args))
                        .collect();
                    black_box(run(join_all(futures)))
                })
            });
            group.bench_with_input(BenchmarkId::new("hand_join_unboxed", n), &n, |b, _| {
                b.iter(|| {
                    let sender = black_box("app");
                    let args = black_box(&args);
                    let futures: Vec<_> = unboxed
                        .iter()
                        .map(|receiver| receiver(&sender, args))
                        .collect();
                    black_box(run(join_all(futures)))
                })
            });
        }
        group.finish();
    }
}

type BoxedAsync = Box<dyn Fn(&&'static str, &Args) -> BoxFuture + Send + Sync>;

fn sync_only(c: &mut Criterion) {
    let args = Args { a: 1, b: 2 };
    let mut group = c.benchmark_group("sync_only");
    for n in [0usize, 1, 10, 100] {
        let sig: Sig = Sig::new("sync");
        for i in 0..n {
            let _ = sig.connect(receiver(i));
        }
        group.bench_with_input(BenchmarkId::new("send", n), &n, |b, _| {
            b.iter(|| black_box(sig.send(black_box("app"), black_box(&args))))
        });
        group.bench_with_input(BenchmarkId::new("asend", n), &n, |b, _| {
            b.iter(|| black_box(run(sig.asend(black_box("app"), black_box(&args)))))
        });
        // `send` inside an `async` block polled the same way: what any async
        // API costs over `send` here, before any work of its own.
        group.bench_with_input(BenchmarkId::new("send_in_async_block", n), &n, |b, _| {
            b.iter(|| black_box(run(async { sig.send(black_box("app"), black_box(&args)) })))
        });
    }
    group.finish();
}

criterion_group!(benches, async_receivers, sync_only);
criterion_main!(benches);
