//! Addresses to source frames, on the agent's own threads: the return addresses of CPU samples
//! and of captured wait chains (`crate::capture`). Names are written the way task dumps write
//! them (demangled, hash dropped, a bare inlined name qualified by
//! `leakscope_analysis::names::qualify_inlined`), so the analysis reads every source of frames
//! alike.

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) use imp::Symbols;
#[cfg(all(
    tokio_unstable,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub(crate) use imp::{creation_site, release, wait_chain};

#[cfg(all(
    tokio_unstable,
    not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))
))]
pub(crate) fn creation_site(_id: u32) -> Option<u32> {
    None
}

#[cfg(all(
    tokio_unstable,
    not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))
))]
pub(crate) fn wait_chain(_id: u32) -> Option<std::sync::Arc<[leakscope_proto::v1::Frame]>> {
    None
}

#[cfg(all(
    tokio_unstable,
    not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))
))]
pub(crate) fn release() {}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use leakscope_analysis::names::qualify_inlined;
    use leakscope_proto::v1::Frame;
    use std::collections::HashMap;

    /// Frames by address, each address resolved once.
    #[derive(Default)]
    pub(crate) struct Symbols {
        cache: HashMap<usize, Vec<Frame>>,
    }

    impl Symbols {
        /// Frames at the byte before `addr` (a return address: the call, with the functions
        /// inlined there), innermost first; empty when nothing resolves. Bare names take their
        /// crate from the other names at the address, else from their folder
        /// (`leakscope_analysis::names::qualify_inlined`).
        pub(crate) fn at(&mut self, addr: usize) -> Vec<Frame> {
            if let Some(frames) = self.cache.get(&addr) {
                return frames.clone();
            }
            let mut frames = Vec::new();
            // `resolve` looks one byte before the address it is given, as suits return
            // addresses.
            backtrace::resolve(addr as *mut std::ffi::c_void, |symbol| {
                let function = symbol.name().map(|name| format!("{name:#}")).unwrap_or_default();
                let file = symbol.filename().map(|p| p.display().to_string()).unwrap_or_default();
                if function.is_empty() && file.is_empty() {
                    return;
                }
                frames.push(Frame {
                    function,
                    file,
                    line: symbol.lineno().unwrap_or(0),
                    col: symbol.colno().unwrap_or(0),
                });
            });
            qualify_inlined(&mut frames);
            self.cache.insert(addr, frames.clone());
            frames
        }
    }

    #[cfg(tokio_unstable)]
    pub(crate) use chains::{creation_site, release, wait_chain};

    #[cfg(tokio_unstable)]
    mod chains {
        use super::Symbols;
        use leakscope_analysis::names::{is_capture_frame, is_library};
        use leakscope_proto::v1::Frame;
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, PoisonError};

        /// Symbolised chains by id, and the address cache behind them. Only the agent's
        /// threads take this lock.
        static CHAINS: Mutex<Option<Chains>> = Mutex::new(None);

        /// `file` relative to the process's working directory when it lies below it, for a
        /// file tokio has named no site in: debug info names files absolutely, tokio's
        /// `#[track_caller]` locations (like `file!()`) relative to where cargo ran, which is
        /// where `cargo run` runs the app.
        fn relative_to_cwd(file: &str) -> &str {
            let Ok(cwd) = std::env::current_dir() else { return file };
            let Some(cwd) = cwd.to_str() else { return file };
            file.strip_prefix(cwd)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|rest| !rest.is_empty())
                .unwrap_or(file)
        }

        /// The address cache, the chains symbolised so far, and the creation sites found (as
        /// location ids, 0 for none).
        type Chains = (Symbols, HashMap<u32, Arc<[Frame]>>, HashMap<u32, u32>);

        /// The location of the first frame of the app's own code in creation stack `id`
        /// (innermost first): where the app called the tokio code that made a resource; found
        /// once, interned and kept.
        pub(crate) fn creation_site(id: u32) -> Option<u32> {
            let mut guard = CHAINS.lock().unwrap_or_else(PoisonError::into_inner);
            let (symbols, _, sites) = guard.get_or_insert_with(Default::default);
            if let Some(&location) = sites.get(&id) {
                return (location != 0).then_some(location);
            }
            let interner = &crate::registry::get()?.interner;
            let addresses = interner.chain_of(id)?;
            let location = addresses
                .iter()
                .flat_map(|&addr| symbols.at(addr))
                .find(|f| f.line > 0 && !is_library(f))
                .map_or(0, |f| {
                    let file = interner
                        .relative_file_of(&f.file)
                        .unwrap_or_else(|| interner.file(relative_to_cwd(&f.file)));
                    interner.location(file, f.line, f.col)
                });
            sites.insert(id, location);
            PARSED.store(true, std::sync::atomic::Ordering::Relaxed);
            (location != 0).then_some(location)
        }

        /// The frames of wait chain `id`, root first, from the task's outermost future to the
        /// leaf that keeps its waker; symbolised on first use and kept.
        pub(crate) fn wait_chain(id: u32) -> Option<Arc<[Frame]>> {
            let mut guard = CHAINS.lock().unwrap_or_else(PoisonError::into_inner);
            let (symbols, chains, _) = guard.get_or_insert_with(Default::default);
            if let Some(chain) = chains.get(&id) {
                return Some(Arc::clone(chain));
            }
            let addresses = crate::registry::get()?.interner.chain_of(id)?;
            let leaf_first: Vec<Frame> =
                addresses.iter().flat_map(|&addr| symbols.at(addr)).collect();
            let chain: Arc<[Frame]> = await_chain(leaf_first).into();
            chains.insert(id, Arc::clone(&chain));
            PARSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(chain)
        }

        /// Whether debug info was parsed since the last [`release`].
        static PARSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

        /// Gives back what symbolising new chains took: `backtrace` keeps the binary mapped and
        /// its parsed line tables (tens of MB for a large app) until told otherwise, and the
        /// chains are kept symbolised here anyway. Called once a message's chains are built.
        pub(crate) fn release() {
            if PARSED.swap(false, std::sync::atomic::Ordering::Relaxed) {
                backtrace::clear_symbol_cache();
                // glibc keeps freed heap pages for reuse; hand the parser's back to the system.
                #[cfg(target_env = "gnu")]
                // SAFETY: `malloc_trim` only releases free memory; it has no preconditions.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        }

        /// The part of a captured stack (leaf first) that is the task's await chain, root first:
        /// below it, the waker clone and the event dispatch that led to the capture; above it,
        /// tokio's task harness and the worker loop.
        pub(super) fn await_chain(mut leaf_first: Vec<Frame>) -> Vec<Frame> {
            let is_file =
                |frame: &Frame, suffix: &str| frame.file.replace('\\', "/").ends_with(suffix);
            // The capture runs inside tokio's `clone_waker`; everything nearer the leaf is the
            // event's way to the agent.
            let clone = leaf_first.iter().rposition(|f| is_file(f, "runtime/task/waker.rs"));
            match clone {
                Some(at) => drop(leaf_first.drain(..=at)),
                None => {
                    let machinery = leaf_first
                        .iter()
                        .position(|f| !is_capture_frame(&f.function))
                        .unwrap_or(leaf_first.len());
                    leaf_first.drain(..machinery);
                }
            }
            // `Waker::clone` itself is the leaf's doing, not an API the app awaited.
            while leaf_first.first().is_some_and(|f| is_file(f, "task/wake.rs")) {
                leaf_first.remove(0);
            }
            // tokio's task core polls the task's future: what lies above is the runtime. The
            // search starts past the leaf's own frames, which are the task module's too when the
            // task awaits a `JoinHandle`.
            let leaf_end = leaf_first
                .iter()
                .position(|f| !f.file.replace('\\', "/").contains("/runtime/task/"))
                .unwrap_or(leaf_first.len());
            if let Some(harness) = leaf_first[leaf_end..].iter().position(|f| {
                is_file(f, "runtime/task/core.rs") || is_file(f, "runtime/task/harness.rs")
            }) {
                leaf_first.truncate(leaf_end + harness);
            }
            leaf_first.reverse();
            leaf_first
        }

        #[cfg(test)]
        mod tests {
            use super::await_chain;
            use leakscope_proto::v1::Frame;

            fn frame(function: &str, file: &str) -> Frame {
                Frame { function: function.into(), file: file.into(), line: 1, col: 1 }
            }

            #[test]
            fn the_chain_runs_from_the_task_future_to_the_leaf() {
                let t = "/r/tokio-1.54.1/src";
                let leaf_first = vec![
                    frame(
                        "leakscope::subscriber::capture_wait",
                        "/w/crates/leakscope/src/subscriber.rs",
                    ),
                    frame(
                        "tracing_core::dispatcher::Dispatch::event",
                        "/r/tracing-core/src/dispatcher.rs",
                    ),
                    frame(
                        "tokio::runtime::task::waker::clone_waker",
                        &format!("{t}/runtime/task/waker.rs"),
                    ),
                    frame(
                        "<core::task::wake::Waker as Clone>::clone",
                        "/rustc/x/library/core/src/task/wake.rs",
                    ),
                    frame(
                        "tokio::sync::task::atomic_waker::register_by_ref",
                        &format!("{t}/sync/task/atomic_waker.rs"),
                    ),
                    frame("tokio::sync::mpsc::chan::recv", &format!("{t}/sync/mpsc/chan.rs")),
                    frame("app::serve::{async_fn#0}", "/w/app/src/serve.rs"),
                    frame("tokio::runtime::task::core::poll", &format!("{t}/runtime/task/core.rs")),
                    frame(
                        "tokio::runtime::task::harness::poll",
                        &format!("{t}/runtime/task/harness.rs"),
                    ),
                    frame(
                        "tokio::runtime::scheduler::multi_thread::worker::run",
                        &format!("{t}/runtime/scheduler/multi_thread/worker.rs"),
                    ),
                ];
                let names: Vec<String> =
                    await_chain(leaf_first).into_iter().map(|f| f.function).collect();
                assert_eq!(
                    names,
                    [
                        "app::serve::{async_fn#0}",
                        "tokio::sync::mpsc::chan::recv",
                        "tokio::sync::task::atomic_waker::register_by_ref",
                    ]
                );
            }
        }
    }
}
