//! The items the attributes go on, parsed and kept with the user's tokens so
//! that errors point at them.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, ReturnType, Token, Type, Visibility};

/// `pub static task_sent: Signal;`, the declaration `#[signal]` goes on.
pub(crate) struct SignalItem {
    /// Doc comments and other attributes, carried over to the generated items.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) mutability: Option<Token![mut]>,
    pub(crate) ident: Ident,
    /// What follows the colon; must be `Signal`.
    pub(crate) ty: Type,
    /// `= value`, which the declaration must not have.
    pub(crate) init: Option<TokenStream>,
}

impl Parse for SignalItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![static]) {
            return Err(
                input.error("#[signal] goes on a declaration like `pub static task_sent: Signal;`")
            );
        }
        input.parse::<Token![static]>()?;
        let mutability = input.parse()?;
        let ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        let init = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let mut init = TokenStream::new();
            while !input.peek(Token![;]) && !input.is_empty() {
                init.extend(std::iter::once(input.parse::<proc_macro2::TokenTree>()?));
            }
            Some(init)
        } else {
            None
        };
        input.parse::<Token![;]>()?;
        Ok(Self {
            attrs,
            vis,
            mutability,
            ident,
            ty,
            init,
        })
    }
}

/// A parameter of a receiver function: `task_id: &TaskId`.
pub(crate) struct Param<'a> {
    /// The whole parameter, for spans.
    pub(crate) original: &'a FnArg,
    /// The name, which selects the signal argument. `None` for a pattern that is
    /// not a plain name (an error).
    pub(crate) name: Option<&'a Ident>,
    pub(crate) ty: &'a Type,
}

/// The function `#[receiver]` goes on.
pub(crate) struct ReceiverFn {
    pub(crate) item: ItemFn,
}

impl ReceiverFn {
    /// The parameters, in order; `self` parameters are left out (validation
    /// reports them).
    pub(crate) fn params(&self) -> Vec<Param<'_>> {
        self.item
            .sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Receiver(_) => None,
                FnArg::Typed(typed) => Some(Param {
                    original: arg,
                    name: match &*typed.pat {
                        Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                            Some(&pat.ident)
                        }
                        _ => None,
                    },
                    ty: &typed.ty,
                }),
            })
            .collect()
    }

    /// The declared return type, if any.
    pub(crate) fn output(&self) -> Option<&Type> {
        match &self.item.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(ty),
        }
    }
}
