//! `#[receiver]`: the user's function, unchanged, plus for each signal a typed
//! adapter and a link-time registration.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Path;

use crate::ast::ReceiverFn;
use crate::attr::ReceiverAttr;
use crate::symbol::{SENDER_PARAM, SIGNAL_PARAM};

/// Expands a validated receiver.
pub(crate) fn expand(attr: &ReceiverAttr, function: &ReceiverFn) -> TokenStream {
    let item = &function.item;
    let registrations = attr
        .signals
        .iter()
        .map(|signal| registration(attr, function, signal));
    quote! {
        #item
        #(#registrations)*
    }
}

/// The adapter and registration of `function` on one signal.
fn registration(attr: &ReceiverAttr, function: &ReceiverFn, signal: &Path) -> TokenStream {
    let fn_ident = &function.item.sig.ident;
    let span = signal.span();
    let declared = quote_spanned!(span=> <#signal as ::signals::__private::Declared>);
    let args_ty = quote_spanned!(span=> #declared::Args);
    let sender_ty = quote_spanned!(span=> #declared::Sender);
    let response_ty = quote_spanned!(span=> #declared::Response);
    let args = function.params().into_iter().map(|param| {
        let name = param.name.expect("validated: parameters are plain names");
        let source = if name == SENDER_PARAM {
            quote!(sender)
        } else if name == SIGNAL_PARAM {
            quote!(&#signal)
        } else {
            quote!(&args.#name)
        };
        quote_spanned!(param.ty.span()=> ::signals::__private::argument(#source))
    });
    let call = quote!(#fn_ident(#(#args),*));
    let output_span = match function.output() {
        Some(output) => output.span(),
        None => fn_ident.span(),
    };
    let adapter = match &function.item.sig.asyncness {
        None => {
            let outcome = quote_spanned!(output_span=> ::signals::__private::outcome::<#response_ty, _>(#call));
            quote! {
                fn call(
                    sender: &#sender_ty,
                    args: &#args_ty,
                ) -> ::signals::__private::Outcome<#response_ty> {
                    let _ = (&sender, &args);
                    #outcome
                }
                fn receiver() -> ::signals::__private::Receiver<#args_ty, #sender_ty, #response_ty> {
                    ::signals::__private::Receiver::new(call)
                }
            }
        }
        Some(asyncness) => {
            // The future must be `Send`: rustc says which value is held
            // across which await, pointed at the user's `async`.
            let outcome = quote_spanned!(output_span=> ::signals::__private::outcome::<#response_ty, _>(#call.await));
            let future = quote_spanned!(asyncness.span()=>
                impl ::core::future::Future<Output = ::signals::__private::Outcome<#response_ty>> + ::core::marker::Send + 'a
            );
            quote! {
                fn call<'a>(
                    sender: &'a #sender_ty,
                    args: &'a #args_ty,
                ) -> #future {
                    async move {
                        let _ = (&sender, &args);
                        #outcome
                    }
                }
                fn receiver() -> ::signals::__private::Receiver<#args_ty, #sender_ty, #response_ty> {
                    ::signals::__private::Receiver::new_async(call)
                }
            }
        }
    };
    let name = quote!(::core::concat!(
        ::core::module_path!(),
        "::",
        ::core::stringify!(#fn_ident)
    ));
    let dispatch_uid = match &attr.dispatch_uid {
        Some(uid) => quote!(#uid),
        None => name.clone(),
    };
    let (sender_fn, sender) = match &attr.sender {
        Some(value) => (
            quote_spanned! {value.span()=>
                fn sender() -> #sender_ty {
                    ::signals::__private::sender(#value)
                }
            },
            quote!(::core::option::Option::Some(sender)),
        ),
        None => (quote!(), quote!(::core::option::Option::None)),
    };
    let (retry_fn, retry) = match &attr.retry {
        Some(policy) => (
            quote_spanned! {policy.span()=>
                fn retry() -> ::signals::__private::RetryPolicy {
                    #policy
                }
            },
            quote!(::core::option::Option::Some(retry)),
        ),
        None => (quote!(), quote!(::core::option::Option::None)),
    };

    let priority = match &attr.priority {
        // Spanned, so a value that is not an `i32` is reported on it.
        Some(priority) => {
            quote_spanned!(priority.span()=> { const PRIORITY: i32 = #priority; PRIORITY })
        }
        None => quote!(0),
    };

    quote! {
        #[doc(hidden)]
        const _: () = {
            #adapter
            #sender_fn
            #retry_fn
            static ENTRY: ::signals::__private::ReceiverEntry<#args_ty, #sender_ty, #response_ty> = ::signals::__private::ReceiverEntry {
                name: #name,
                dispatch_uid: #dispatch_uid,
                sender: #sender,
                retry: #retry,
                priority: #priority,
                receiver,
            };
            ::signals::__private::inventory::submit! {
                ::signals::__private::Registration::new::<#signal>(&#signal, &ENTRY)
            }
        };
    }
}
