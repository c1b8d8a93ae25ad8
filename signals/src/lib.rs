//! Strongly typed, decoupled notifications: Django's `django.dispatch` and Celery's
//! `celery.signals`, done the Rust way.
//!
//! A [`Signal`] carries typed arguments from a sender to any number of receivers.
//! Receivers can filter by sender, be held weakly, be deduplicated by a
//! `dispatch_uid`, be retried on failure; [`Signal::send`] stops at the first error
//! (Django) and [`Signal::send_robust`] calls every receiver and reports each
//! failure, panics included.
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

mod cache;
mod error;
pub mod events;
mod options;
mod publish;
mod receiver;
mod registry;
mod responses;
mod retry;
mod signal;

#[doc(inline)]
pub use error::{BoxError, ReceiverError, RetriesExhausted, SendError};
#[doc(inline)]
pub use options::{ConnectOptions, Connection};
#[doc(inline)]
pub use receiver::{IntoOutcome, Receiver, ReceiverId, ReceiverKey};
#[doc(inline)]
pub use responses::{IntoIter, Iter, Responses, RobustResponses};
#[doc(inline)]
pub use retry::RetryPolicy;
#[doc(inline)]
pub use signal::{IdentifyReceiver, Registrar, Signal};
