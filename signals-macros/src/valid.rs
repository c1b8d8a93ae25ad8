//! The rules a declaration must follow, one `check_*` function each. Every rule
//! runs, so every mistake is reported in the same compile.

use std::collections::HashSet;

use syn::{FnArg, Type};

use crate::ast::{ReceiverFn, SignalItem};
use crate::attr::{ReceiverAttr, SignalAttr};
use crate::ctxt::Ctxt;
use crate::symbol::{SENDER_PARAM, SIGNAL_PARAM};

/// Checks `#[signal(...)]` and the declaration it is on.
pub(crate) fn check_signal(cx: &mut Ctxt, attr: &SignalAttr, item: &SignalItem) {
    check_signal_item(cx, item);
    check_arguments(cx, attr);
}

/// Checks `#[receiver(...)]` and the function it is on.
pub(crate) fn check_receiver(cx: &mut Ctxt, attr: &ReceiverAttr, function: &ReceiverFn) {
    let _ = attr;
    check_free_function(cx, function);
    check_params(cx, function);
}

/// `static name: Signal;`: immutable, typed `Signal`, no value.
fn check_signal_item(cx: &mut Ctxt, item: &SignalItem) {
    if let Some(mutability) = &item.mutability {
        cx.error_spanned_by(
            mutability,
            "a signal cannot be `static mut`; remove `mut` (a signal is shared safely as it is)",
        );
    }
    let is_signal = matches!(&item.ty, Type::Path(path)
        if path.qself.is_none()
            && path.path.segments.len() == 1
            && path.path.segments[0].ident == "Signal"
            && path.path.segments[0].arguments.is_none());
    if !is_signal {
        cx.error_spanned_by(
            &item.ty,
            "write the type as plain `Signal`; the argument, sender and response types come from the attribute",
        );
    }
    if let Some(init) = &item.init {
        cx.error_spanned_by(
            init,
            "a #[signal] declaration has no value; remove `= ...` (the macro builds the signal)",
        );
    }
}

/// `providing_args`: every argument typed, named once, and not named like a
/// receiver's special parameters.
fn check_arguments(cx: &mut Ctxt, attr: &SignalAttr) {
    let Some((_, args)) = &attr.providing_args else {
        return;
    };
    let mut names = HashSet::new();
    for arg in args {
        let name = arg.name.to_string();
        if arg.ty.is_none() {
            cx.error_spanned_by(
                &arg.name,
                format!("argument `{name}` has no type; write it as `{name}: Type`"),
            );
        }
        if !names.insert(name.clone()) {
            cx.error_spanned_by(
                &arg.name,
                format!("argument `{name}` is declared twice; declare each argument once"),
            );
        }
        if name == SENDER_PARAM || name == SIGNAL_PARAM {
            cx.error_spanned_by(
                &arg.name,
                format!(
                    "`{name}` cannot be an argument name: a receiver's `{name}` parameter takes the {}; rename the argument",
                    if name == SENDER_PARAM { "sender" } else { "signal itself" }
                ),
            );
        }
    }
}

/// A plain, non-generic, safe free function (sync or `async`).
fn check_free_function(cx: &mut Ctxt, function: &ReceiverFn) {
    let sig = &function.item.sig;
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            cx.error_spanned_by(
                receiver,
                "#[receiver] goes on a free function, not a method; move it out of the `impl` block, or connect a closure that calls the method at runtime",
            );
        }
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "a receiver cannot be generic: the signal fixes every type; write the concrete types (lifetimes can be left elided)",
        );
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        cx.error_spanned_by(
            unsafety,
            "a receiver cannot be `unsafe fn`: the dispatcher cannot uphold its contract; make it safe and use `unsafe` blocks inside",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "a receiver cannot be variadic");
    }
}

/// Parameters are plain names, each asked for once, with a concrete type.
fn check_params(cx: &mut Ctxt, function: &ReceiverFn) {
    let mut names = HashSet::new();
    for param in function.params() {
        match param.name {
            None => cx.error_spanned_by(
                param.original,
                "a receiver parameter must be a plain name: the name selects the signal argument it takes",
            ),
            Some(name) => {
                if !names.insert(name.to_string()) {
                    cx.error_spanned_by(
                        name,
                        format!("argument `{name}` is asked for twice; take each argument once"),
                    );
                }
            }
        }
        if matches!(param.ty, Type::ImplTrait(_)) {
            cx.error_spanned_by(
                param.ty,
                "a receiver parameter cannot be `impl Trait`; take the argument as a reference to its type, e.g. `&TaskId`",
            );
        }
    }
}
