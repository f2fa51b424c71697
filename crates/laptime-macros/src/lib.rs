//! `#[capture]`: time every call of a function into the store installed with
//! `laptime_core::capture::install`, the Rust counterpart of the TypeScript `@capture()` decorator.
//! Use it through `laptime_core` (feature `macros`): `#[laptime_core::capture]`.
//!
//! - Sync and async fns (free functions and methods); an async fn is timed from its first poll to
//!   its completion, across every `.await`.
//! - The function behaves exactly as before: same value, same `return`s and `?`s (the body runs
//!   in a closure or an async block of the same output type).
//! - A call that returns `Err(..)` is recorded as an error; any other value as a success. A panic
//!   that unwinds through the call is recorded as an error too.
//! - Name: `#[capture(name = "Users.find")]`, else `<module path>::<fn name>`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{parse_macro_input, Error, ItemFn, LitStr, ReturnType, Token};

/// `name = "..."`, or nothing.
struct Args {
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Args> {
        if input.is_empty() {
            return Ok(Args { name: None });
        }
        let key: syn::Ident = input.parse()?;
        if key != "name" {
            return Err(Error::new(key.span(), "expected `name = \"...\"`"));
        }
        input.parse::<Token![=]>()?;
        let name: LitStr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the name"));
        }
        Ok(Args { name: Some(name) })
    }
}

/// Time every call of the function; see the crate documentation.
#[proc_macro_attribute]
pub fn capture(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let func = parse_macro_input!(item as ItemFn);
    match expand(args, func) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(args: Args, mut func: ItemFn) -> syn::Result<Tokens> {
    if let Some(c) = &func.sig.constness {
        return Err(Error::new(c.span, "#[capture] cannot time a const fn"));
    }
    let ident = &func.sig.ident;
    let name = match &args.name {
        Some(n) => quote!(#n),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };
    let output = match &func.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, t) => quote!(#t),
    };
    // `impl Trait` cannot be named in a `let`; leave those to inference.
    let annotated = !matches!(&func.sig.output, ReturnType::Type(_, t) if matches!(**t, syn::Type::ImplTrait(_)));
    let ty = if annotated {
        quote!(: #output)
    } else {
        quote!()
    };
    let body = &func.block;
    let run = if func.sig.asyncness.is_some() {
        quote!(async move #body.await)
    } else {
        quote!((|| #body)())
    };
    func.block = syn::parse2(quote!({
        // Marks the call failed unless it completes: a panic unwinding through it is an error.
        let mut __laptime_timer = ::laptime_core::capture::time(#name);
        __laptime_timer.fail();
        let __laptime_result #ty = #run;
        {
            #[allow(unused_imports)]
            use ::laptime_core::capture::outcome::{AnyOutcome as _, ResultOutcome as _};
            __laptime_timer.set_ok((&__laptime_result).laptime_ok());
        }
        ::core::mem::drop(__laptime_timer);
        __laptime_result
    }))?;
    Ok(quote!(#func))
}
