//! What the dispatch benchmarks share: the arguments and the receivers, so that
//! every bench measures the same work per receiver.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use signals::Signal;

/// Two named arguments.
pub(crate) struct Args {
    pub(crate) a: u64,
    pub(crate) b: u64,
}

/// The signal the benches send on.
pub(crate) type Sig = Signal<Args, &'static str, ()>;

/// The `i`-th receiver: it adds the arguments and `black_box`es the sum and its
/// own index. Distinct closures, so none is deduplicated; the baselines call
/// the very same closures.
pub(crate) fn receiver(i: usize) -> impl Fn(&&'static str, &Args) + Send + Sync + 'static {
    move |_: &&'static str, args: &Args| {
        black_box(args.a + args.b + black_box(i) as u64);
    }
}

/// Polls `future` with a no-op waker until it is ready.
#[allow(dead_code)] // not every bench is async
pub(crate) fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The future of a bench receiver: the sync receivers' work (see
/// `support::receiver`), done when it is ready; pending once first if asked
/// (a receiver that waits for something already there by its second poll).
pub(crate) struct Work {
    sum: u64,
    pending: bool,
}

impl Future for Work {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending {
            self.pending = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        black_box(self.sum);
        Poll::Ready(())
    }
}

/// The `i`-th async receiver: distinct closures, so none is deduplicated.
#[allow(dead_code)] // not every bench is async
pub(crate) fn async_receiver(
    i: usize,
    pending_once: bool,
) -> impl Fn(&&'static str, &Args) -> Work + Send + Sync + 'static {
    move |_: &&'static str, args: &Args| Work {
        sum: args.a + args.b + black_box(i) as u64,
        pending: pending_once,
    }
}
