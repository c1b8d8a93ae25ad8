//! Procedural macros of the [`signals-dispatch`](https://docs.rs/signals-dispatch) crate (library `signals`):
//! `#[signal]` declares a typed signal, `#[receiver]` registers a function at
//! link time. Use them through `signals`, which re-exports both.
//!
//! Each macro runs a fixed pipeline: parse (`attr`, `ast`), validate (`valid`,
//! collecting every error in a `Ctxt`), then expand (`expand`). On error the
//! user's item is kept and the errors are added, so one mistake does not bring
//! a screen of follow-on errors.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod symbol;
mod valid;

use proc_macro::TokenStream;

use crate::ast::{ReceiverFn, SignalItem};
use crate::attr::{ReceiverAttr, SignalAttr};
use crate::ctxt::Ctxt;

/// Declares a typed signal. See `signals::signal` for the full documentation.
#[proc_macro_attribute]
pub fn signal(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let attr = SignalAttr::parse(args.into(), &mut cx);
    let item = match syn::parse::<SignalItem>(item) {
        Ok(item) => item,
        Err(error) => {
            cx.syn_error(error);
            return cx.into_errors().into();
        }
    };
    valid::check_signal(&mut cx, &attr, &item);
    match cx.check() {
        Ok(()) => expand::signal::expand(&attr, &item).into(),
        Err(errors) => errors.into(),
    }
}

/// Registers a free function as a receiver at link time. See
/// `signals::receiver` for the full documentation.
#[proc_macro_attribute]
pub fn receiver(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let attr = ReceiverAttr::parse(args.into(), &mut cx);
    let original: proc_macro2::TokenStream = item.clone().into();
    let function = match syn::parse::<syn::Item>(item) {
        Ok(syn::Item::Fn(item)) => ReceiverFn { item },
        Ok(other) => {
            cx.error_spanned_by(
                item_keyword(&other),
                "#[receiver] goes on a free function, e.g. `fn on_task_sent(task_id: &TaskId) { ... }`",
            );
            return keep_item(cx, original);
        }
        Err(error) => {
            cx.syn_error(error);
            return keep_item(cx, original);
        }
    };
    valid::check_receiver(&mut cx, &attr, &function);
    if !cx.is_clean() || attr.signals.is_empty() {
        return keep_item(cx, original);
    }
    expand::receiver::expand(&attr, &function).into()
}

/// The errors followed by the user's item, unchanged: uses of the function
/// elsewhere still compile, so only the attribute's mistakes are reported.
fn keep_item(cx: Ctxt, original: proc_macro2::TokenStream) -> TokenStream {
    let mut out = cx.into_errors();
    out.extend(original);
    out.into()
}

/// The tokens to point at when the item is not a function: its keyword and name.
fn item_keyword(item: &syn::Item) -> proc_macro2::TokenStream {
    use quote::{quote, ToTokens};
    match item {
        syn::Item::Struct(item) => {
            let (keyword, ident) = (&item.struct_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Enum(item) => {
            let (keyword, ident) = (&item.enum_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Static(item) => {
            let (keyword, ident) = (&item.static_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Const(item) => {
            let (keyword, ident) = (&item.const_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Mod(item) => {
            let (keyword, ident) = (&item.mod_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Trait(item) => {
            let (keyword, ident) = (&item.trait_token, &item.ident);
            quote!(#keyword #ident)
        }
        syn::Item::Impl(item) => {
            let (keyword, ty) = (&item.impl_token, &item.self_ty);
            quote!(#keyword #ty)
        }
        other => other.to_token_stream(),
    }
}
