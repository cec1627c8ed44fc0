//! `leakscope::layer()` in the app's own subscriber: the app's other layers see every span and
//! event they saw without it (the layer's filter is its own, and turns nothing down for them),
//! and the agent records the tasks.
//!
//! One test: the global subscriber can be set once per process.

mod support;

use std::sync::{Arc, Mutex};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The names of the spans and the messages of the events a layer saw.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.0.lock().unwrap().push(format!("span {}", attrs.metadata().name()));
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        self.0.lock().unwrap().push(format!("event {}", support::message(event)));
    }
}

#[test]
fn the_layer_hides_nothing_from_the_apps_other_layers() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    let everything = Recorder::default();
    let info = Recorder::default();
    rt.block_on(async {
        let (layer, agent) = leakscope::Builder::new()
            .bind("127.0.0.1:0".parse().unwrap())
            .try_layer()
            .expect("the agent starts");
        tracing_subscriber::registry()
            .with(layer)
            .with(everything.clone().with_filter(LevelFilter::DEBUG))
            .with(info.clone().with_filter(LevelFilter::INFO))
            .init();

        let span = tracing::debug_span!("request");
        span.in_scope(|| {
            tracing::debug!("a debug line");
            tracing::info!("an info line");
        });
        drop(span);
        assert_eq!(
            everything.take(),
            ["span request", "event a debug line", "event an info line"],
            "a layer at DEBUG must see what it saw without leakscope"
        );
        assert_eq!(info.take(), ["event an info line"]);

        #[cfg(tokio_unstable)]
        agent_sees_a_parked_task(agent.local_addr()).await;
        #[cfg(not(tokio_unstable))]
        let _ = agent;
    });
}

#[cfg(tokio_unstable)]
async fn agent_sees_a_parked_task(addr: std::net::SocketAddr) {
    use leakscope_proto::v1::SnapshotRequest;
    use leakscope_proto::v1::agent_client::AgentClient;
    let parked_line = line!() + 1;
    let parked = tokio::spawn(std::future::pending::<()>());
    tokio::task::yield_now().await;
    let mut client = AgentClient::connect(format!("http://{addr}")).await.unwrap();
    let snap = client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
    let found = snap.tasks.iter().any(|t| {
        t.dropped_nanos == 0
            && t.polls > 0
            && snap.locations.iter().any(|l| {
                l.id == t.location_id && l.line == parked_line && l.file.ends_with("layer.rs")
            })
    });
    assert!(found, "the agent does not list the task spawned at line {parked_line}: {snap:?}");
    parked.abort();
}
