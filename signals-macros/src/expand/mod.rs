//! Code generation, run only on declarations that passed validation.
//!
//! Generated code names the runtime only through `::signals::__private`, so users
//! depend on `signals` alone.

pub(crate) mod receiver;
pub(crate) mod signal;
