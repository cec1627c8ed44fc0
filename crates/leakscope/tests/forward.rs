//! `Builder::forward_to`: the app's own subscriber, carried by the agent's, sees its spans with
//! consistent ids (current span, parents, explicit parents, enter/exit, close), sees its events in
//! the right span, and never sees tokio's instrumentation; the agent records the tasks meanwhile.
//!
//! One test: the global subscriber can be set once per process.

mod support;

use std::sync::{Arc, Mutex};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// What the app's layer saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    New { name: &'static str, id: u64, parent: Option<u64> },
    Enter(u64),
    Exit(u64),
    Close(u64),
    Event { message: String, span: Option<u64> },
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn push(&self, seen: Seen) {
        self.0.lock().unwrap().push(seen);
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.id().into_u64());
        self.push(Seen::New { name: attrs.metadata().name(), id: id.into_u64(), parent });
    }

    fn on_enter(&self, id: &Id, _: Context<'_, S>) {
        self.push(Seen::Enter(id.into_u64()));
    }

    fn on_exit(&self, id: &Id, _: Context<'_, S>) {
        self.push(Seen::Exit(id.into_u64()));
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        self.push(Seen::Close(id.into_u64()));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.event_span(event).map(|s| s.id().into_u64());
        self.push(Seen::Event { message: support::message(event), span });
    }
}

fn id(span: &tracing::Span) -> u64 {
    span.id().expect("the app's subscriber enabled the span").into_u64()
}

#[test]
fn the_forwarded_subscriber_keeps_its_span_ids() {
    let recorder = Recorder::default();
    let app = tracing_subscriber::registry().with(recorder.clone());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    rt.block_on(async {
        let agent = leakscope::Builder::new()
            .bind("127.0.0.1:0".parse().unwrap())
            .forward_to(app)
            .try_init()
            .expect("the agent starts, carrying the app's subscriber");
        #[cfg(not(tokio_unstable))]
        let _ = agent;
        recorder.take();

        // Contextual and explicit parents, enter and exit, the current span, events in spans.
        let outer = tracing::info_span!("outer");
        let outer_id = id(&outer);
        let inner_id = outer.in_scope(|| {
            assert_eq!(tracing::Span::current().id().map(|i| i.into_u64()), Some(outer_id));
            let inner = tracing::info_span!("inner");
            let inner_id = id(&inner);
            inner.in_scope(|| tracing::info!("in inner"));
            inner_id
        });
        let explicit = tracing::info_span!(parent: &outer, "explicit");
        let explicit_id = id(&explicit);
        let root = tracing::info_span!(parent: None, "root");
        let root_id = id(&root);
        tracing::info!(parent: &explicit, "to explicit");
        drop((explicit, root));
        drop(outer);
        let seen = recorder.take();
        let expected = [
            Seen::New { name: "outer", id: outer_id, parent: None },
            Seen::Enter(outer_id),
            Seen::New { name: "inner", id: inner_id, parent: Some(outer_id) },
            Seen::Enter(inner_id),
            Seen::Event { message: "in inner".into(), span: Some(inner_id) },
            Seen::Exit(inner_id),
            Seen::Close(inner_id),
            Seen::Exit(outer_id),
            Seen::New { name: "explicit", id: explicit_id, parent: Some(outer_id) },
            Seen::New { name: "root", id: root_id, parent: None },
            Seen::Event { message: "to explicit".into(), span: Some(explicit_id) },
            Seen::Close(explicit_id),
            Seen::Close(root_id),
            Seen::Close(outer_id),
        ];
        assert_eq!(seen, expected);

        // Inside a task, spawned in a span: the app sees its own span as current, and none of
        // tokio's task, waker or resource instrumentation.
        let request = tracing::info_span!("request");
        let request_id = id(&request);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let _in_request = request.enter();
            tokio::spawn(async move {
                let current = tracing::Span::current().id().map(|i| i.into_u64());
                let _ = rx.await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tracing::info!("task done");
                current
            })
        };
        tx.send(()).unwrap();
        let current_in_task = task.await.unwrap();
        assert_eq!(current_in_task, None, "a spawned task does not inherit the span");
        let instrumented = {
            use tracing::Instrument as _;
            tokio::spawn(
                async { tracing::Span::current().id().map(|i| i.into_u64()) }
                    .instrument(request.clone()),
            )
        };
        assert_eq!(instrumented.await.unwrap(), Some(request_id));
        drop(request);
        let seen = recorder.take();
        assert!(
            seen.iter()
                .all(|s| !matches!(s, Seen::New { name, .. } if name.starts_with("runtime"))),
            "tokio's instrumentation reached the app's subscriber: {seen:?}"
        );
        assert!(
            seen.contains(&Seen::Event { message: "task done".into(), span: None }),
            "{seen:?}"
        );
        assert_eq!(seen.last(), Some(&Seen::Close(request_id)), "{seen:?}");
        let entered = seen.iter().filter(|s| **s == Seen::Enter(request_id)).count();
        let exited = seen.iter().filter(|s| **s == Seen::Exit(request_id)).count();
        assert!(entered >= 2 && entered == exited, "{seen:?}");

        // Meanwhile the agent records the tasks.
        #[cfg(tokio_unstable)]
        agent_sees_a_parked_task(agent.local_addr()).await;
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
            && snap.locations.iter().any(|l| {
                l.id == t.location_id && l.line == parked_line && l.file.ends_with("forward.rs")
            })
    });
    assert!(found, "the agent does not list the task spawned at line {parked_line}: {snap:?}");
    parked.abort();
}
