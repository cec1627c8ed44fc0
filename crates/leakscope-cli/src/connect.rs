//! Reaching a target and starting its model: shared by every command that reads an app.

use leakscope_analysis::{Model, Sources};
use leakscope_client::{Backend, Connection};

/// An empty model for what `connection` reaches: identity and capabilities from its `Hello`, and
/// for a console-subscriber app, [`Sources::console_api`], so the analysis lists what that data
/// cannot show instead of passing it.
pub(crate) fn model_for(connection: &Connection) -> Model {
    let mut model = Model::from_hello(connection.hello());
    if connection.backend() == Backend::Console {
        model.set_sources(Sources::console_api());
    }
    model
}
