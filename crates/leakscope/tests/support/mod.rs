//! What the app-subscriber tests (`forward.rs`, `layer.rs`) share.

use tracing_core::Event;

/// An event's `message` field, as its `Debug` form.
pub(crate) fn message(event: &Event<'_>) -> String {
    struct Message(String);
    impl tracing_core::field::Visit for Message {
        fn record_debug(&mut self, f: &tracing_core::Field, v: &dyn std::fmt::Debug) {
            if f.name() == "message" {
                self.0 = format!("{v:?}");
            }
        }
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    message.0
}
