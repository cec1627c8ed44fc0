//! How leakscope names a frame, and what kind of frame it is: the one place for symbol names.
//!
//! Frames reach leakscope from three symbolisers (the agent's wait capture and CPU profiles
//! through `backtrace::resolve`, task dumps through tokio) and are read in four places (the
//! wait-point classifier, the profiles, the agent's endpoints, the terminal UI). They all name
//! frames here, so a frame reads the same everywhere:
//!
//! - The agent sends a name demangled, without its hash, qualified when it is bare
//!   ([`qualify_inlined`]), and *with* its generic arguments: they carry what release builds
//!   lose elsewhere (`poll<tokio::sync::rwlock::{impl#14}::write::{async_fn#0}…>` is how the
//!   wait-point rules tell a `write` from a `read`).
//! - Readers drop the arguments and the hash ([`strip_generics`], [`clean_function`]), and a
//!   finding drops the trailing closure and `async` body segments too ([`short_name`]).
//!
//! Release builds with line tables name functions from their debug info alone: bare (`poll`,
//! `{async_fn#0}`) and with every generic argument spelled out. A bare name is qualified with the
//! crate of its source tree as the other names at the same address tell it (the function it was
//! inlined into, or a future's type in the generic arguments of what polls it), so
//! `my_server::connection` whatever folder it was built in; else with the crate its folder names
//! (`tokio-1.54.1` is `tokio`, which is right for the registry's crates); then the module path of
//! its file.

use leakscope_proto::v1::{Frame, TaskState};

/// Crates whose frames are machinery, not the app: the first frame from the leaf side outside
/// these is the user frame. `leakscope` is the agent itself; `backtrace` and `tracing` wrap
/// futures without being what the app awaited.
const LIBRARY_CRATES: &[&str] = &[
    "tokio",
    "tokio_util",
    "tokio_stream",
    "std",
    "core",
    "alloc",
    "futures",
    "futures_util",
    "futures_core",
    "futures_channel",
    "futures_executor",
    "futures_task",
    "futures_lite",
    "pin_project_lite",
    "tracing",
    "tracing_core",
    "tracing_futures",
    "backtrace",
    "leakscope",
];

/// Drops the `::h0123456789abcdef` hash rustc appends to legacy-mangled names.
pub fn strip_hash(name: &str) -> &str {
    match name.rfind("::h") {
        Some(at)
            if name.len() - at == 19 && name[at + 3..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            &name[..at]
        }
        _ => name,
    }
}

/// Drops generic arguments that follow a name (`Sender<T>::send` → `Sender::send`,
/// `{async_fn#0}<T>` → `{async_fn#0}`) and a trailing symbol hash; keeps `<X as Trait>`
/// qualifications.
pub fn strip_generics(function: &str) -> String {
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
        } else if c == '<' && previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '}')
        {
            // After a name, or after an inlined frame's `{async_block#0}`.
            depth = 1;
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    let kept = strip_hash(&out).len();
    out.truncate(kept);
    out
}

/// Drops trailing closure and async-body segments: `::{{closure}}` (legacy symbol names) and
/// `::{closure#0}`, `::{async_fn#0}`, `::{async_block#1}` (v0 names of inlined frames).
pub fn trim_closures(function: &str) -> &str {
    let mut s = function;
    loop {
        if let Some(rest) = s.strip_suffix("::{{closure}}") {
            s = rest;
            continue;
        }
        // A bare generated name (`{async_block#0}`, as line tables give an inlined body) is
        // all segment.
        let (at, segment) = match s.rfind("::{") {
            Some(at) => (at, &s[at + 3..]),
            None if s.starts_with('{') => (0, &s[1..]),
            None => return s,
        };
        let generated = ["closure#", "async_fn#", "async_block#"].iter().any(|kind| {
            segment
                .strip_prefix(kind)
                .and_then(|n| n.strip_suffix('}'))
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        });
        if !generated {
            return s;
        }
        s = &s[..at];
    }
}

/// A function as findings show it: generic arguments, hash and trailing closure and async-body
/// segments dropped (`app::worker::run::{{closure}}::{{closure}}` → `app::worker::run`).
pub fn short_name(function: &str) -> String {
    trim_closures(&strip_generics(function)).to_owned()
}

/// A function as profiles and the wait-point rules read it: generic arguments and hash dropped,
/// a bare name qualified from its file (see [`qualify`]).
pub fn clean_function(function: &str, file: &str) -> String {
    qualify(strip_generics(function), file)
}

/// Prefixes a bare name with the module path its file implies: the crate its folder names
/// (registry checkouts carry a version, `tokio-1.54.1`) and the path under `src/`. `poll` in
/// `…/tokio-1.54.1/src/sync/batch_semaphore.rs` becomes `tokio::sync::batch_semaphore::poll`.
/// A name that is already a path (outside its generic arguments), or a file outside a `src/`
/// tree, is left as it is. When the frame was inlined into a known function, prefer
/// [`qualify_inlined`]: the folder is not always the crate's name.
pub fn qualify(function: String, file: &str) -> String {
    qualify_in(function, file, None)
}

/// Qualifies the bare names among the frames resolved at one address, innermost first as
/// `backtrace::resolve` and tokio's dump give them, the last being the function the others were
/// inlined into. Generic arguments are kept.
///
/// A bare name takes the crate of its source tree as the names at this address tell it, else the
/// crate its folder names, as [`qualify`] does. The names tell it in two ways. The function the
/// others were inlined into, when its name is a path (full debug info), gives its crate to the
/// frames of its own tree: `{async_fn#0}` in `/work/app/src/connection.rs`, inlined into
/// `my_server::connection::handle`, is `my_server::connection::{async_fn#0}`. With line tables
/// only every name is bare, but the type of a future still carries its path in the generic
/// arguments of what polls it: next to `{async_fn#0}` in `src/connection.rs`,
/// `poll<my_server::connection::handle::{async_fn_env#0}>` says that tree is `my_server`'s.
pub fn qualify_inlined(frames: &mut [Frame]) {
    let Some(outer) = frames.last() else { return };
    // The crate of each source tree at this address, as far as the names say.
    let mut crates: Vec<(String, String)> = Vec::new();
    let outer_crate =
        Some(outer.function.as_str()).filter(|f| !f.starts_with('<')).and_then(|f| crate_name(f));
    if let (Some(krate), Some((tree, _))) = (outer_crate, source_file(&outer.file)) {
        crates.push((tree.to_owned(), krate.to_owned()));
    }
    for frame in frames.iter() {
        let Some((tree, module)) = source_file(&frame.file) else { continue };
        if crates.iter().any(|(known, _)| known == tree) {
            continue;
        }
        let Some(generated) = generated_name(&frame.function) else { continue };
        let module = module_path(module);
        if let Some(krate) = frames.iter().find_map(|f| env_crate(&f.function, generated, &module))
        {
            crates.push((tree.to_owned(), krate.to_owned()));
        }
    }
    for frame in frames.iter_mut() {
        let known = source_file(&frame.file)
            .and_then(|(tree, _)| crates.iter().find(|(known, _)| known == tree))
            .map(|(_, krate)| krate.as_str());
        frame.function = qualify_in(std::mem::take(&mut frame.function), &frame.file, known);
    }
}

/// The kind and number of a bare generated name: `{async_fn#0}<T>` → (`async_fn`, `0`).
fn generated_name(function: &str) -> Option<(&str, &str)> {
    let name = function.split('<').next()?;
    let (kind, number) = name.strip_prefix('{')?.strip_suffix('}')?.split_once('#')?;
    let known = ["closure", "async_fn", "async_block"].contains(&kind);
    (known && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .then_some((kind, number))
}

/// The crate of a future's type named in `function` (its generic arguments, usually) whose
/// environment is the generated body `(kind, number)` of a function in module `module`:
/// `my_server` from `poll<my_server::connection::handle::{async_fn_env#0}>` for (`async_fn`,
/// `0`) in `connection`.
fn env_crate<'a>(
    function: &'a str,
    (kind, number): (&str, &str),
    module: &[&str],
) -> Option<&'a str> {
    let needle = format!("::{{{kind}_env#{number}}}");
    function.match_indices(&needle).find_map(|(at, _)| {
        let start = function[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | ':' | '{' | '}' | '#')))
            .map_or(0, |i| i + 1);
        let mut segments: Vec<&str> = function[start..at].split("::").collect();
        // Generated segments the body sits in (`f::{closure#0}::{async_block_env#0}`), the
        // function, then the `impl` blocks it is a method of.
        while segments.last().is_some_and(|s| s.starts_with('{')) {
            segments.pop();
        }
        segments.pop()?;
        while segments.last().is_some_and(|s| s.starts_with("{impl#")) {
            segments.pop();
        }
        let (&krate, modules) = segments.split_first()?;
        let is_crate = !krate.is_empty() && krate.chars().all(|c| c.is_alphanumeric() || c == '_');
        (is_crate && modules == module).then_some(krate)
    })
}

/// The module path a file under `src/` implies: `sync/mpsc/mod.rs` → `sync::mpsc`.
fn module_path(file: &str) -> Vec<&str> {
    let module = file.strip_suffix(".rs").unwrap_or(file);
    module.split(['/', '\\']).filter(|m| !matches!(*m, "mod" | "lib" | "main" | "")).collect()
}

/// [`qualify`] with the crate given, or taken from the folder when `krate` is `None`.
fn qualify_in(function: String, file: &str, krate: Option<&str>) -> String {
    if function.is_empty() || strip_generics(&function).contains("::") {
        return function;
    }
    let Some((tree, module)) = source_file(file) else { return function };
    let krate = match krate {
        Some(krate) => krate.to_owned(),
        None => {
            let folder = tree.rsplit(['/', '\\']).next().unwrap_or_default();
            let folder = match folder.rfind('-') {
                Some(at) if folder[at + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    &folder[..at]
                }
                _ => folder,
            };
            folder.replace('-', "_")
        }
    };
    if krate.is_empty() {
        return function;
    }
    let mut path = vec![krate.as_str()];
    path.extend(module_path(module));
    path.push(&function);
    path.join("::")
}

/// A file's source tree (the crate folder holding `src/`) and its path under `src/`:
/// `…/tokio-1.54.1/src/sync/mpsc/chan.rs` → (`…/tokio-1.54.1`, `sync/mpsc/chan.rs`).
fn source_file(file: &str) -> Option<(&str, &str)> {
    let at = file.rfind("/src/").or_else(|| file.rfind("\\src\\"))?;
    Some((&file[..at], &file[at + "/src/".len()..]))
}

/// The crate a function path starts with: `tokio` for `tokio::sync::...`, `core` for
/// `<core::pin::Pin<P> as core::future::Future>::poll`, `None` for `<F as Future>::poll` and
/// for a bare name.
pub fn crate_name(function: &str) -> Option<&str> {
    let mut s = function.trim_start_matches(['<', '&', '*', '(', ' ']);
    for prefix in ["mut ", "const ", "dyn "] {
        s = s.strip_prefix(prefix).unwrap_or(s);
    }
    let name = &s[..s.find("::")?];
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}

/// Whether a frame is machinery rather than the app's code: tokio, std, futures, tracing, the
/// agent; a generic wrapper (`<F as Future>::poll`); or a frame without a path whose file is
/// not in the app's tree.
pub fn is_library(frame: &Frame) -> bool {
    let function = strip_generics(&frame.function);
    match crate_name(&function) {
        Some(name) => LIBRARY_CRATES.contains(&name),
        // A generic wrapper (`<F as Future>::poll`): not the app's code as far as anyone can
        // tell.
        None if function.starts_with('<') => true,
        // A frame named from line tables alone (`{async_block#0}`, `poll`) or without a symbol:
        // the app's when its file sits in the app's tree.
        None => !is_app_file(&frame.file),
    }
}

/// Whether a file path looks like the app's source rather than a dependency or the standard
/// library.
pub fn is_app_file(file: &str) -> bool {
    !file.is_empty()
        && !file.contains("/.cargo/registry/")
        && !file.contains("/.cargo/git/")
        && !file.starts_with("/rustc/")
        && !file.contains("/rustlib/")
}

/// Frames between a worker thread and a task's future: tokio's scheduler and task harness, and
/// the std and core glue that calls them; unnamed frames too.
pub fn is_runtime_frame(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    function.is_empty()
        || ["tokio::runtime::", "tokio::task::", "std::", "core::", "alloc::", "__rust"]
            .iter()
            .any(|prefix| f.starts_with(prefix))
}

/// Frames of the capture itself, at the leaf end of a captured stack: the `backtrace` crate,
/// tokio's task-dump tracer, the agent's wait capture and the `tracing` dispatch that calls it;
/// unnamed frames too.
pub fn is_capture_frame(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    function.is_empty()
        || [
            "backtrace::",
            "tokio::runtime::task::trace::",
            "leakscope::",
            "tracing::",
            "tracing_core::",
        ]
        .iter()
        .any(|prefix| f.starts_with(prefix))
}

/// How long a task has been idle: the time since its last poll ended (or since it was spawned,
/// if never polled) when it is idle, 0 in any other state. `now` is on the agent's clock.
pub fn idle_nanos(now: u64, task: &crate::TaskRecord) -> u64 {
    if task.state == TaskState::Idle as i32 {
        now.saturating_sub(task.last_poll_end_nanos.max(task.created_nanos))
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Frame, Task, TaskState};

    use super::{
        clean_function, idle_nanos, is_capture_frame, is_library, is_runtime_frame,
        qualify_inlined, short_name, strip_hash,
    };

    const TOKIO: &str =
        "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src";

    /// `input` is the frames resolved at one address, innermost first, one `function @ file` a
    /// line (`@ file` may be left out). Each frame gives one line of `expected`: the name the
    /// agent sends (hash dropped, bare names qualified, generic arguments kept), the name
    /// profiles show ([`clean_function`]), the name findings show ([`short_name`]), each `-` when
    /// empty, and what it is: `app` or `library`, then `runtime` and `capture` when it is those.
    fn check(input: &str, expected: &str) {
        let mut frames: Vec<Frame> = input
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (function, file) = line.split_once('@').unwrap_or((line, ""));
                Frame {
                    function: strip_hash(function.trim()).to_owned(),
                    file: file.trim().replace("$TOKIO", TOKIO),
                    ..Frame::default()
                }
            })
            .collect();
        qualify_inlined(&mut frames);
        let shown = |name: &str| if name.is_empty() { "-".to_owned() } else { name.to_owned() };
        let actual: Vec<String> = frames
            .iter()
            .map(|frame| {
                let mut kind = vec![if is_library(frame) { "library" } else { "app" }];
                if is_runtime_frame(&frame.function) {
                    kind.push("runtime");
                }
                if is_capture_frame(&frame.function) {
                    kind.push("capture");
                }
                format!(
                    "{} | {} | {} | {}",
                    shown(&frame.function),
                    shown(&clean_function(&frame.function, &frame.file)),
                    shown(&short_name(&frame.function)),
                    kind.join(" ")
                )
            })
            .collect();
        let expected: Vec<&str> =
            expected.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
        assert_eq!(actual, expected, "names of\n{input}");
    }

    #[test]
    fn generic_arguments_and_hashes_are_dropped() {
        check(
            "poll<tracing::instrument::Instrumented<tokio::runtime::task::trace::Root<x::{async_fn_env#0}>>, alloc::sync::Arc<h::Handle, alloc::alloc::Global>> @ $TOKIO/runtime/task/harness.rs",
            "tokio::runtime::task::harness::poll<tracing::instrument::Instrumented<tokio::runtime::task::trace::Root<x::{async_fn_env#0}>>, alloc::sync::Arc<h::Handle, alloc::alloc::Global>> | tokio::runtime::task::harness::poll | tokio::runtime::task::harness::poll | library runtime",
        );
        check(
            "call_once<fn() -> u64, ()>",
            "call_once<fn() -> u64, ()> | call_once | call_once | library",
        );
        check(
            "<alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output = ()> + core::marker::Send> as core::ops::function::FnOnce<()>>::call_once @ /rustc/abc/library/alloc/src/boxed.rs",
            "<alloc::boxed::Box<dyn core::ops::function::FnOnce<(), Output = ()> + core::marker::Send> as core::ops::function::FnOnce<()>>::call_once | <alloc::boxed::Box as core::ops::function::FnOnce>::call_once | <alloc::boxed::Box as core::ops::function::FnOnce>::call_once | library runtime",
        );
        check(
            "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}",
            "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}} | tokio::sync::mpsc::bounded::Sender::send::{{closure}} | tokio::sync::mpsc::bounded::Sender::send | library",
        );
        check(
            "tokio::sync::notify::Notified::poll_notified::h0123456789abcdef",
            "tokio::sync::notify::Notified::poll_notified | tokio::sync::notify::Notified::poll_notified | tokio::sync::notify::Notified::poll_notified | library",
        );
        check(
            "tokio::sync::mutex::Mutex<T>::lock::h0123456789abcdef",
            "tokio::sync::mutex::Mutex<T>::lock | tokio::sync::mutex::Mutex::lock | tokio::sync::mutex::Mutex::lock | library",
        );
        // Not a hash: too short.
        check("a::hash", "a::hash | a::hash | a::hash | app");
    }

    #[test]
    fn closures_and_async_bodies_are_trimmed_for_findings() {
        check(
            "app::handler::{{closure}} @ src/handler.rs",
            "app::handler::{{closure}} | app::handler::{{closure}} | app::handler | app",
        );
        check(
            "app::worker::run::{{closure}}::{{closure}} @ src/worker.rs",
            "app::worker::run::{{closure}}::{{closure}} | app::worker::run::{{closure}}::{{closure}} | app::worker::run | app",
        );
        check(
            "zoo::send_blocked::producer::{closure#0}::{async_block#1}",
            "zoo::send_blocked::producer::{closure#0}::{async_block#1} | zoo::send_blocked::producer::{closure#0}::{async_block#1} | zoo::send_blocked::producer | app",
        );
        // Without a path or a `src/` tree: a bare generated name is all segment.
        check("{async_block#0} @ build.rs", "{async_block#0} | {async_block#0} | - | app");
        check(
            "<app::Forever as core::future::future::Future>::poll @ src/forever.rs",
            "<app::Forever as core::future::future::Future>::poll | <app::Forever as core::future::future::Future>::poll | <app::Forever as core::future::future::Future>::poll | app",
        );
    }

    #[test]
    fn bare_names_are_qualified_from_their_folder() {
        check(
            "poll @ $TOKIO/sync/batch_semaphore.rs",
            "tokio::sync::batch_semaphore::poll | tokio::sync::batch_semaphore::poll | tokio::sync::batch_semaphore::poll | library",
        );
        check(
            "recv<u32, tokio::sync::mpsc::bounded::Semaphore> @ $TOKIO/sync/mpsc/chan.rs",
            "tokio::sync::mpsc::chan::recv<u32, tokio::sync::mpsc::bounded::Semaphore> | tokio::sync::mpsc::chan::recv | tokio::sync::mpsc::chan::recv | library",
        );
        check(
            "{async_block#0}<std::collections::hash::map::HashMap<u64, u64>> @ $TOKIO/sync/mutex.rs",
            "tokio::sync::mutex::{async_block#0}<std::collections::hash::map::HashMap<u64, u64>> | tokio::sync::mutex::{async_block#0} | tokio::sync::mutex | library",
        );
        check(
            "poll @ /rustc/abc/library/core/src/future/mod.rs",
            "core::future::poll | core::future::poll | core::future::poll | library runtime",
        );
        check(
            "burn_cpu @ crates/leakscope-zoo/src/scenarios/blocking_in_async.rs",
            "leakscope_zoo::scenarios::blocking_in_async::burn_cpu | leakscope_zoo::scenarios::blocking_in_async::burn_cpu | leakscope_zoo::scenarios::blocking_in_async::burn_cpu | app",
        );
        check(
            "publish @ crates/leakscope-zoo/src/scenarios/send_blocked.rs",
            "leakscope_zoo::scenarios::send_blocked::publish | leakscope_zoo::scenarios::send_blocked::publish | leakscope_zoo::scenarios::send_blocked::publish | app",
        );
        check(
            "recv<u64> @ /r/.cargo/registry/src/x/tokio-util-0.7.20/src/sync/mpsc/chan.rs",
            "tokio_util::sync::mpsc::chan::recv<u64> | tokio_util::sync::mpsc::chan::recv | tokio_util::sync::mpsc::chan::recv | library",
        );
        check(
            "main @ C:\\w\\app\\src\\bin\\tool.rs",
            "app::bin::tool::main | app::bin::tool::main | app::bin::tool::main | app",
        );
        check("main @ /work/app/src/main.rs", "app::main | app::main | app::main | app");
        // Paths, files outside a `src/` tree and an unnamed folder are left as they are.
        check(
            "std::thread::sleep @ x/src/y.rs",
            "std::thread::sleep | std::thread::sleep | std::thread::sleep | library runtime",
        );
        check(
            "tokio::sync::Notify::notified @ x/src/y.rs",
            "tokio::sync::Notify::notified | tokio::sync::Notify::notified | tokio::sync::Notify::notified | library",
        );
        check("main", "main | main | main | library");
        check("poll", "poll | poll | poll | library");
        check("f @ /src/lib.rs", "f | f | f | app");
        check("f @ src/lib.rs", "f | f | f | app");
    }

    /// `backtrace::resolve` gives an address's inlined frames innermost first, the last being the
    /// function they were inlined into, with its full path: its crate names the inlined frames of
    /// its own source tree, whatever the folder is called.
    #[test]
    fn bare_inlined_names_take_the_crate_of_their_function() {
        check(
            "{async_fn#0} @ /work/app/src/connection.rs
             my_server::connection::handle::{{closure}} @ /work/app/src/connection.rs",
            "my_server::connection::{async_fn#0} | my_server::connection::{async_fn#0} | my_server::connection | app
             my_server::connection::handle::{{closure}} | my_server::connection::handle::{{closure}} | my_server::connection::handle | app",
        );
        // Another file of the same tree: the crate is the function's, the module the file's.
        check(
            "{closure#0}<u8> @ /work/app/src/proto/frame.rs
             my_server::connection::handle @ /work/app/src/connection.rs",
            "my_server::proto::frame::{closure#0}<u8> | my_server::proto::frame::{closure#0} | my_server::proto::frame | app
             my_server::connection::handle | my_server::connection::handle | my_server::connection::handle | app",
        );
        // tokio inlined into the app, and the app inlined into tokio: each keeps its own crate.
        check(
            "poll @ $TOKIO/sync/batch_semaphore.rs
             {async_block#3} @ /work/app/src/main.rs
             tokio::runtime::task::core::Core<T,S>::poll @ $TOKIO/runtime/task/core.rs",
            "tokio::sync::batch_semaphore::poll | tokio::sync::batch_semaphore::poll | tokio::sync::batch_semaphore::poll | library
             app::{async_block#3} | app::{async_block#3} | app | app
             tokio::runtime::task::core::Core<T,S>::poll | tokio::runtime::task::core::Core::poll | tokio::runtime::task::core::Core::poll | library runtime",
        );
        // Line tables only: every name is bare, and the future's type in what polls it names
        // the crate of the `async fn` in its module (as a real capture of a crate `my_server`
        // built in `/work/app` gives it), then of the rest of its tree.
        check(
            "{async_block#0} @ /work/app/src/connection.rs
             {async_fn#0} @ /work/app/src/connection.rs
             poll<my_server::connection::handle::{async_fn_env#0}> @ $TOKIO/runtime/task/trace/mod.rs
             poll<tokio::runtime::task::trace::Root<my_server::connection::handle::{async_fn_env#0}>> @ /r/tracing-0.1.44/src/instrument.rs",
            "my_server::connection::{async_block#0} | my_server::connection::{async_block#0} | my_server::connection | app
             my_server::connection::{async_fn#0} | my_server::connection::{async_fn#0} | my_server::connection | app
             tokio::runtime::task::trace::poll<my_server::connection::handle::{async_fn_env#0}> | tokio::runtime::task::trace::poll | tokio::runtime::task::trace::poll | library runtime capture
             tracing::instrument::poll<tokio::runtime::task::trace::Root<my_server::connection::handle::{async_fn_env#0}>> | tracing::instrument::poll | tracing::instrument::poll | library capture",
        );
        // Methods and nested bodies: `impl` blocks and generated segments are not modules.
        check(
            "{async_block#2} @ /work/app/src/net/conn.rs
             poll<my_server::net::conn::{impl#3}::run::{closure#0}::{async_block_env#2}> @ /work/app/src/net/conn.rs",
            "my_server::net::conn::{async_block#2} | my_server::net::conn::{async_block#2} | my_server::net::conn | app
             my_server::net::conn::poll<my_server::net::conn::{impl#3}::run::{closure#0}::{async_block_env#2}> | my_server::net::conn::poll | my_server::net::conn::poll | app",
        );
        // A future of another module, or of another body, says nothing about this one.
        check(
            "{async_fn#0} @ /work/app/src/serve.rs
             {async_fn#1} @ /work/app/src/connection.rs
             poll<my_server::connection::handle::{async_fn_env#0}> @ $TOKIO/runtime/task/trace/mod.rs",
            "app::serve::{async_fn#0} | app::serve::{async_fn#0} | app::serve | app
             app::connection::{async_fn#1} | app::connection::{async_fn#1} | app::connection | app
             tokio::runtime::task::trace::poll<my_server::connection::handle::{async_fn_env#0}> | tokio::runtime::task::trace::poll | tokio::runtime::task::trace::poll | library runtime capture",
        );
        // A trait impl says nothing sure about its crate; an unnamed function says nothing.
        check(
            "{async_fn#0} @ /work/app/src/serve.rs
             <tokio::sync::Mutex<T> as my_server::Lock>::lock @ /work/app/src/serve.rs",
            "app::serve::{async_fn#0} | app::serve::{async_fn#0} | app::serve | app
             <tokio::sync::Mutex<T> as my_server::Lock>::lock | <tokio::sync::Mutex as my_server::Lock>::lock | <tokio::sync::Mutex as my_server::Lock>::lock | library",
        );
        check(
            "{async_fn#0} @ /work/app/src/serve.rs
             @ /work/app/src/serve.rs",
            "app::serve::{async_fn#0} | app::serve::{async_fn#0} | app::serve | app
             - | - | - | app runtime capture",
        );
    }

    #[test]
    fn machinery_frames() {
        check(
            "tokio::runtime::task::trace::trace_leaf",
            "tokio::runtime::task::trace::trace_leaf | tokio::runtime::task::trace::trace_leaf | tokio::runtime::task::trace::trace_leaf | library runtime capture",
        );
        check(
            "backtrace::backtrace::trace",
            "backtrace::backtrace::trace | backtrace::backtrace::trace | backtrace::backtrace::trace | library capture",
        );
        check(
            "leakscope::subscriber::capture_wait @ /w/crates/leakscope/src/subscriber.rs",
            "leakscope::subscriber::capture_wait | leakscope::subscriber::capture_wait | leakscope::subscriber::capture_wait | library capture",
        );
        check(
            "tracing_core::dispatcher::Dispatch::event",
            "tracing_core::dispatcher::Dispatch::event | tracing_core::dispatcher::Dispatch::event | tracing_core::dispatcher::Dispatch::event | library capture",
        );
        check(
            "tokio::sync::mpsc::chan::Rx<T,S>::recv",
            "tokio::sync::mpsc::chan::Rx<T,S>::recv | tokio::sync::mpsc::chan::Rx::recv | tokio::sync::mpsc::chan::Rx::recv | library",
        );
        check(
            "<core::pin::Pin<P> as core::future::future::Future>::poll",
            "<core::pin::Pin<P> as core::future::future::Future>::poll | <core::pin::Pin as core::future::future::Future>::poll | <core::pin::Pin as core::future::future::Future>::poll | library runtime",
        );
        check(
            "<&mut F as core::future::future::Future>::poll",
            "<&mut F as core::future::future::Future>::poll | <&mut F as core::future::future::Future>::poll | <&mut F as core::future::future::Future>::poll | library",
        );
        // Frames without a symbol: a registry path is machinery, an app path is the app's.
        check("@ /home/u/.cargo/registry/src/x/lib.rs", "- | - | - | library runtime capture");
        check("@ src/lib.rs", "- | - | - | app runtime capture");
    }

    #[test]
    fn idle_time_counts_only_idle_tasks() {
        let check = |state: TaskState, created: u64, last_poll_end: u64, expected: u64| {
            let task = Task {
                state: state as i32,
                created_nanos: created,
                last_poll_end_nanos: last_poll_end,
                ..Task::default()
            };
            let task = crate::TaskRecord::from(task);
            assert_eq!(idle_nanos(100, &task), expected, "{state:?} {created} {last_poll_end}");
        };
        check(TaskState::Idle, 10, 40, 60);
        check(TaskState::Idle, 10, 0, 90);
        check(TaskState::Idle, 10, 140, 0);
        check(TaskState::Running, 10, 40, 0);
        check(TaskState::Scheduled, 10, 40, 0);
        check(TaskState::Done, 10, 40, 0);
    }
}
