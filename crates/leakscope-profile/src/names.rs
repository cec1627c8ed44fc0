//! Function names as profiles show them. Release builds with line tables name functions from
//! their debug info: bare (`poll`, `{closure#0}`) and with every generic argument spelled out
//! (`poll<tracing::instrument::Instrumented<tokio::runtime::task::trace::Root<..>>, ..>`), which
//! makes an async stack unreadable. [`clean_function`] drops the arguments and qualifies a bare
//! name from its file, as task dumps do.

/// `poll<Instrumented<..>>` in `.../tokio-1.54.1/src/runtime/task/harness.rs` becomes
/// `tokio::runtime::task::harness::poll`; `<Box<dyn FnOnce()> as FnOnce<()>>::call_once` becomes
/// `<Box as FnOnce>::call_once`; a name that is already a path only loses its arguments.
pub fn clean_function(function: &str, file: &str) -> String {
    qualify(without_generics(function), file)
}

/// Drops generic arguments that follow a name; keeps `<X as Trait>` qualifications.
fn without_generics(function: &str) -> String {
    let mut out = String::with_capacity(function.len());
    let mut depth = 0_usize;
    let mut previous: Option<char> = None;
    for c in function.chars() {
        if depth > 0 {
            match c {
                '<' => depth += 1,
                // `->` in `fn() -> T` closes nothing.
                '>' if previous != Some('-') => depth -= 1,
                _ => {}
            }
            previous = Some(c);
            continue;
        }
        if c == '<' && previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '}') {
            depth = 1;
            previous = Some(c);
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// Prefixes a bare name with the module path its file implies: the crate directory (registry
/// checkouts carry a version, `tokio-1.54.1`) and the path under `src/`. Release builds with line
/// tables name inlined functions only by their bare name (`poll`, `recv`), so `poll` in
/// `.../tokio-1.54.1/src/sync/batch_semaphore.rs` becomes `tokio::sync::batch_semaphore::poll`.
/// A name that is already a path, or a file outside a `src/` tree, is left as it is.
pub fn qualify(function: String, file: &str) -> String {
    if function.is_empty() || function.contains("::") {
        return function;
    }
    let Some((before, after)) = file.rsplit_once("/src/") else { return function };
    let krate = before.rsplit('/').next().unwrap_or_default();
    let krate = match krate.rfind('-') {
        Some(at) if krate[at + 1..].starts_with(|c: char| c.is_ascii_digit()) => &krate[..at],
        _ => krate,
    };
    if krate.is_empty() {
        return function;
    }
    let mut path = vec![krate.replace('-', "_")];
    let module = after.strip_suffix(".rs").unwrap_or(after);
    path.extend(
        module.split('/').filter(|m| !matches!(*m, "mod" | "lib" | "main")).map(str::to_owned),
    );
    path.push(function);
    path.join("::")
}

#[cfg(test)]
mod tests {
    use super::clean_function;

    const TOKIO: &str =
        "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src";

    fn check(function: &str, file: &str, expected: &str) {
        assert_eq!(clean_function(function, file), expected, "{function} in {file}");
    }

    #[test]
    fn generic_arguments_are_dropped() {
        check(
            "poll<tracing::instrument::Instrumented<tokio::runtime::task::trace::Root<x::{async_fn_env#0}>>, alloc::sync::Arc<h::Handle, alloc::alloc::Global>>",
            &format!("{TOKIO}/runtime/task/harness.rs"),
            "tokio::runtime::task::harness::poll",
        );
        check("call_once<fn() -> u64, ()>", "", "call_once");
        check(
            "<alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output = ()> + core::marker::Send> as core::ops::function::FnOnce<()>>::call_once",
            "/rustc/abc/library/alloc/src/boxed.rs",
            "<alloc::boxed::Box as core::ops::function::FnOnce>::call_once",
        );
        check(
            "{async_block#0}<std::collections::hash::map::HashMap<u64, u64>>",
            &format!("{TOKIO}/sync/mutex.rs"),
            "tokio::sync::mutex::{async_block#0}",
        );
        check("app::handler::{{closure}}", "src/handler.rs", "app::handler::{{closure}}");
        check(
            "tokio::sync::mpsc::bounded::Sender<T>::send",
            "",
            "tokio::sync::mpsc::bounded::Sender::send",
        );
    }

    #[test]
    fn bare_names_are_qualified_from_their_file() {
        check(
            "burn_cpu",
            "crates/leakscope-zoo/src/scenarios/blocking_in_async.rs",
            "leakscope_zoo::scenarios::blocking_in_async::burn_cpu",
        );
        check("main", "/work/app/src/main.rs", "app::main");
        check("std::thread::sleep", "x/src/y.rs", "std::thread::sleep");
        check("main", "", "main");
        check("f", "/src/lib.rs", "f");
    }
}
