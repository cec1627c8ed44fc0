//! End-to-end tests for leakscope live in `tests/`: they start the zoo's release build and the
//! targets in `src/bin/` on loopback and read them through the real clients. This library holds
//! only what those targets share.

/// The target's `--duration SECS` argument (how long it runs before stopping by itself), or
/// `default` seconds.
pub fn duration_arg(default: u64) -> u64 {
    std::env::args()
        .skip_while(|arg| arg != "--duration")
        .nth(1)
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(default)
}
