//! A tokio app that links only console-subscriber (tokio-console's instrumentation), not
//! leakscope, with a few known leaks, for the end-to-end tests of `leakscope snapshot`'s console
//! path. It serves console-api on a free loopback port and prints
//! `console-app: addr=IP:PORT` as its first stdout line; it exits after `--duration SECS`
//! (default 120) or when killed.
//!
//! Each leak's spawn line carries a `// console-app:<kind> <what>` marker the tests look up.

use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_stream::wrappers::TcpListenerStream;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Returns `Pending` without keeping the waker: nothing can wake its task again.
struct ForgetsWaker;

impl Future for ForgetsWaker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[tokio::main]
async fn main() {
    let duration = leakscope_tests::duration_arg(120);
    let (layer, server) = console_subscriber::ConsoleLayer::builder()
        .publish_interval(Duration::from_millis(250))
        .build();
    tracing_subscriber::registry().with(layer).init();
    let parts = server.into_parts();
    tokio::spawn(parts.aggregator.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(parts.instrument_server)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    // A oneshot whose sender is kept and never used: its receiver waits for ever.
    let (_never_sent, receiver) = tokio::sync::oneshot::channel::<u64>();
    tokio::spawn(receiver); // console-app:spawn oneshot

    // A mutex whose holder never lets go: its waiters queue for ever.
    let cache = Arc::new(tokio::sync::Mutex::new(0_u64));
    let held = cache.clone().lock_owned().await;
    tokio::spawn(async move {
        let _held = held;
        std::future::pending::<()>().await;
    });
    for _ in 0..3 {
        let cache = cache.clone();
        tokio::spawn(async move { *cache.lock().await += 1 }); // console-app:spawn mutex
    }

    println!("console-app: addr={addr}");
    let _ = std::io::stdout().flush();

    // One forgetful task every 100 ms: lost wakers, and a live count that grows.
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let stop = tokio::time::sleep(Duration::from_secs(duration));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => {
                tokio::spawn(ForgetsWaker); // console-app:spawn lost-waker
            }
        }
    }
}
