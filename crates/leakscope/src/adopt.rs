//! How the collector reaches tokio's instrumentation: as the process's global subscriber (plain
//! [`init`](crate::init)), as that subscriber carrying the app's own along
//! ([`Builder::forward_to`](crate::Builder::forward_to)), or as a layer in the app's subscriber
//! ([`layer`](crate::layer())). docs/adoption.md compares the forms.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_core::{Dispatch, Subscriber};

/// The app's own subscriber, carried by the agent's in forwarding mode.
#[derive(Clone)]
pub(crate) struct AppSubscriber(pub(crate) Arc<dyn Subscriber + Send + Sync>);

impl fmt::Debug for AppSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSubscriber(..)")
    }
}

impl AppSubscriber {
    /// Makes the app's subscriber the global default on its own: what forwarding falls back to
    /// when the agent cannot run, so the app keeps its logs. Fails quietly if one is set.
    pub(crate) fn install_alone(&self) {
        let _ = tracing_core::dispatcher::set_global_default(Dispatch::new(self.0.clone()));
    }
}

/// Which subscriber the collector is installed as.
#[derive(Clone, Debug)]
pub(crate) enum Adoption {
    /// The collector is the global subscriber.
    Global,
    /// The collector is the global subscriber and forwards everything that is not tokio's
    /// instrumentation to the app's subscriber.
    Forward(AppSubscriber),
    /// The app installs the subscriber, with [`crate::layer()`] in it; nothing is set here.
    #[cfg_attr(not(feature = "layer"), expect(dead_code, reason = "made by `layer()` only"))]
    Layer,
    /// No collector: another subscriber was there first, and the agent serves runtime metrics
    /// and the reason.
    Off,
}

impl Adoption {
    /// Whether starting the agent in this mode sets the global subscriber.
    pub(crate) fn sets_global(&self) -> bool {
        match self {
            Adoption::Global => cfg!(tokio_unstable),
            Adoption::Forward(_) => true,
            Adoption::Layer | Adoption::Off => false,
        }
    }
}

/// Installs the collector over `registry` as `adoption` asks. (With the `console` feature,
/// `crate::console::install` does this instead.)
#[cfg(all(tokio_unstable, not(feature = "console")))]
pub(crate) fn install(
    registry: &'static crate::registry::Registry,
    adoption: &Adoption,
) -> Result<(), crate::Error> {
    use crate::subscriber::Collector;
    let dispatch = match adoption {
        Adoption::Global => Dispatch::new(Collector::new(registry)),
        Adoption::Forward(app) => {
            Dispatch::new(crate::forward::Forward::new(Collector::new(registry), app.0.clone()))
        }
        Adoption::Layer | Adoption::Off => return Ok(()),
    };
    tracing_core::dispatcher::set_global_default(dispatch)
        .map_err(|_| crate::Error::SubscriberTaken)?;
    GLOBAL_IS_OURS.store(true, Ordering::Release);
    Ok(())
}

/// Set once the global subscriber is the agent's (on its own or forwarding).
static GLOBAL_IS_OURS: AtomicBool = AtomicBool::new(false);

/// Whether someone other than the agent set the global subscriber, so that starting in a mode
/// that sets it must fail.
pub(crate) fn foreign_global() -> bool {
    tracing_core::dispatcher::has_been_set() && !GLOBAL_IS_OURS.load(Ordering::Acquire)
}

/// Without `tokio_unstable` there is nothing to collect: only the app's own subscriber, if it
/// handed one over, is installed.
#[cfg(not(tokio_unstable))]
pub(crate) fn install_stable(adoption: &Adoption) -> Result<(), crate::Error> {
    match adoption {
        Adoption::Forward(app) => {
            tracing_core::dispatcher::set_global_default(Dispatch::new(app.0.clone()))
                .map_err(|_| crate::Error::SubscriberTaken)?;
            GLOBAL_IS_OURS.store(true, Ordering::Release);
            Ok(())
        }
        Adoption::Global | Adoption::Layer | Adoption::Off => Ok(()),
    }
}

/// The one line [`init`](crate::init) prints when the app set its own subscriber first.
pub(crate) const FOREIGN_ADVICE: &str = "the app set its own global tracing subscriber before \
    leakscope::init(), so the agent sees no tasks (it serves runtime metrics only): add \
    leakscope::layer() to that subscriber, or pass the subscriber to \
    leakscope::Builder::forward_to(..).init() instead of installing it (docs/adoption.md)";
