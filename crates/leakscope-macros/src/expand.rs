//! What `#[leakscope::test]` expands to: a `#[test]` function that builds the runtime
//! `#[tokio::test]` would and hands it, with the test's body, to `leakscope::testing::LeakCheck`.

use crate::args::{self, Args, Flavor};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

/// The attribute's expansion, or the item with the errors appended (so that an IDE still sees
/// the function).
pub(crate) fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let input: ItemFn = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(err) => return with_error(item, err),
    };
    let checked = args::parse(args).and_then(|args| {
        if input.sig.asyncness.is_none() {
            return Err(syn::Error::new(
                input.sig.fn_token.span(),
                "the `async` keyword is missing from the function declaration",
            ));
        }
        if !input.sig.inputs.is_empty() {
            return Err(syn::Error::new(
                input.sig.inputs.span(),
                "a test function cannot take arguments",
            ));
        }
        if let Some(attr) = input.attrs.iter().find(|a| is_test_attribute(a)) {
            return Err(syn::Error::new(
                attr.span(),
                "a second #[test] attribute would run this test twice; remove it",
            ));
        }
        Ok(args)
    });
    match checked {
        Ok(args) => expand(input, &args),
        Err(err) => with_error(item, err),
    }
}

fn with_error(mut tokens: TokenStream, err: syn::Error) -> TokenStream {
    tokens.extend(err.into_compile_error());
    tokens
}

fn is_test_attribute(attr: &syn::Attribute) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == "test")
        && matches!(attr.meta, syn::Meta::Path(_))
}

fn expand(input: ItemFn, args: &Args) -> TokenStream {
    let ItemFn { attrs, vis, sig, block } = input;
    let name = &sig.ident;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let ret = &sig.output;
    let span = block.span();
    let tokio = match &args.tokio {
        Some(path) => quote!(#path),
        None => quote!(::leakscope::testing::__tokio),
    };

    let mut builder = match args.flavor() {
        Flavor::MultiThread => quote!(#tokio::runtime::Builder::new_multi_thread()),
        Flavor::CurrentThread | Flavor::Local => {
            quote!(#tokio::runtime::Builder::new_current_thread())
        }
    };
    builder = quote!(let mut builder = #builder; builder.enable_all(););
    if let Some(n) = args.worker_threads {
        builder.extend(quote!(builder.worker_threads(#n);));
    }
    if let Some(paused) = args.start_paused {
        builder.extend(quote!(builder.start_paused(#paused);));
    }
    if let Some(shutdown) = args.shutdown_on_panic {
        let behavior = if shutdown { quote!(ShutdownRuntime) } else { quote!(Ignore) };
        builder
            .extend(quote!(builder.unhandled_panic(#tokio::runtime::UnhandledPanic::#behavior);));
    }
    if let Some(runtime_name) = &args.name {
        builder.extend(quote!(builder.name(#runtime_name);));
    }

    let mut check = quote!(::leakscope::testing::LeakCheck::new());
    for glob in &args.ignore_locations {
        check.extend(quote!(.ignore_location(#glob)));
    }
    for glob in &args.ignore_names {
        check.extend(quote!(.ignore_name(#glob)));
    }
    if let Some(nanos) = args.settle {
        check.extend(quote!(.settle(::core::time::Duration::from_nanos(#nanos))));
    }
    if let Some(nanos) = args.quiescence {
        check.extend(quote!(.quiescence(::core::time::Duration::from_nanos(#nanos))));
    }
    let run = match args.flavor() {
        Flavor::Local => quote!(run_local_test),
        Flavor::CurrentThread | Flavor::MultiThread => quote!(run_test),
    };

    quote_spanned! {span=>
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis fn #name() #ret {
            let body = async #block;
            let body = ::core::pin::pin!(body);
            let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #output>> = body;
            #builder
            #check.#run(builder, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `item` under `args`; `expected` are pieces the expansion must contain, in order.
    fn check(args: TokenStream, item: TokenStream, expected: &[&str]) {
        let out = test(args, item).to_string();
        let mut from = 0;
        for piece in expected {
            match out[from..].find(piece) {
                Some(at) => from += at + piece.len(),
                None => panic!("{piece:?} missing (in order) from:\n{out}"),
            }
        }
    }

    #[test]
    fn expands_to_a_test_that_runs_the_check() {
        check(
            quote!(),
            quote!(
                async fn works() {
                    assert!(true);
                }
            ),
            &[
                "# [:: core :: prelude :: v1 :: test]",
                "fn works ()",
                "let body = async {",
                "Output = ()",
                ":: leakscope :: testing :: __tokio :: runtime :: Builder :: new_current_thread ()",
                "builder . enable_all () ;",
                ":: leakscope :: testing :: LeakCheck :: new ()",
                ". run_test (builder , body)",
            ],
        );
        check(
            quote!(flavor = "multi_thread", worker_threads = 3, crate = "tk", settle = "2s"),
            quote!(
                #[should_panic]
                async fn returns() -> Result<(), String> {
                    Ok(())
                }
            ),
            &[
                "# [should_panic]",
                "fn returns () -> Result < () , String >",
                "Output = Result < () , String >",
                "tk :: runtime :: Builder :: new_multi_thread ()",
                "builder . worker_threads (3usize) ;",
                ". settle (:: core :: time :: Duration :: from_nanos (2000000000u64))",
                ". run_test (builder , body)",
            ],
        );
        check(
            quote!(
                flavor = "local",
                start_paused = true,
                ignore_location = "src/bg/**",
                ignore_name = "hb-*",
                quiescence = "10ms"
            ),
            quote!(
                async fn local() {}
            ),
            &[
                "new_current_thread ()",
                "builder . start_paused (true) ;",
                ". ignore_location (\"src/bg/**\")",
                ". ignore_name (\"hb-*\")",
                ". quiescence (:: core :: time :: Duration :: from_nanos (10000000u64))",
                ". run_local_test (builder , body)",
            ],
        );
    }

    #[test]
    fn bad_items_keep_the_item_and_add_the_error() {
        check(
            quote!(),
            quote!(
                fn not_async() {}
            ),
            &["fn not_async", "compile_error", "the `async` keyword is missing"],
        );
        check(
            quote!(),
            quote!(
                async fn takes(x: u32) {}
            ),
            &["compile_error", "a test function cannot take arguments"],
        );
        check(
            quote!(),
            quote!(
                #[test]
                async fn twice() {}
            ),
            &["compile_error", "would run this test twice"],
        );
        check(
            quote!(flavor = "nope"),
            quote!(
                async fn f() {}
            ),
            &["async fn f", "compile_error", "no runtime flavor `nope`"],
        );
    }
}
