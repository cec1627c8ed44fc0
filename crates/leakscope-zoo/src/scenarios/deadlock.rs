//! `deadlock`: pairs of tasks each waiting for the other, for ever.
//!
//! What goes wrong, twice over, once a second:
//!
//! - Lock order. `transfer(from, to)` locks `from`, then `to`. Two transfers between the same two
//!   accounts in opposite directions each take their first lock and then wait for the lock the
//!   other holds.
//! - Channel handshake. Each side of `handshake` waits for the other's hello before sending its
//!   own, and each holds the sender the other is waiting on, so neither channel ever delivers or
//!   closes.
//!
//! The fix: for locks, one global order (lock the lower account id first), or one lock for both;
//! for the handshake, let one side speak first, or send before receiving (the channels buffer).
//! tokio, like Go's runtime with only some goroutines stuck, reports none of this: the rest of the
//! service runs on.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::sync::Arc;
use tokio::sync::{Barrier, Mutex, oneshot};

pub(crate) async fn run(opts: &LoadOptions) {
    // One deadlock of each kind per second of load, not per request: a few are plenty to find.
    let every = u64::from(opts.rate());
    load::drive(Scenario::Deadlock, opts, move |request| handle(request, every)).await;
}

async fn handle(request: Request, every: u64) {
    if !request.seq.is_multiple_of(every) {
        return;
    }

    let alice = Arc::new(Mutex::new(Account { balance: 100 }));
    let bob = Arc::new(Mutex::new(Account { balance: 100 }));
    // Makes the unlucky interleaving (both first locks taken before either second one) happen
    // every time instead of once in a while, as it would in production.
    let both_locked = Arc::new(Barrier::new(2));
    let (from, to, sync) = (alice.clone(), bob.clone(), both_locked.clone());
    tokio::spawn(transfer(from, to, 10, sync)); // zoo:spawn deadlock
    tokio::spawn(transfer(bob, alice, 20, both_locked)); // zoo:spawn deadlock

    let (to_right, from_left) = oneshot::channel();
    let (to_left, from_right) = oneshot::channel();
    tokio::spawn(handshake(to_right, from_right)); // zoo:spawn deadlock
    tokio::spawn(handshake(to_left, from_left)); // zoo:spawn deadlock
}

struct Account {
    balance: u64,
}

type Shared = Arc<Mutex<Account>>;

async fn transfer(from: Shared, to: Shared, amount: u64, both_locked: Arc<Barrier>) {
    let mut from = from.lock().await;
    both_locked.wait().await;
    let mut to = to.lock().await; // zoo:wait deadlock
    from.balance -= amount;
    to.balance += amount;
}

async fn handshake(send: oneshot::Sender<&'static str>, recv: oneshot::Receiver<&'static str>) {
    // Waits to hear from the other side first, while holding the sender it is waiting on.
    let Ok(hello) = recv.await else { return }; // zoo:wait deadlock
    let _ = send.send(hello);
}
