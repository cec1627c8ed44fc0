//! The frames leakscope makes up, which stand for a place in the program rather than a function
//! of it: how a task was spawned (`tokio::spawn`), what it waits on (`wait: sleep`), the lock it
//! wants and who holds it (`lock: Mutex::lock`, `held by tokio::spawn`), its state (`state:
//! running`) and its polls that blocked a worker (`blocking poll`).
//!
//! They are named here, once, for the builders that make them and the pprof encoder that must
//! tell them apart from real functions: pprof, Pyroscope and Parca group frames by function name,
//! so every `tokio::spawn` would be one node whatever its line. In pprof output such a frame is
//! named after its site, `tokio::spawn @ src/server.rs:40` (see [`crate::pprof`] for which
//! site).

use leakscope_analysis::names;

use crate::folded::short_path;
use crate::profile::Frame;

/// The spawn frame of a task started by `tokio::spawn`.
pub const SPAWN: &str = "tokio::spawn";
/// The spawn frame of a blocking-pool task.
pub const SPAWN_BLOCKING: &str = "tokio::task::spawn_blocking";
/// The spawn frame of the future a runtime's `block_on` runs.
pub const BLOCK_ON: &str = "block_on";
/// The spawn frame of a `LocalSet` task.
pub const SPAWN_LOCAL: &str = "tokio::task::spawn_local";
/// Prefix of the frame naming what a task waits on: `wait: mpsc::Sender::send`.
pub const WAIT: &str = "wait: ";
/// Prefix of the frame naming the lock a task waits on: `lock: Mutex::lock`.
pub const LOCK: &str = "lock: ";
/// Prefix of the frame naming the holder of that lock: `held by tokio::spawn`.
pub const HELD_BY: &str = "held by ";
/// Prefix of the frame naming a task's state when it is not parked: `state: running`.
pub const STATE: &str = "state: ";
/// The frame under a spawn frame counting its finished polls that blocked a worker.
pub const BLOCKING_POLL: &str = "blocking poll";
/// The frame under a spawn frame for a poll blocking a worker right now.
pub const BLOCKING_NOW: &str = "blocking now";

/// What separates a site frame's name from its site in pprof output.
const AT: &str = " @ ";

/// Whether `function` is one of the names above (a spawn name may carry the task's name in
/// quotes: `tokio::spawn "refresher"`).
pub(crate) fn is_site_function(function: &str) -> bool {
    let spawn = [SPAWN, SPAWN_BLOCKING, BLOCK_ON, SPAWN_LOCAL].iter().any(|how| {
        function.strip_prefix(how).is_some_and(|rest| rest.is_empty() || rest.starts_with(" \""))
    });
    spawn
        || [WAIT, LOCK, HELD_BY, STATE].iter().any(|prefix| function.starts_with(prefix))
        || function == BLOCKING_POLL
        || function == BLOCKING_NOW
}

/// `file:line` as folded stacks show a place (registry prefixes cut); `None` without a file.
pub(crate) fn place(file: &str, line: u32) -> Option<String> {
    match (file.is_empty(), line) {
        (true, _) => None,
        (false, 0) => Some(short_path(file).to_owned()),
        (false, line) => Some(format!("{}:{line}", short_path(file))),
    }
}

impl Frame {
    /// Whether the frame stands for a place leakscope names (a spawn, a wait, a lock, a state, a
    /// blocking poll) rather than a function of the program.
    pub fn is_site(&self) -> bool {
        is_site_function(&self.function)
    }
}

/// A place in the source: a file as recorded and a line (0: unknown).
pub(crate) type Place<'a> = (&'a str, u32);

/// The places above a frame in its stack (rootwards), as site naming needs them: the nearest
/// one in the app's own code, and the nearest one at all.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Above<'a> {
    app: Option<Place<'a>>,
    any: Option<Place<'a>>,
}

impl<'a> Above<'a> {
    /// Notes the place of the frame just passed, going leafwards; a frame without a file has
    /// none.
    pub(crate) fn pass(&mut self, file: &'a str, line: u32) {
        if file.is_empty() {
            return;
        }
        self.any = Some((file, line));
        if names::is_app_file(file) {
            self.app = Some((file, line));
        }
    }

    /// The site a site frame with place `own` is named after, the most telling place known for
    /// it: its own when that is in the app's code (a spawn line, a channel the app created);
    /// else the nearest app frame above it (the app's line that awaits a library's resource,
    /// the spawn line of a `blocking poll`); else its own (a library's); else the nearest place
    /// above it. `None` when the stack has no place at all.
    pub(crate) fn site_for(&self, own: Option<Place<'a>>) -> Option<Place<'a>> {
        match own {
            Some(place) if names::is_app_file(place.0) => Some(place),
            _ => self.app.or(own).or(self.any),
        }
    }
}

/// A site frame's name in pprof output: `tokio::spawn @ src/server.rs:40`.
pub(crate) fn site_name(function: &str, site: Option<Place<'_>>) -> String {
    match site.and_then(|(file, line)| place(file, line)) {
        Some(site) => format!("{function}{AT}{site}"),
        None => function.to_owned(),
    }
}

/// The function of a site frame's pprof name: `name` without ` @ site`, when it is a site
/// function's name at that site.
pub(crate) fn strip_site<'n>(name: &'n str, site: Option<Place<'_>>) -> Option<&'n str> {
    let Some(site) = site.and_then(|(file, line)| place(file, line)) else {
        return Some(name).filter(|name| is_site_function(name));
    };
    name.strip_suffix(&site)
        .and_then(|rest| rest.strip_suffix(AT))
        .filter(|function| is_site_function(function))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKIO_MUTEX: &str =
        "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/sync/mutex.rs";

    /// The pprof name of the last frame of `stack` (root first).
    fn check(stack: &[Frame], expected: &str) {
        let mut above = Above::default();
        let (leaf, rest) = stack.split_last().unwrap();
        for frame in rest {
            above.pass(&frame.file, frame.line);
        }
        let own = Some((leaf.file.as_str(), leaf.line)).filter(|(file, _)| !file.is_empty());
        let name = if leaf.is_site() {
            site_name(&leaf.function, above.site_for(own))
        } else {
            leaf.function.clone()
        };
        assert_eq!(name, expected, "{stack:?}");
        if leaf.is_site() {
            assert_eq!(strip_site(&name, above.site_for(own)), Some(leaf.function.as_str()));
        }
    }

    #[test]
    fn site_frames_are_named_after_the_most_telling_place() {
        let spawn = Frame::new(SPAWN, "src/server.rs", 40);
        let app = Frame::new("app::cache::write::{{closure}}", "src/cache.rs", 24);
        check(std::slice::from_ref(&spawn), "tokio::spawn @ src/server.rs:40");
        check(
            &[Frame::new("tokio::spawn \"refresher\"", "src/cache.rs", 30)],
            "tokio::spawn \"refresher\" @ src/cache.rs:30",
        );
        // The app's own resource: its own place.
        check(
            &[spawn.clone(), app.clone(), Frame::new("wait: Mutex::lock", "src/cache.rs", 7)],
            "wait: Mutex::lock @ src/cache.rs:7",
        );
        // A library's resource: the app's line that awaits it.
        check(
            &[spawn.clone(), app.clone(), Frame::new("wait: Mutex::lock", TOKIO_MUTEX, 806)],
            "wait: Mutex::lock @ src/cache.rs:24",
        );
        // Nothing of the app's above it: its own place.
        check(
            &[Frame::new("wait: Mutex::lock", TOKIO_MUTEX, 806)],
            "wait: Mutex::lock @ tokio-1.54.1/src/sync/mutex.rs:806",
        );
        // No place of its own: the app's line above, past the library's frames.
        check(
            &[spawn.clone(), app, Frame::new("tokio::sync::mutex::lock", TOKIO_MUTEX, 680), {
                Frame::new(BLOCKING_POLL, "", 0)
            }],
            "blocking poll @ src/cache.rs:24",
        );
        check(&[spawn, Frame::new("state: running", "", 0)], "state: running @ src/server.rs:40");
        check(
            &[
                Frame::new("tokio::sync::mutex::lock", TOKIO_MUTEX, 680),
                Frame::new("state: running", "", 0),
            ],
            "state: running @ tokio-1.54.1/src/sync/mutex.rs:680",
        );
        check(&[Frame::new("state: running", "", 0)], "state: running");
        check(
            &[Frame::new("held by block_on", "src/main.rs", 0)],
            "held by block_on @ src/main.rs",
        );
    }

    #[test]
    fn real_functions_are_not_sites() {
        for function in [
            "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse",
            "tokio::task::spawn::spawn",
            "app::block_on_all",
            "tokio::spawnx",
            "blocking poller",
            "",
        ] {
            assert!(!Frame::new(function, "src/lib.rs", 3).is_site(), "{function}");
        }
        for function in ["tokio::spawn", "block_on \"main\"", "wait: sleep", "blocking now"] {
            assert!(Frame::new(function, "", 0).is_site(), "{function}");
        }
    }

    #[test]
    fn site_names_split_back_only_at_their_site() {
        let at = Some(("src/a.rs", 3));
        assert_eq!(strip_site("tokio::spawn @ src/a.rs:3", at), Some("tokio::spawn"));
        assert_eq!(strip_site("tokio::spawn @ src/a.rs:3", Some(("src/a.rs", 4))), None);
        assert_eq!(strip_site("app::f @ src/a.rs:3", at), None);
        assert_eq!(strip_site("blocking poll", at), None);
        assert_eq!(strip_site("blocking poll", None), Some("blocking poll"));
        assert_eq!(strip_site("app::f", None), None);
    }
}
