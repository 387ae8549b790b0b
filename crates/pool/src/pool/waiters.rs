//! Callers waiting for an object: their places in the queue, and the pool's reaper,
//! which times them out at their deadlines.
//!
//! A wait holds no timer of its own: registering and removing one on Tokio's timer
//! wheel takes the timer driver's lock twice, which was the largest part of handing an
//! object from one task to another. Instead one task per pool sleeps until the earliest
//! deadline of the queue and times out every waiter past its deadline. It is started
//! by the first wait, ends when the pool is dropped, and if it is stopped with its
//! runtime, the waiters it leaves are woken and the first of them starts another.

use std::future::Future;
use std::pin::pin;

use tokio::sync::Notify;

use super::*;

pub(super) enum Grant<T> {
    Object(Idle<T>),
    Create,
}

pub(super) enum WaitState<T> {
    Waiting(Option<Waker>),
    Granted(Grant<T>),
    Closed,
    /// Past its deadline: the reaper took it out of the queue.
    TimedOut,
    Done,
}

pub(super) struct Waiter<T> {
    pub(super) state: Mutex<WaitState<T>>,
    /// When the caller gives up: the reaper times it out then.
    pub(super) deadline: Instant,
}

/// A waiter in the queue: leaves it when dropped, passing on anything granted to it.
pub(super) struct Queued<'a, M: Manager> {
    pub(super) shared: &'a Shared<M>,
    pub(super) waiter: Arc<Waiter<M::Object>>,
    pub(super) home: usize,
}

impl<M: Manager> Drop for Queued<'_, M> {
    fn drop(&mut self) {
        // Served, closed or timed out: the waiter already left the queue (a grant,
        // `close` or the reaper took it out), so the pool-wide lock is not needed. The
        // common end of a wait.
        {
            let mut waiter = self.waiter.state.lock();
            match &*waiter {
                WaitState::Done | WaitState::Closed | WaitState::TimedOut => return,
                WaitState::Granted(_) => {
                    let granted = std::mem::replace(&mut *waiter, WaitState::Done);
                    drop(waiter);
                    self.pass_on(granted);
                    return;
                }
                // Still queued: leave the queue under the pool-wide lock, taken first.
                WaitState::Waiting(_) => {}
            }
        }
        let granted = {
            let mut state = self.shared.state.lock();
            state
                .waiters
                .retain(|waiter| !Arc::ptr_eq(waiter, &self.waiter));
            self.shared.set_waiting(state.waiters.len());
            let mut waiter = self.waiter.state.lock();
            std::mem::replace(&mut *waiter, WaitState::Done)
        };
        self.pass_on(granted);
    }
}

impl<M: Manager> Queued<'_, M> {
    /// Passes on what was granted to a waiter that leaves without it.
    fn pass_on(&self, state: WaitState<M::Object>) {
        match state {
            WaitState::Granted(Grant::Object(idle)) => self.shared.give_back(idle, self.home),
            WaitState::Granted(Grant::Create) => self.shared.release_place(),
            _ => {}
        }
    }
}

impl<M: Manager> Pool<M> {
    /// Waits in the queue until granted, closed or past the waiter's deadline (`None`
    /// for the last two).
    pub(super) async fn wait(&self, queued: &Queued<'_, M>) -> Option<Grant<M::Object>> {
        std::future::poll_fn(|cx| {
            let mut waiter = queued.waiter.state.lock();
            match &mut *waiter {
                WaitState::Waiting(waker) => {
                    match waker {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                    drop(waiter);
                    // Woken without a grant: the reaper may have stopped with its
                    // runtime. Start another to keep the deadline.
                    self.start_reaper();
                    Poll::Pending
                }
                WaitState::Granted(_) => match std::mem::replace(&mut *waiter, WaitState::Done) {
                    WaitState::Granted(grant) => Poll::Ready(Some(grant)),
                    _ => Poll::Ready(None),
                },
                WaitState::Closed | WaitState::TimedOut | WaitState::Done => Poll::Ready(None),
            }
        })
        .await
    }

    /// After a caller joined the queue: starts the reaper if none runs, else wakes it
    /// if the caller's deadline is now the earliest (`rearm`).
    pub(super) fn arm_reaper(&self, rearm: bool) {
        if !self.start_reaper() && rearm {
            self.shared.reaper.notify_one();
        }
    }

    /// Starts the reaper if none runs; `true` if it did.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as a timer would: a deadline needs Tokio's time.
    fn start_reaper(&self) -> bool {
        let shared = &*self.shared;
        if shared.reaping.load(Ordering::Acquire) || shared.reaping.swap(true, Ordering::AcqRel) {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            shared.reaping.store(false, Ordering::Release);
            panic!("waiting for a pool object needs a Tokio runtime, for its acquire_timeout");
        };
        // The guard is made here and moved into the task: dropped with the task, even
        // one dropped before it first runs (its runtime shut down), it lets the waiters
        // start another.
        let reaping = Reaping(Arc::downgrade(&self.shared));
        runtime.spawn(reap(reaping, shared.reaper.clone()));
        true
    }
}

impl<M: Manager> Shared<M> {
    /// Times out the waiters whose deadline is at or before `now`, and returns the
    /// earliest deadline of those left, if any (which the reaper sleeps until).
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut wakers = Vec::new();
        let next = {
            let mut state = self.state.lock();
            let mut next: Option<Instant> = None;
            state.waiters.retain(|waiter| {
                if waiter.deadline <= now {
                    let mut waiting = waiter.state.lock();
                    if let WaitState::Waiting(waker) = &mut *waiting {
                        wakers.extend(waker.take());
                        *waiting = WaitState::TimedOut;
                    }
                    false
                } else {
                    next = Some(next.map_or(waiter.deadline, |at| at.min(waiter.deadline)));
                    true
                }
            });
            state.armed = next;
            self.set_waiting(state.waiters.len());
            self.metrics.waiting.set(state.waiters.len() as f64);
            next
        };
        for waker in wakers {
            waker.wake();
        }
        next
    }

    /// The reaper stopped (its runtime shut down, or the pool is gone): wakes every
    /// waiter, so that one of them starts another.
    fn reaper_stopped(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.state.lock();
            state.armed = None;
            self.reaping.store(false, Ordering::Release);
            state
                .waiters
                .iter()
                .filter_map(|waiter| match &*waiter.state.lock() {
                    WaitState::Waiting(waker) => waker.clone(),
                    _ => None,
                })
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Tells the pool when its reaper stops, however it stops.
struct Reaping<M: Manager>(Weak<Shared<M>>);

impl<M: Manager> Drop for Reaping<M> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.reaper_stopped();
        }
    }
}

/// The reaper of a pool (the one `reaping` tells of): times waiters out at their
/// deadlines, sleeping until the earliest or until `signal` says an earlier one joined.
/// Holds no strong reference while it sleeps, and ends once the pool is dropped (which
/// signals it).
async fn reap<M: Manager>(reaping: Reaping<M>, signal: Arc<Notify>) {
    let pool = reaping.0.clone();
    loop {
        let next = match pool.upgrade() {
            Some(shared) => shared.expire(Instant::now()),
            None => return,
        };
        let mut notified = pin!(signal.notified());
        match next {
            Some(at) => {
                let mut sleep = pin!(tokio::time::sleep_until(at));
                std::future::poll_fn(|cx| {
                    if sleep.as_mut().poll(cx).is_ready() || notified.as_mut().poll(cx).is_ready() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }
            None => notified.await,
        }
    }
}
