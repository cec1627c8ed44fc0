//! Installing the collector once per process for the check, without serving.

use std::sync::OnceLock;

/// `Ok` when the collector records this process's tasks; otherwise the reason it does not, as a
/// clause for the listing ("the collector is not installed: …").
pub(crate) fn collector() -> Result<(), &'static str> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let builder = crate::Builder::from_env().map_err(|err| err.to_string())?;
            builder.install_collector().map_err(|err| err.to_string())
        })
        .as_ref()
        .copied()
        .map_err(String::as_str)
}
