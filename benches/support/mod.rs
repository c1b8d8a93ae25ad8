//! What the dispatch benchmarks share: the arguments and the receivers, so that
//! every bench measures the same work per receiver.

use std::hint::black_box;

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
