//! The attribute's arguments: `#[tokio::test]`'s, then leakscope's, checked at compile time.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{Lit, LitStr, Path};

/// How the test's runtime is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
    Local,
}

/// Everything the attribute was given.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) flavor: Option<Flavor>,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) start_paused: Option<bool>,
    /// Path to the tokio crate (`crate = "..."`).
    pub(crate) tokio: Option<Path>,
    pub(crate) shutdown_on_panic: Option<bool>,
    pub(crate) name: Option<String>,
    pub(crate) ignore_locations: Vec<String>,
    pub(crate) ignore_names: Vec<String>,
    /// Nanoseconds.
    pub(crate) settle: Option<u64>,
    /// Nanoseconds.
    pub(crate) quiescence: Option<u64>,
}

impl Args {
    pub(crate) fn flavor(&self) -> Flavor {
        self.flavor.unwrap_or(Flavor::CurrentThread)
    }
}

/// Parses the attribute's argument list.
pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .ok_or_else(|| meta.error("expected a `key = value` argument"))?;
        let value: Lit = meta.value()?.parse()?;
        let span = value.span();
        match key.as_str() {
            "flavor" => set(&mut args.flavor, flavor(&string(&value, &key)?, span)?, &key, span),
            "worker_threads" => {
                let n = int(&value, &key)?;
                if n == 0 {
                    return Err(syn::Error::new(span, "`worker_threads` may not be 0"));
                }
                set(&mut args.worker_threads, n, &key, span)
            }
            "start_paused" => set(&mut args.start_paused, boolean(&value, &key)?, &key, span),
            "crate" => {
                let text = string(&value, &key)?;
                let path = LitStr::new(&text, span).parse::<Path>().map_err(|_| {
                    syn::Error::new(span, format!("failed to parse `crate` as a path: {text:?}"))
                })?;
                set(&mut args.tokio, path, &key, span)
            }
            "unhandled_panic" => {
                let shutdown = match string(&value, &key)?.as_str() {
                    "ignore" => false,
                    "shutdown_runtime" => true,
                    other => {
                        return Err(syn::Error::new(
                            span,
                            format!(
                                "no unhandled panic behavior `{other}`: use `ignore` or `shutdown_runtime`"
                            ),
                        ));
                    }
                };
                set(&mut args.shutdown_on_panic, shutdown, &key, span)
            }
            "name" => set(&mut args.name, string(&value, &key)?, &key, span),
            "ignore_location" => {
                args.ignore_locations.push(non_empty(string(&value, &key)?, &key, span)?);
                Ok(())
            }
            "ignore_name" => {
                args.ignore_names.push(non_empty(string(&value, &key)?, &key, span)?);
                Ok(())
            }
            "settle" => set(&mut args.settle, duration(&string(&value, &key)?, span)?, &key, span),
            "quiescence" => {
                set(&mut args.quiescence, duration(&string(&value, &key)?, span)?, &key, span)
            }
            _ => Err(meta.error(format!(
                "unknown argument `{key}`: expected one of flavor, worker_threads, start_paused, \
                 crate, unhandled_panic, name, ignore_location, ignore_name, settle, quiescence"
            ))),
        }
    });
    parser.parse2(tokens)?;
    check(&args)?;
    Ok(args)
}

/// The combinations tokio rejects, rejected the same way.
fn check(args: &Args) -> syn::Result<()> {
    let site = Span::call_site();
    match args.flavor() {
        Flavor::MultiThread => {
            if args.start_paused.is_some() {
                return Err(syn::Error::new(
                    site,
                    "`start_paused` requires the `current_thread` flavor",
                ));
            }
            if args.shutdown_on_panic.is_some() {
                return Err(syn::Error::new(
                    site,
                    "`unhandled_panic` requires the `current_thread` flavor",
                ));
            }
        }
        Flavor::CurrentThread | Flavor::Local => {
            if args.worker_threads.is_some() {
                return Err(syn::Error::new(
                    site,
                    "`worker_threads` requires the `multi_thread` flavor: \
                     use #[leakscope::test(flavor = \"multi_thread\")]",
                ));
            }
        }
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, value: T, key: &str, span: Span) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{key}` set more than once")));
    }
    *slot = Some(value);
    Ok(())
}

fn string(value: &Lit, key: &str) -> syn::Result<String> {
    match value {
        Lit::Str(s) => Ok(s.value()),
        _ => Err(syn::Error::new(value.span(), format!("`{key}` takes a string"))),
    }
}

fn non_empty(text: String, key: &str, span: Span) -> syn::Result<String> {
    if text.is_empty() {
        return Err(syn::Error::new(span, format!("`{key}` may not be empty")));
    }
    Ok(text)
}

fn int(value: &Lit, key: &str) -> syn::Result<usize> {
    match value {
        Lit::Int(n) => n.base10_parse(),
        _ => Err(syn::Error::new(value.span(), format!("`{key}` takes a whole number"))),
    }
}

fn boolean(value: &Lit, key: &str) -> syn::Result<bool> {
    match value {
        Lit::Bool(b) => Ok(b.value),
        _ => Err(syn::Error::new(value.span(), format!("`{key}` takes `true` or `false`"))),
    }
}

fn flavor(text: &str, span: Span) -> syn::Result<Flavor> {
    match text {
        "current_thread" => Ok(Flavor::CurrentThread),
        "multi_thread" => Ok(Flavor::MultiThread),
        "local" => Ok(Flavor::Local),
        other => Err(syn::Error::new(
            span,
            format!("no runtime flavor `{other}`: use `current_thread`, `multi_thread` or `local`"),
        )),
    }
}

/// `"2s"`, `"250ms"`, `"1.5s"`, `"1m"`, `"500us"` to nanoseconds.
pub(crate) fn duration(text: &str, span: Span) -> syn::Result<u64> {
    let err = |why: &str| syn::Error::new(span, format!("failed to read duration {text:?}: {why}"));
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| err("expected a number, e.g. 2s or 250ms"))?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "" => return Err(err("a unit is needed: ns, us, ms, s or m")),
        _ => return Err(err("unknown unit: use ns, us, ms, s or m")),
    };
    let nanos = number * scale;
    if !nanos.is_finite() || nanos > 3_600e9 {
        return Err(err("at most an hour"));
    }
    Ok(nanos.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// Parses `tokens` and renders what was understood, or the error.
    fn check(tokens: TokenStream, expected: &str) {
        let got = match parse(tokens) {
            Ok(a) => format!(
                "{:?} workers={:?} paused={:?} tokio={} shutdown={:?} name={:?} \
                 ignore_location={:?} ignore_name={:?} settle={:?} quiescence={:?}",
                a.flavor(),
                a.worker_threads,
                a.start_paused,
                a.tokio.as_ref().map_or("-".to_owned(), |p| quote!(#p).to_string()),
                a.shutdown_on_panic,
                a.name,
                a.ignore_locations,
                a.ignore_names,
                a.settle,
                a.quiescence,
            ),
            Err(err) => format!("error: {err}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn tokio_arguments() {
        check(
            quote!(),
            "CurrentThread workers=None paused=None tokio=- shutdown=None name=None \
             ignore_location=[] ignore_name=[] settle=None quiescence=None",
        );
        check(
            quote!(flavor = "multi_thread", worker_threads = 2),
            "MultiThread workers=Some(2) paused=None tokio=- shutdown=None name=None \
             ignore_location=[] ignore_name=[] settle=None quiescence=None",
        );
        check(
            quote!(start_paused = true, crate = "my::tokio", unhandled_panic = "shutdown_runtime"),
            "CurrentThread workers=None paused=Some(true) tokio=my :: tokio shutdown=Some(true) \
             name=None ignore_location=[] ignore_name=[] settle=None quiescence=None",
        );
        check(
            quote!(flavor = "local", name = "rt"),
            "Local workers=None paused=None tokio=- shutdown=None name=Some(\"rt\") \
             ignore_location=[] ignore_name=[] settle=None quiescence=None",
        );
    }

    #[test]
    fn leakscope_arguments() {
        check(
            quote!(
                ignore_location = "src/bg/**",
                ignore_location = "src/metrics.rs:12*",
                ignore_name = "heartbeat-*",
                settle = "2.5s",
                quiescence = "50ms"
            ),
            "CurrentThread workers=None paused=None tokio=- shutdown=None name=None \
             ignore_location=[\"src/bg/**\", \"src/metrics.rs:12*\"] \
             ignore_name=[\"heartbeat-*\"] settle=Some(2500000000) quiescence=Some(50000000)",
        );
    }

    #[test]
    fn mistakes_are_compile_errors() {
        check(
            quote!(flavor = "threaded"),
            "error: no runtime flavor `threaded`: use `current_thread`, `multi_thread` or `local`",
        );
        check(quote!(worker_threads = 0), "error: `worker_threads` may not be 0");
        check(
            quote!(worker_threads = 2),
            "error: `worker_threads` requires the `multi_thread` flavor: use \
             #[leakscope::test(flavor = \"multi_thread\")]",
        );
        check(
            quote!(flavor = "multi_thread", start_paused = true),
            "error: `start_paused` requires the `current_thread` flavor",
        );
        check(
            quote!(settle = "2"),
            "error: failed to read duration \"2\": a unit is needed: ns, us, ms, s or m",
        );
        check(
            quote!(settle = "2 fortnights"),
            "error: failed to read duration \"2 fortnights\": unknown unit: use ns, us, ms, s or m",
        );
        check(quote!(settle = 2), "error: `settle` takes a string");
        check(quote!(settle = "1s", settle = "2s"), "error: `settle` set more than once");
        check(quote!(ignore_name = ""), "error: `ignore_name` may not be empty");
        check(quote!(start_paused = "yes"), "error: `start_paused` takes `true` or `false`");
        check(
            quote!(unhandled_panic = "abort"),
            "error: no unhandled panic behavior `abort`: use `ignore` or `shutdown_runtime`",
        );
        check(
            quote!(leak = true),
            "error: unknown argument `leak`: expected one of flavor, worker_threads, \
             start_paused, crate, unhandled_panic, name, ignore_location, ignore_name, settle, \
             quiescence",
        );
    }

    #[test]
    fn durations() {
        let d = |text: &str| duration(text, Span::call_site()).map_err(|e| e.to_string());
        assert_eq!(d("2s"), Ok(2_000_000_000));
        assert_eq!(d("250ms"), Ok(250_000_000));
        assert_eq!(d("1m"), Ok(60_000_000_000));
        assert_eq!(d("500us"), Ok(500_000));
        assert_eq!(d("0s"), Ok(0));
        assert!(d("2h").is_err());
        assert!(d("ms").is_err());
        assert!(d("90m").is_err());
    }
}
