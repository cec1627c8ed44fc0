//! The `console` feature: console-subscriber shares the process, so tokio-console can attach to
//! the agent's port too.
//!
//! Both need tokio's spans, and console-subscriber is a `tracing-subscriber` layer over a
//! `Registry`; so in this mode the collector runs as a layer beside it (`crate::layer`), keeping
//! its own ids in the registry's span extensions. That costs a registry lookup per poll on top of console-subscriber's
//! own work, which is why the feature is off by default (docs/benchmarks.md has the figures).

use crate::adopt::Adoption;
use crate::layer::CollectorLayer;
use leakscope_proto::v1::agent_server::AgentServer;
use tracing_subscriber::layer::SubscriberExt as _;

/// The console-api service and its aggregator, to be served beside the agent's.
pub(crate) struct ConsoleParts {
    pub(crate) server: console_subscriber::ServerParts,
}

/// Installs `Registry + ConsoleLayer + collector` as the global subscriber. Only plain `init()`
/// serves tokio-console: an app that builds its own subscriber adds console-subscriber's layer
/// to it itself.
pub(crate) fn install(
    _registry: &'static crate::registry::Registry,
    adoption: &Adoption,
) -> Result<ConsoleParts, crate::Error> {
    match adoption {
        Adoption::Global => {}
        Adoption::Off => return Err(crate::Error::SubscriberTaken),
        Adoption::Forward(_) | Adoption::Layer => {
            return Err(crate::Error::Unsupported(
                "the console feature serves tokio-console only with leakscope::init(); with \
                 your own subscriber, add console_subscriber's layer to it",
            ));
        }
    }
    let (console_layer, server) = console_subscriber::ConsoleLayer::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(console_layer)
        .with(CollectorLayer::installed().filtered());
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
