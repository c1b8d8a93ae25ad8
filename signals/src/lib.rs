//! Strongly typed, decoupled notifications: Django's `django.dispatch` and Celery's
//! `celery.signals`, done the Rust way.
//!
//! A [`Signal`] carries typed arguments from a sender to any number of receivers.
//! Receivers can filter by sender, be held weakly, be deduplicated by a
//! `dispatch_uid`, be retried on failure; [`Signal::send`] stops at the first error
//! (Django) and [`Signal::send_robust`] calls every receiver and reports each
//! failure, panics included. Receivers may be async ([`Signal::connect_async`],
//! `#[receiver]` on an `async fn`): [`Signal::asend`] and [`Signal::asend_robust`]
//! await them concurrently in the caller's task, on any executor.
//!
//! What applications and their tests ask of a signal library:
//! - scoped connections ([`Signal::connect_scoped`]) and muting
//!   ([`Signal::mute`], [`Signal::mute_uid`]), both undone when a guard drops;
//! - receiver order by priority ([`ConnectOptions::priority`],
//!   `#[receiver(..., priority = N)]`);
//! - test capture with readable assertions ([`testing::Recorder`]);
//! - introspection of connections ([`Signal::connections`]) and of every
//!   `#[signal]` in the program ([`declared_signals`]);
//! - dispatch on commit ([`defer()`], [`Signal::send_on_commit`]);
//! - with the `tracing-spans` feature, a `tracing` span per send and per
//!   receiver, taken only when a subscriber wants `DEBUG` spans of target
//!   `signals` (without the feature, the send path is unchanged).
//!
//! The package is `signals-dispatch` on crates.io; the library is `signals`.
//!
//! # Examples
//!
//! ```
//! use signals::{ConnectOptions, Signal};
//!
//! /// Sent when a user signs up; the sender is the site.
//! pub struct SignedUp { pub user: String }
//! pub static SIGNED_UP: Signal<SignedUp, &'static str, String> = Signal::new("signed_up");
//!
//! fn welcome(site: &&str, args: &SignedUp) -> String {
//!     format!("welcome to {site}, {}", args.user)
//! }
//!
//! SIGNED_UP.connect(welcome);
//! SIGNED_UP.connect_with(
//!     |_: &&str, args: &SignedUp| format!("audit: {}", args.user),
//!     ConnectOptions::new().sender("shop"),
//! );
//!
//! let responses = SIGNED_UP.send("shop", &SignedUp { user: "ada".into() }).unwrap();
//! let texts: Vec<_> = responses.into_iter().map(|(_, text)| text).collect();
//! assert_eq!(texts, ["welcome to shop, ada", "audit: ada"]);
//! ```

#![doc = include_str!("../docs/guide.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

// The modules in layers, the leaves first: a module imports from its own
// layer or from a layer listed before it, never from one listed after it
// (`scripts/import_graph.py signals/src` finds no import circle).

// Leaves.
mod error;
mod ids;
mod lock;
mod panic;
mod publish;
mod sleep;
mod summary;

// The receiver, and retry wrapping it at connect time.
mod introspect;
mod invoke;
mod options;
mod receiver;
mod retry;

// What a send returns.
mod responses;

// The connections: the registry, its snapshots and their route cache.
mod cache;
mod live;
mod registry;
mod snapshot;

// Where receivers are called.
mod dispatch;
#[cfg(feature = "tracing-spans")]
mod trace;

// The public `Signal`, and what stands beside it.
pub mod defer;
mod mute;
mod scoped;
mod signal;
pub mod testing;

#[doc(inline)]
pub use defer::defer;
#[doc(inline)]
pub use error::{AwaitRequired, BoxError, ReceiverError, RetriesExhausted, SendError};
#[doc(inline)]
pub use ids::ReceiverId;
pub use introspect::{declared_signals, ArgInfo, ConnectionInfo, Origin, SignalInfo};
#[doc(inline)]
pub use invoke::{AsyncCall, IntoOutcome};
pub use mute::Muted;
pub use options::{ConnectOptions, Connection};
#[doc(inline)]
pub use receiver::{IdentifyReceiver, Receiver, ReceiverKey};
#[doc(inline)]
pub use responses::{IntoIter, Iter, Responses, RobustResponses};
#[doc(inline)]
pub use retry::{RetryPolicy, Sleep};
#[doc(inline)]
pub use scoped::ScopedConnection;
pub use signal::{Registrar, Signal};

/// Declares a typed signal: `#[signal(...)] pub static name: Signal;`.
///
/// The attribute takes:
/// - `providing_args = [name: Type, ...]`: the named, typed arguments (doc
///   comments on an argument carry over to its field);
/// - `sender = Type`: the sender type (default `&'static str`, e.g. a task name);
/// - `response = Type`: what every receiver returns (default `()`);
/// - `use_caching` (or `use_caching = bool`): the per-sender receiver cache;
/// - `name = "..."`: the name in logs and `Debug` (default: the static's name);
/// - `args = Ident`: the argument struct's name (default: the static's name in
///   CamelCase followed by `Args`).
///
/// It generates the argument struct, with one public field per argument, and the
/// [`Signal`] static, which carries the declaration's doc comment. Receivers
/// registered with [`receiver`] anywhere in the program are connected before the
/// signal's first use.
///
/// # Examples
///
/// ```
/// use signals::{receiver, signal};
///
/// /// Sent after an order is paid; the sender is the shop.
/// #[signal(providing_args = [order_id: u64, total_cents: u64], response = String)]
/// pub static order_paid: Signal;
///
/// #[receiver(order_paid, sender = "eu")]
/// fn receipt(order_id: &u64, total_cents: &u64) -> String {
///     format!("order {order_id}: {total_cents} cents")
/// }
///
/// let responses = order_paid.send("eu", &OrderPaidArgs { order_id: 7, total_cents: 1250 })?;
/// assert_eq!(responses.values(), ["order 7: 1250 cents"]);
/// assert!(order_paid.send("us", &OrderPaidArgs { order_id: 8, total_cents: 1 })?.is_empty());
/// # Ok::<(), signals::SendError>(())
/// ```
#[doc(inline)]
pub use signals_macros::signal;

/// Registers a free function as a receiver of one or more signals declared with
/// [`signal`], at link time: it is connected before the signal's first use, with
/// no set-up call in `main`.
///
/// `#[receiver(sig, ...)]` or `#[receiver([sig_a, sig_b], ...)]`, with options:
/// - `sender = value`: only calls from this sender (Django's `sender=`);
/// - `dispatch_uid = "..."`: the deduplication key (default: the function's full
///   path, so a receiver is never registered twice, and a runtime `connect` with
///   the same uid is ignored);
/// - `retry = policy`: a [`RetryPolicy`] (Celery's `retry=True`).
///
/// The function's parameters are any subset of the signal's arguments, matched
/// by name, in any order, taken by reference (`&T`, a borrowed form such as
/// `&str` for a `String`, or `Option<&U>` for an `Option<U>`); a parameter named
/// `sender` takes the sender, one named `signal` the signal. It may return
/// nothing, the signal's response type, or a `Result` of it. The compiler
/// rejects a parameter the signal does not provide, or of the wrong type.
///
/// The function may be an `async fn`, with the same parameters and options: it
/// is then an async receiver, awaited by [`Signal::asend`] and
/// [`Signal::asend_robust`] (a sync [`Signal::send`] reports [`AwaitRequired`]
/// for it). Its future must be `Send`.
///
/// ```
/// use signals::{receiver, signal};
///
/// #[signal(providing_args = [user: String], response = usize)]
/// pub static signed_up: Signal;
///
/// #[receiver(signed_up)]
/// async fn count_letters(user: &str) -> usize {
///     std::future::ready(()).await; // a database write, say
///     user.len()
/// }
///
/// let args = SignedUpArgs { user: "ada".into() };
/// let responses = futures_executor::block_on(signed_up.asend("shop", &args))?;
/// assert_eq!(responses.values(), [3]);
/// # Ok::<(), signals::SendError>(())
/// ```
///
/// Disconnect a registered receiver by its dispatch uid
/// ([`Signal::disconnect_uid`]).
///
/// # Linking
///
/// Registration happens when the function's crate is linked. A crate none of
/// whose items the program uses is not linked, so its receivers are absent: if a
/// crate exists only to hold receivers, write `use that_crate as _;` in `main`.
///
/// # Examples
///
/// ```
/// use signals::{receiver, signal};
///
/// /// Sent when a user signs up; the sender is the site.
/// #[signal(providing_args = [user: String, referrer: Option<String>])]
/// pub static signed_up: Signal;
///
/// #[signal(providing_args = [user: String])]
/// pub static logged_in: Signal;
///
/// #[receiver(signed_up)]
/// fn welcome(user: &str, referrer: Option<&String>) {
///     println!("welcome {user} (via {referrer:?})");
/// }
///
/// // One function on two signals: it takes only what both provide.
/// #[receiver([signed_up, logged_in], sender = "shop")]
/// fn audit(sender: &&str, user: &str) {
///     println!("{sender}: {user}");
/// }
///
/// let responses = signed_up.send("shop", &SignedUpArgs { user: "ada".into(), referrer: None })?;
/// assert_eq!(responses.len(), 2);
/// assert!(logged_in.has_listeners("shop"));
/// assert!(!logged_in.has_listeners("blog"));
/// # Ok::<(), signals::SendError>(())
/// ```
///
/// A parameter the signal does not provide is a compile error:
///
/// ```compile_fail
/// use signals::{receiver, signal};
/// #[signal(providing_args = [user: String])]
/// pub static signed_up: Signal;
///
/// #[receiver(signed_up)]
/// fn welcome(email: &str) {}
/// ```
#[doc(inline)]
pub use signals_macros::receiver;
