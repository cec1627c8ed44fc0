//! `#[leakscope::test]`: `#[tokio::test]` that also fails the test when tasks it spawned are still
//! alive at its end. Use it through the `leakscope` crate, which re-exports it as
//! `leakscope::test` (its crate docs have the examples); the expansion calls
//! `leakscope::testing::LeakCheck`.
//!
//! It takes `#[tokio::test]`'s arguments (`flavor`, `worker_threads`, `start_paused`, `crate`,
//! `unhandled_panic`, `name`) plus leakscope's (`ignore_location`, `ignore_name`, `settle`,
//! `quiescence`); `leakscope::testing` documents what each does.

mod args;
mod expand;

use proc_macro::TokenStream;

/// Marks an `async fn` as a test run on its own tokio runtime, like `#[tokio::test]`, that also
/// fails when tasks it spawned outlive it. See `leakscope::testing` for the arguments.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::test(args.into(), item.into()).into()
}
