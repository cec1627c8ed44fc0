//! Work too large for one frame, done on a thread of its own: a list of a million rows took the
//! screen's thread a quarter of a second to sort. The screen shows what it has until the result
//! comes, and takes it at its next refresh.

use std::sync::mpsc::{Receiver, TryRecvError};

/// Lists this long are built in the background.
pub(crate) const BUILD_ELSEWHERE: usize = 50_000;

/// At most one build in flight, with what the caller needs to know of it (`K`) when it is done.
/// A copy starts without it (its result goes to one owner); starting another abandons it.
pub(crate) struct Background<T, K>(Option<(Receiver<T>, K)>);

/// What a look at the build found.
pub(crate) enum Polled<T, K> {
    /// None is running.
    Idle,
    /// Still running.
    Running,
    /// Done, with its result.
    Done(T, K),
    /// The thread died or could not be started: the caller builds it itself.
    Lost,
}

impl<T: Send + 'static, K> Background<T, K> {
    /// Starts `build` on a thread named `leakscope-list`; `false` if no thread could be had.
    pub(crate) fn start(&mut self, key: K, build: impl FnOnce() -> T + Send + 'static) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new().name("leakscope-list".into()).spawn(move || {
            let _ = tx.send(build());
        });
        self.0 = spawned.is_ok().then_some((rx, key));
        self.0.is_some()
    }

    /// Whether a build is under way.
    pub(crate) fn running(&self) -> bool {
        self.0.is_some()
    }

    /// Abandons the build under way, if any.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Takes the result if it is there.
    pub(crate) fn poll(&mut self) -> Polled<T, K> {
        let Some((rx, _)) = &self.0 else { return Polled::Idle };
        match rx.try_recv() {
            Err(TryRecvError::Empty) => Polled::Running,
            Ok(result) => match self.0.take() {
                Some((_, key)) => Polled::Done(result, key),
                None => Polled::Lost,
            },
            Err(TryRecvError::Disconnected) => {
                self.0 = None;
                Polled::Lost
            }
        }
    }
}

impl<T, K> Default for Background<T, K> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T, K> Clone for Background<T, K> {
    fn clone(&self) -> Self {
        Self(None)
    }
}

impl<T, K> PartialEq for Background<T, K> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T, K> std::fmt::Debug for Background<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Background(running)" } else { "Background(idle)" })
    }
}
