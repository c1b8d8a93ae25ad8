//! The attribute keys the macros accept, in one place.

/// `#[signal(providing_args = [...])]`: the named, typed arguments.
pub(crate) const PROVIDING_ARGS: &str = "providing_args";
/// `#[signal(sender = Type)]` (the sender type) and `#[receiver(sig, sender = value)]`.
pub(crate) const SENDER: &str = "sender";
/// `#[signal(response = Type)]`: what every receiver returns.
pub(crate) const RESPONSE: &str = "response";
/// `#[signal(use_caching)]`: the per-sender receiver cache.
pub(crate) const USE_CACHING: &str = "use_caching";
/// `#[signal(name = "...")]`: the name used in `Debug` output and logs.
pub(crate) const NAME: &str = "name";
/// `#[signal(args = Ident)]`: the name of the generated argument struct.
pub(crate) const ARGS: &str = "args";
/// `#[receiver(sig, dispatch_uid = "...")]`.
pub(crate) const DISPATCH_UID: &str = "dispatch_uid";
/// `#[receiver(sig, retry = policy)]`.
pub(crate) const RETRY: &str = "retry";
/// `#[receiver(sig, priority = N)]`: higher is called first.
pub(crate) const PRIORITY: &str = "priority";

/// Every key `#[signal]` accepts, for "expected one of" messages.
pub(crate) const SIGNAL_KEYS: &[&str] =
    &[PROVIDING_ARGS, SENDER, RESPONSE, USE_CACHING, NAME, ARGS];
/// Every key `#[receiver]` accepts after the signal.
pub(crate) const RECEIVER_KEYS: &[&str] = &[SENDER, DISPATCH_UID, RETRY, PRIORITY];

/// The receiver parameter that takes the sender rather than an argument.
pub(crate) const SENDER_PARAM: &str = "sender";
/// The receiver parameter that takes the signal itself.
pub(crate) const SIGNAL_PARAM: &str = "signal";

/// Formats a key list as "`a`, `b` or `c`".
pub(crate) fn one_of(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
