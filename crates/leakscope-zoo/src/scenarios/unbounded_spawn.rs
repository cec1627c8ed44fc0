//! `unbounded-spawn`: every request spawns a slow background job and nothing bounds how many run.
//!
//! What goes wrong: the handler answers at once and pushes the slow part (an "audit" that takes a
//! minute) into `tokio::spawn`, with no limit and no handle kept. Live tasks grow with the load:
//! `rate × 60` of them at steady state, and without bound if the job slows down further.
//!
//! The fix: bound the background work (a `Semaphore` permit moved into the job, or a `JoinSet`
//! capped in size) and shed or queue what does not fit; see `clean`.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::hint::black_box;
use std::time::Duration;

/// How long each background job takes.
const JOB_TIME: Duration = Duration::from_secs(60);

pub(crate) async fn run(opts: &LoadOptions) {
    load::drive(Scenario::UnboundedSpawn, opts, handle).await;
}

async fn handle(request: Request) {
    // Fire and forget: nothing limits, tracks or awaits these.
    tokio::spawn(audit(request.seq)); // zoo:spawn unbounded-spawn
}

async fn audit(seq: u64) {
    tokio::time::sleep(JOB_TIME).await; // zoo:wait unbounded-spawn
    black_box(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
}
