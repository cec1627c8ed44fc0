//! What each path answers. The analysis model the endpoints read, kept between requests so that
//! growth has a history, is the agent's [`Follower`]'s, shared with the `Aggregate` call.

use super::request::{Request, Response};
use super::{metrics, tasks_text};
use crate::follow::Follower;
use crate::{clock, cpu, dump};
use leakscope_analysis::analyze;
use leakscope_profile::{TaskFilter, pprof, task_wait_profile};
use leakscope_proto::v1::{CpuProfileRequest, ProfileStatus};
use std::sync::Arc;
use std::time::Duration;

/// `seconds` of a CPU profile when the request does not say, as Go's handler.
pub(crate) const DEFAULT_PROFILE_SECONDS: u64 = 30;

/// The paths served, for the index and for 404 answers.
const INDEX: &str = "\
leakscope agent HTTP endpoints

/metrics                              Prometheus text format
/debug/pprof/profile?seconds=N        CPU profile (pprof protobuf, gzip)
/debug/pprof/tasks?debug=0|1|2        task-wait profile: protobuf (0), tasks grouped by spawn
                                      location and wait point (1), every task with its await
                                      chain as the agent captured it (2)
                  &dump=1             also take a task dump first (default 0). It pauses every
                                      worker of the app while it runs and can wedge a busy
                                      runtime for good (tokio-rs/tokio#7478; also #8391,
                                      #6343); refused while a runtime is stalled
";

/// What the endpoints share: the agent's model and its collector.
pub(crate) struct State {
    follower: Arc<Follower>,
}

impl State {
    pub(crate) fn new(follower: Arc<Follower>) -> Self {
        Self { follower }
    }

    /// Answers one request.
    pub(crate) async fn route(&self, request: &Request) -> Response {
        match request.path.as_str() {
            "/metrics" => self.metrics().await,
            "/debug/pprof/profile" => match profile_seconds(request) {
                Ok(seconds) => profile(seconds).await,
                Err(answer) => answer,
            },
            "/debug/pprof/tasks" => match tasks_params(request) {
                Ok((debug, take_dump)) => self.tasks(debug, take_dump).await,
                Err(answer) => answer,
            },
            "/" | "/debug/pprof" | "/debug/pprof/" => Response::text(200, INDEX),
            path => Response::error(
                404,
                format_args!(
                    "not found: {path} (served: /metrics, /debug/pprof/profile, /debug/pprof/tasks)"
                ),
            ),
        }
    }

    async fn metrics(&self) -> Response {
        let mut followed = self.follower.lock().await;
        self.follower.follow(&mut followed).await;
        let model = &followed.model;
        let report = analyze(model, &leakscope_analysis::Config::default());
        let top = self.follower.collector().config().http.top_locations;
        let extra_memory = followed.memory_bytes();
        let body = metrics::render(model, &report, top, extra_memory);
        Response {
            status: 200,
            content_type: metrics::CONTENT_TYPE,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    async fn tasks(&self, debug: u8, take_dump: bool) -> Response {
        // The update before the dump. A trace is trusted only for a task not polled since the
        // dump, and tokio polls every traced task once more right after a dump (its trace wakes
        // it): an update taken after the dump would see that poll and distrust every trace.
        // Taken before, it holds each task's last poll up to the dump, and the traces are the
        // newer word on where each task is parked.
        let mut followed = self.follower.lock().await;
        self.follower.follow(&mut followed).await;
        let dump = if take_dump { Some(dump::take(dump::DEFAULT_TIMEOUT).await) } else { None };
        if let Some(dump) = &dump {
            followed.model.apply_dump(dump.clone());
        }
        let model = &followed.model;
        match debug {
            0 => {
                let mut profile = task_wait_profile(model, dump.as_ref(), &TaskFilter::all());
                let when = clock::origin_unix_nanos().saturating_add(model.now_nanos());
                profile.set_origin(&model.target().process_name, i64::try_from(when).unwrap_or(0));
                Response::profile(pprof::encode(&profile))
            }
            1 => {
                let report = analyze(model, &leakscope_analysis::Config::default());
                Response::text(200, tasks_text::grouped(model, &report, dump.as_ref()))
            }
            _ => Response::text(200, tasks_text::every_task(model, dump.as_ref())),
        }
    }
}

/// A CPU profile of `seconds`, as gzipped pprof; 409 while another profile is being taken.
async fn profile(seconds: u64) -> Response {
    let request = CpuProfileRequest {
        duration_nanos: Duration::from_secs(seconds).as_nanos() as u64,
        frequency_hz: 0,
    };
    let response = cpu::profile(request).await;
    match ProfileStatus::try_from(response.status).unwrap_or(ProfileStatus::Unspecified) {
        ProfileStatus::Ok => {
            Response::profile(pprof::encode(&leakscope_profile::cpu_profile(&response)))
        }
        ProfileStatus::Busy => Response::error(409, response.message),
        ProfileStatus::Unsupported => Response::error(501, response.message),
        _ => Response::error(500, format_args!("failed to profile: {}", response.message)),
    }
}

fn profile_seconds(request: &Request) -> Result<u64, Response> {
    let max = cpu::MAX_DURATION.as_secs();
    match request.param("seconds") {
        None | Some("") => Ok(DEFAULT_PROFILE_SECONDS),
        Some(text) => text.parse::<u64>().ok().filter(|s| (1..=max).contains(s)).ok_or_else(|| {
            Response::error(
                400,
                format_args!("bad seconds={text}: expected a whole number from 1 to {max}"),
            )
        }),
    }
}

/// `debug` (0, 1 or 2) and whether to take a task dump first: only with `dump=1`, since a dump
/// pauses every worker of the app and can wedge a busy runtime (see `crate::dump`).
fn tasks_params(request: &Request) -> Result<(u8, bool), Response> {
    let debug = match request.param("debug") {
        None | Some("" | "0") => 0,
        Some("1") => 1,
        Some("2") => 2,
        Some(text) => {
            return Err(Response::error(400, format_args!("bad debug={text}: expected 0, 1 or 2")));
        }
    };
    let take_dump = match request.param("dump") {
        None | Some("") => false,
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        Some(text) => {
            return Err(Response::error(400, format_args!("bad dump={text}: expected 1 or 0")));
        }
    };
    // Without dump support there is nothing to take; the texts then say so.
    Ok((debug, take_dump && dump::SUPPORTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &[(&str, &str)]) -> Request {
        Request {
            head_only: false,
            path: "/".into(),
            query: query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn check_seconds(query: &[(&str, &str)], expected: Result<u64, &str>) {
        let got = profile_seconds(&request(query))
            .map_err(|r| String::from_utf8(r.body).unwrap().trim_end().to_owned());
        assert_eq!(got, expected.map_err(str::to_owned), "{query:?}");
    }

    #[test]
    fn profile_seconds_are_checked() {
        check_seconds(&[], Ok(30));
        check_seconds(&[("seconds", "")], Ok(30));
        check_seconds(&[("seconds", "5")], Ok(5));
        check_seconds(&[("seconds", "300")], Ok(300));
        let bad = |v: &str| format!("bad seconds={v}: expected a whole number from 1 to 300");
        check_seconds(&[("seconds", "0")], Err(&bad("0")));
        check_seconds(&[("seconds", "301")], Err(&bad("301")));
        check_seconds(&[("seconds", "1.5")], Err(&bad("1.5")));
        check_seconds(&[("seconds", "-1")], Err(&bad("-1")));
    }

    fn check_tasks(query: &[(&str, &str)], expected: Result<(u8, bool), &str>) {
        let got = tasks_params(&request(query))
            .map_err(|r| String::from_utf8(r.body).unwrap().trim_end().to_owned());
        let expected =
            expected.map(|(debug, dump)| (debug, dump && dump::SUPPORTED)).map_err(str::to_owned);
        assert_eq!(got, expected, "{query:?}");
    }

    #[test]
    fn tasks_parameters_are_checked() {
        check_tasks(&[], Ok((0, false)));
        check_tasks(&[("debug", "1")], Ok((1, false)));
        // Never a dump unless asked.
        check_tasks(&[("debug", "2")], Ok((2, false)));
        check_tasks(&[("debug", "2"), ("dump", "")], Ok((2, false)));
        check_tasks(&[("debug", "2"), ("dump", "0")], Ok((2, false)));
        check_tasks(&[("debug", "2"), ("dump", "1")], Ok((2, true)));
        check_tasks(&[("debug", "0"), ("dump", "1")], Ok((0, true)));
        check_tasks(&[("debug", "1"), ("dump", "true")], Ok((1, true)));
        check_tasks(&[("debug", "3")], Err("bad debug=3: expected 0, 1 or 2"));
        check_tasks(&[("dump", "yes")], Err("bad dump=yes: expected 1 or 0"));
    }
}
