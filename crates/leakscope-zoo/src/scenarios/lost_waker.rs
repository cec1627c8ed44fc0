//! `lost-waker`: a hand-written future returns `Pending` without arranging to be woken.
//!
//! What goes wrong: `RetryAfter` is meant to complete once its delay has passed. Each poll compares
//! the clock and returns `Poll::Pending` if it is too early, on the belief that it "will be polled
//! again". It will not: a tokio task is polled again only when something calls the waker from
//! `cx`, and this future neither keeps it nor hands it to a timer. After its first poll nothing
//! references the task's waker at all, so nothing can ever wake it: the task sleeps for ever, one
//! per request.
//!
//! The fix: whoever returns `Pending` must make sure the waker is called. Store
//! `cx.waker().clone()` where the event will happen and call `wake()` there, or build the future
//! from ones that do (here, `tokio::time::sleep`, polled from inside `poll`).

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long a request backs off before retrying.
const DELAY: Duration = Duration::from_millis(50);

pub(crate) async fn run(opts: &LoadOptions) {
    load::drive(Scenario::LostWaker, opts, handle).await;
}

async fn handle(request: Request) {
    tokio::spawn(retry_later(request.seq)); // zoo:spawn lost-waker
}

async fn retry_later(seq: u64) {
    RetryAfter { delay: DELAY, started: None }.await;
    std::hint::black_box(seq);
}

/// Ready once `delay` has passed since its first poll. Broken: see the module docs.
struct RetryAfter {
    delay: Duration,
    started: Option<Instant>,
}

impl Future for RetryAfter {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let started = *self.started.get_or_insert_with(Instant::now);
        if started.elapsed() >= self.delay {
            return Poll::Ready(());
        }
        // Too early, and `_cx.waker()` goes unused: no timer, no stored waker, no wake-up.
        Poll::Pending // zoo:wait lost-waker
    }
}
