//! `#[signal]`: the argument struct, the signal static, and the hidden marker
//! type that receivers name.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Ident, LitStr};

use crate::ast::SignalItem;
use crate::attr::SignalAttr;

/// Expands a validated declaration.
pub(crate) fn expand(attr: &SignalAttr, item: &SignalItem) -> TokenStream {
    let SignalItem {
        attrs, vis, ident, ..
    } = item;
    let args_ident = attr.args.clone().unwrap_or_else(|| args_struct_name(ident));
    let sender_ty = match &attr.sender {
        Some(ty) => quote!(#ty),
        None => quote!(&'static str),
    };
    let response_ty = match &attr.response {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let name = attr
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()));
    let caching = attr.use_caching.then(|| quote!(.with_caching()));
    let docs: Vec<_> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .collect();
    let fields = attr
        .providing_args
        .iter()
        .flat_map(|(_, args)| args)
        .map(|arg| {
            let field_attrs = &arg.attrs;
            let field = &arg.name;
            let ty = &arg.ty;
            let default_doc =
                (!field_attrs.iter().any(|attr| attr.path().is_ident("doc"))).then(|| {
                    let text = format!("The `{field}` argument.");
                    quote!(#[doc = #text])
                });
            quote!(#default_doc #(#field_attrs)* #vis #field: #ty)
        });
    let arg_infos = attr
        .providing_args
        .iter()
        .flat_map(|(_, args)| args)
        .map(|arg| {
            let field = arg.name.to_string();
            let field = field.trim_start_matches("r#");
            let ty = arg
                .ty
                .as_ref()
                .map(|ty| type_text(&quote!(#ty)))
                .unwrap_or_default();
            quote!(::signals::__private::arg_info(#field, #ty))
        });
    let sender_text = type_text(&sender_ty);
    let response_text = type_text(&response_ty);
    let args_doc = format!("The arguments of the [`{ident}`] signal, one field per argument.");
    let signal_ty = quote!(::signals::__private::Signal<#args_ident, #sender_ty, #response_ty>);

    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #args_doc]
        #vis struct #args_ident {
            #(#fields,)*
        }

        #(#attrs)*
        #[allow(non_upper_case_globals)]
        #vis static #ident: #signal_ty = {
            fn connect_registered(
                registrar: &mut ::signals::__private::Registrar<'_, #args_ident, #sender_ty, #response_ty>,
            ) {
                ::signals::__private::connect_registered(&#ident, registrar);
            }
            fn describe_sender(
                sender: &#sender_ty,
                f: &mut ::core::fmt::Formatter<'_>,
            ) -> ::core::fmt::Result {
                #[allow(unused_imports)]
                use ::signals::__private::{DescribeDebug as _, DescribeOpaque as _};
                (&&::signals::__private::Described(sender)).describe(f)
            }
            ::signals::__private::describe_senders(
                ::signals::__private::Signal::new(#name) #caching .with_initializer(connect_registered),
                describe_sender,
            )
        };

        const _: () = {
            fn connections() -> ::std::vec::Vec<::signals::__private::ConnectionInfo<::std::string::String>> {
                ::signals::__private::described_connections(&#ident)
            }
            ::signals::__private::inventory::submit! {
                ::signals::__private::signal_info(
                    #name,
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                    &[#(#arg_infos),*],
                    #sender_text,
                    #response_text,
                    connections,
                )
            }
        };

        // The type-namespace twin of the static, which `#[receiver]` names to
        // learn the signal's types. Braced, so it does not shadow the static.
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        impl ::signals::__private::Declared for #ident {
            type Args = #args_ident;
            type Sender = #sender_ty;
            type Response = #response_ty;
        }
    }
}

/// `task_sent` or `TASK_SENT` -> `TaskSentArgs`.
fn args_struct_name(ident: &Ident) -> Ident {
    let camel: String = ident
        .to_string()
        .trim_start_matches("r#")
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first
                .into_iter()
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect();
    format_ident!("{}Args", camel, span = ident.span())
}

/// A type as text, spaced as people write it: `&'static str`, `Vec<u8>`,
/// `Option<(u32, String)>` (tokens print as `& 'static str`, `Vec < u8 >`).
fn type_text(ty: &TokenStream) -> String {
    let mut text = String::new();
    let mut previous: Option<char> = None;
    for c in ty.to_string().chars() {
        if c == ' ' {
            previous = Some(' ');
            continue;
        }
        if previous == Some(' ') && !text.is_empty() {
            let last = text.chars().last().unwrap_or(' ');
            // A space survives only between two words, after a comma, or
            // around `=>`-free operators such as `+` and `=`.
            let keep = (is_word(last) && is_word(c))
                || last == ','
                || matches!(c, '+' | '=')
                || matches!(last, '+' | '=');
            if keep {
                text.push(' ');
            }
        }
        text.push(c);
        previous = Some(c);
    }
    text
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\''
}
