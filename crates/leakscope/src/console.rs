//! The `console` feature: console-subscriber shares the process, so tokio-console can attach to
//! the agent's port too.
//!
//! Both need tokio's spans, and console-subscriber is a `tracing-subscriber` layer over a
//! `Registry`; so in this mode the collector runs as a layer beside it, keeping its own ids in the
//! registry's span extensions. That costs a registry lookup per poll on top of console-subscriber's
//! own work, which is why the feature is off by default (docs/benchmarks.md has the figures).

use crate::subscriber::Collector;
use leakscope_proto::v1::agent_server::AgentServer;
use tracing_core::span::{Attributes, Id};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// The collector's id for a registry span.
struct CollectorId(u64);

pub(crate) struct CollectorLayer {
    collector: Collector,
}

impl CollectorLayer {
    fn ours<S: Subscriber + for<'a> LookupSpan<'a>>(id: &Id, ctx: &Context<'_, S>) -> u64 {
        ctx.span(id)
            .and_then(|span| span.extensions().get::<CollectorId>().map(|c| c.0))
            .unwrap_or(crate::registry::UNTRACKED)
    }
}

impl<S> Layer<S> for CollectorLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // In a layered stack `never` would silence console-subscriber too; the callbacks filter.
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let ours = self.collector.on_new_span(attrs);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(CollectorId(ours));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.collector.on_event(event, |theirs| Self::ours(&Id::from_u64(theirs), &ctx));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.collector.on_enter(Self::ours(id, &ctx));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.collector.on_exit(Self::ours(id, &ctx));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // The registry counts handles; this is the last one.
        self.collector.on_close(Self::ours(&id, &ctx));
    }
}

/// The console-api service and its aggregator, to be served beside the agent's.
pub(crate) struct ConsoleParts {
    pub(crate) server: console_subscriber::ServerParts,
}

/// Installs `Registry + ConsoleLayer + collector` as the global subscriber.
pub(crate) fn install(
    registry: &'static crate::registry::Registry,
) -> Result<ConsoleParts, crate::Error> {
    let (console_layer, server) = console_subscriber::ConsoleLayer::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(console_layer)
        .with(CollectorLayer { collector: Collector::new(registry) });
    tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(subscriber))
        .map_err(|_| crate::Error::SubscriberTaken)?;
    Ok(ConsoleParts { server: server.into_parts() })
}

/// Serves the agent and console-api's `Instrument` service on one listener.
pub(crate) async fn serve<A>(
    agent: AgentServer<A>,
    parts: ConsoleParts,
    incoming: tokio_stream::wrappers::TcpListenerStream,
) -> Result<(), tonic::transport::Error>
where
    A: leakscope_proto::v1::agent_server::Agent,
{
    let console_subscriber::ServerParts { instrument_server, aggregator, .. } = parts.server;
    tokio::spawn(aggregator.run());
    tonic::transport::Server::builder()
        .add_service(agent)
        .add_service(instrument_server)
        .serve_with_incoming(incoming)
        .await
}
