//! `leakscope::layer()`: the collector as a `tracing-subscriber` layer, for apps that build their
//! own subscriber (the way console-subscriber is used).
//!
//! The layer is per-layer filtered: it asks for tokio's instrumentation and the app's spans (the
//! same callsites the agent's own subscriber takes, see `Collector::interest`) and never for the
//! app's events, so it neither hides anything from the app's other layers nor makes them see more.
//! The registry assigns span ids; the collector's own id for each span is kept in the span's
//! extensions and looked up on enter and exit (console-subscriber pays the same lookup).

use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

#[cfg(tokio_unstable)]
use crate::subscriber::Collector;
#[cfg(tokio_unstable)]
use tracing_core::Event;
#[cfg(tokio_unstable)]
use tracing_core::span::{Attributes, Id};

/// The collector's id for a registry span.
#[cfg(tokio_unstable)]
struct CollectorId(u64);

/// The collector, fed by a layer. Without a collector (no `tokio_unstable`, or the agent did not
/// start) it is inert and its filter turns every callsite down.
pub(crate) struct CollectorLayer {
    #[cfg(tokio_unstable)]
    collector: Option<Collector>,
}

impl CollectorLayer {
    /// The layer over the installed registry, if there is one.
    pub(crate) fn installed() -> Self {
        Self {
            #[cfg(tokio_unstable)]
            collector: crate::registry::get().map(Collector::new),
        }
    }

    /// A layer that records nothing.
    pub(crate) fn inert() -> Self {
        Self {
            #[cfg(tokio_unstable)]
            collector: None,
        }
    }

    fn is_on(&self) -> bool {
        #[cfg(tokio_unstable)]
        return self.collector.is_some();
        #[cfg(not(tokio_unstable))]
        false
    }

    /// This layer behind its filter: what [`crate::layer()`] returns.
    pub(crate) fn filtered<S>(self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter = TokioInstrumentation { on: self.is_on() };
        self.with_filter(filter)
    }

    #[cfg(tokio_unstable)]
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
    #[cfg(tokio_unstable)]
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(collector) = &self.collector else { return };
        let ours = collector.on_new_span(attrs);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(CollectorId(ours));
        }
    }

    #[cfg(tokio_unstable)]
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(collector) = &self.collector else { return };
        // Waker events name the task by the registry's span id.
        collector.on_event(event, |theirs| Self::ours(&Id::from_u64(theirs), &ctx));
    }

    #[cfg(tokio_unstable)]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(collector) = &self.collector else { return };
        collector.on_enter(Self::ours(id, &ctx));
    }

    #[cfg(tokio_unstable)]
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(collector) = &self.collector else { return };
        collector.on_exit(Self::ours(id, &ctx));
    }

    #[cfg(tokio_unstable)]
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(collector) = &self.collector else { return };
        // The registry counts handles and calls this for the last one; the collector's count
        // stays at the one it started with, so this closes its record.
        collector.on_close(Self::ours(&id, &ctx));
    }
}

/// The layer's own filter: the callsites the collector wants, nothing else, and nothing at all
/// when the layer is inert.
struct TokioInstrumentation {
    on: bool,
}

impl TokioInstrumentation {
    fn wants(&self, meta: &Metadata<'_>) -> bool {
        #[cfg(tokio_unstable)]
        return self.on && Collector::interest(meta).is_always();
        #[cfg(not(tokio_unstable))]
        {
            let _ = meta;
            false
        }
    }
}

impl<S> Filter<S> for TokioInstrumentation {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing_core::Interest {
        if self.wants(meta) {
            tracing_core::Interest::always()
        } else {
            tracing_core::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing_core::LevelFilter> {
        Some(if self.on {
            tracing_core::LevelFilter::TRACE
        } else {
            tracing_core::LevelFilter::OFF
        })
    }
}
