//! Parsing of the attributes' arguments: `#[signal(...)]` and `#[receiver(...)]`.
//!
//! Parsing never stops at the first mistake: an unknown or repeated key is
//! recorded in the [`Ctxt`] and the parser moves on to the next comma, so every
//! mistake in one attribute is reported in one compile.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{
    bracketed, parenthesized, token, Attribute, Expr, Ident, LitBool, LitStr, Path, Token, Type,
};

use crate::ctxt::Ctxt;
use crate::symbol::{
    one_of, ARGS, DISPATCH_UID, NAME, PRIORITY, PROVIDING_ARGS, RECEIVER_KEYS, RESPONSE, RETRY,
    SENDER, SIGNAL_KEYS, USE_CACHING,
};

/// One argument in `providing_args`, as the user wrote it.
pub(crate) struct ArgDecl {
    /// Doc comments and other attributes, carried over to the struct field.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: Ident,
    /// `None` when the user left the type out (an error, reported by validation).
    pub(crate) ty: Option<Type>,
}

/// The arguments of `#[signal(...)]`.
#[derive(Default)]
pub(crate) struct SignalAttr {
    /// The `providing_args` key (for spans) and its arguments.
    pub(crate) providing_args: Option<(Ident, Vec<ArgDecl>)>,
    pub(crate) sender: Option<Type>,
    pub(crate) response: Option<Type>,
    pub(crate) use_caching: bool,
    pub(crate) name: Option<LitStr>,
    pub(crate) args: Option<Ident>,
}

/// The arguments of `#[receiver(...)]`.
#[derive(Default)]
pub(crate) struct ReceiverAttr {
    /// The signals, in the order written (one, or a bracketed list).
    pub(crate) signals: Vec<Path>,
    pub(crate) sender: Option<Expr>,
    pub(crate) dispatch_uid: Option<LitStr>,
    pub(crate) retry: Option<Expr>,
    /// An `i32` expression (a literal, a constant).
    pub(crate) priority: Option<Expr>,
}

impl SignalAttr {
    /// Parses `#[signal(...)]`'s arguments, recording mistakes in `cx`.
    pub(crate) fn parse(tokens: TokenStream, cx: &mut Ctxt) -> Self {
        let mut attr = SignalAttr::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = |input: ParseStream<'_>| {
            parse_keys(
                input,
                cx,
                &mut seen,
                "#[signal]",
                SIGNAL_KEYS,
                |key, input, cx| {
                    match key.to_string().as_str() {
                        PROVIDING_ARGS => {
                            input.parse::<Token![=]>()?;
                            attr.providing_args = Some((key.clone(), parse_arg_list(input)?));
                        }
                        SENDER => attr.sender = Some(parse_value(input)?),
                        RESPONSE => attr.response = Some(parse_value(input)?),
                        ARGS => attr.args = Some(parse_value(input)?),
                        USE_CACHING => {
                            attr.use_caching = if input.peek(Token![=]) {
                                parse_value::<LitBool>(input)?.value
                            } else {
                                true
                            };
                        }
                        NAME => {
                            attr.name = parse_string(input, NAME, "name = \"app.order_paid\"", cx)?
                        }
                        _ => unknown_key(key, input, "#[signal]", SIGNAL_KEYS, cx),
                    }
                    Ok(())
                },
            )
        };
        if let Err(error) = parser.parse2(tokens) {
            cx.syn_error(error);
        }
        attr
    }
}

impl ReceiverAttr {
    /// Parses `#[receiver(...)]`'s arguments, recording mistakes in `cx`.
    pub(crate) fn parse(tokens: TokenStream, cx: &mut Ctxt) -> Self {
        let mut attr = ReceiverAttr::default();
        let mut seen: Vec<String> = Vec::new();
        let parser = |input: ParseStream<'_>| {
            attr.signals = parse_signals(input, cx)?;
            if !input.is_empty() && !attr.signals.is_empty() {
                input.parse::<Token![,]>()?;
            }
            parse_keys(
                input,
                cx,
                &mut seen,
                "#[receiver]",
                RECEIVER_KEYS,
                |key, input, cx| {
                    match key.to_string().as_str() {
                        SENDER => attr.sender = Some(parse_value(input)?),
                        RETRY => attr.retry = Some(parse_value(input)?),
                        PRIORITY => attr.priority = Some(parse_value(input)?),
                        DISPATCH_UID => {
                            attr.dispatch_uid = parse_string(
                                input,
                                DISPATCH_UID,
                                "dispatch_uid = \"billing.on_paid\"",
                                cx,
                            )?;
                        }
                        _ => unknown_key(key, input, "#[receiver]", RECEIVER_KEYS, cx),
                    }
                    Ok(())
                },
            )
        };
        if let Err(error) = parser.parse2(tokens) {
            cx.syn_error(error);
        }
        attr
    }
}

/// The signal (`task_sent`, `crate::signals::task_sent`) or bracketed list of
/// signals a receiver attaches to.
fn parse_signals(input: ParseStream<'_>, cx: &mut Ctxt) -> syn::Result<Vec<Path>> {
    if input.is_empty() || (input.peek(Ident) && input.peek2(Token![=])) {
        cx.syn_error(syn::Error::new(
            if input.is_empty() { Span::call_site() } else { input.span() },
            "name the signal first, e.g. `#[receiver(task_sent)]` or `#[receiver([pre_save, post_save])]`",
        ));
        return Ok(Vec::new());
    }
    if input.peek(token::Bracket) {
        let content;
        let brackets = bracketed!(content in input);
        let list = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
        if list.is_empty() {
            cx.syn_error(syn::Error::new(
                brackets.span.join(),
                "the list of signals is empty; name at least one signal",
            ));
        }
        return Ok(list.into_iter().collect());
    }
    Ok(vec![input.parse()?])
}

/// Runs `each` on every `key [= value]` entry, separated by commas. A repeated key
/// is reported and its value skipped; a value that does not parse is reported and
/// skipped up to the next comma.
fn parse_keys(
    input: ParseStream<'_>,
    cx: &mut Ctxt,
    seen: &mut Vec<String>,
    attribute: &str,
    keys: &[&str],
    mut each: impl FnMut(&Ident, ParseStream<'_>, &mut Ctxt) -> syn::Result<()>,
) -> syn::Result<()> {
    while !input.is_empty() {
        let key = match input.call(Ident::parse_any_key) {
            Ok(key) => key,
            Err(_) => {
                let unexpected: TokenTree = input.parse()?;
                cx.error_spanned_by(
                    &unexpected,
                    format!("expected a key of {attribute}: {}", one_of(keys)),
                );
                skip_to_comma(input);
                continue;
            }
        };
        let name = key.to_string();
        if seen.contains(&name) && keys.contains(&name.as_str()) {
            cx.error_spanned_by(&key, format!("`{name}` is given twice; give it once"));
            skip_to_comma(input);
        } else {
            seen.push(name);
            if let Err(error) = each(&key, input, cx) {
                cx.syn_error(error);
                skip_to_comma(input);
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            cx.syn_error(error);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    Ok(())
}

/// Records an unknown key and skips its value.
fn unknown_key(key: &Ident, input: ParseStream<'_>, attribute: &str, keys: &[&str], cx: &mut Ctxt) {
    cx.error_spanned_by(
        key,
        format!(
            "unknown key `{key}` for {attribute}; expected {}",
            one_of(keys)
        ),
    );
    skip_to_comma(input);
}

/// `= "literal"`; anything else is reported with an example and skipped.
fn parse_string(
    input: ParseStream<'_>,
    key: &str,
    example: &str,
    cx: &mut Ctxt,
) -> syn::Result<Option<LitStr>> {
    input.parse::<Token![=]>()?;
    if input.peek(LitStr) {
        return Ok(Some(input.parse()?));
    }
    let value: Expr = input.parse()?;
    cx.error_spanned_by(
        value,
        format!("`{key}` takes a string literal, e.g. `{example}`"),
    );
    Ok(None)
}

/// `= value`.
fn parse_value<T: syn::parse::Parse>(input: ParseStream<'_>) -> syn::Result<T> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// `[name: Type, ...]` (or with parentheses). An argument without a type is kept
/// with `ty: None`, for validation to report.
fn parse_arg_list(input: ParseStream<'_>) -> syn::Result<Vec<ArgDecl>> {
    let content;
    if input.peek(token::Paren) {
        parenthesized!(content in input);
    } else {
        bracketed!(content in input);
    }
    let mut args = Vec::new();
    while !content.is_empty() {
        let attrs = content.call(Attribute::parse_outer)?;
        let name: Ident = content.call(Ident::parse_any_key)?;
        let ty = if content.peek(Token![:]) {
            content.parse::<Token![:]>()?;
            Some(content.parse()?)
        } else {
            None
        };
        args.push(ArgDecl { attrs, name, ty });
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(args)
}

/// Skips tokens up to (not including) the next comma outside angle brackets.
fn skip_to_comma(input: ParseStream<'_>) {
    let mut depth = 0usize;
    while !input.is_empty() {
        if depth == 0 && input.peek(Token![,]) {
            return;
        }
        match input.parse::<TokenTree>() {
            Ok(TokenTree::Punct(punct)) if punct.as_char() == '<' => depth += 1,
            Ok(TokenTree::Punct(punct)) if punct.as_char() == '>' => {
                depth = depth.saturating_sub(1)
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// `Ident::parse_any`, named for what it is used for here.
trait ParseAnyKey {
    fn parse_any_key(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAnyKey for Ident {
    fn parse_any_key(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}
