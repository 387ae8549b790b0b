//! The guarded dependency: what it does with each call, and the log of the calls that
//! reached it.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hardy::prelude::*;
use tokio::time::sleep;
use tower::{BoxError, Service};

/// What the dependency does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// Answers this at once.
    Ok(u32),
    /// Fails at once.
    Fail,
    /// Fails at once with the error `no ack {n}`.
    FailWith(u32),
    /// Never answers.
    Hang,
    /// Answers 1 after the delay.
    OkAfter(Duration),
    /// Fails after the delay.
    FailAfter(Duration),
    /// Panics when first polled.
    Panic,
    /// Does what the dependency's script of this number says next (`Ok(0)` once the
    /// script is done): a call's attempts each take the next step.
    Script(u8),
}

impl Call {
    /// This call, made by a caller whose deadline is `deadline`.
    pub(crate) fn by(self, deadline: Deadline) -> Request {
        Request {
            call: self,
            deadline: Some(deadline),
        }
    }
}

/// A request through the guards: what the dependency does with it, and the caller's
/// deadline, if any (read by the stack's retry and timeout and by the pipeline; the
/// dependency sees only the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) call: Call,
    pub(crate) deadline: Option<Deadline>,
}

impl From<Call> for Request {
    /// A call whose caller has no deadline.
    fn from(call: Call) -> Self {
        Request {
            call,
            deadline: None,
        }
    }
}

/// A request that may carry its caller's deadline.
pub(crate) trait Dated {
    fn deadline(&self) -> Option<Deadline>;
}

impl Dated for Request {
    fn deadline(&self) -> Option<Deadline> {
        self.deadline
    }
}

/// The extractor given to `deadline_from`, the same for the retry, the timeout and the
/// pipeline.
pub(crate) fn deadline_of<Req: Dated>(request: &Req) -> Option<Deadline> {
    request.deadline()
}

/// Whether the dependency's services are ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Readiness {
    #[default]
    Ready,
    /// Not yet: woken when it changes.
    Pending,
    /// `poll_ready` fails with the error `not ready`.
    Fail,
}

/// A call that reached the dependency: the calls the service instance it reached had
/// made before (a clone starts from its original's count), and whether that instance
/// was polled ready for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reach {
    pub(crate) before: usize,
    pub(crate) readied: bool,
}

/// The guarded dependency; logs the calls that reach it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dependency {
    shared: Arc<DependencyState>,
}

#[derive(Debug, Default)]
struct DependencyState {
    reaches: Mutex<Vec<Reach>>,
    scripts: Mutex<HashMap<u8, VecDeque<Call>>>,
    readiness: Mutex<(Readiness, Vec<Waker>)>,
}

impl Dependency {
    pub(crate) fn reached(&self) -> usize {
        self.reaches().len()
    }

    pub(crate) fn reaches(&self) -> Vec<Reach> {
        self.shared.reaches.lock().expect("reaches").clone()
    }

    /// What calls `Call::Script(key)` do, one step per call, from now on.
    pub(crate) fn script(&self, key: u8, steps: impl IntoIterator<Item = Call>) {
        let steps = steps.into_iter().collect();
        self.shared
            .scripts
            .lock()
            .expect("scripts")
            .insert(key, steps);
    }

    /// Makes every service of the dependency ready, pending or failing, waking those
    /// waiting to be ready.
    pub(crate) fn readiness(&self, readiness: Readiness) {
        let waiting = {
            let mut state = self.shared.readiness.lock().expect("readiness");
            state.0 = readiness;
            std::mem::take(&mut state.1)
        };
        waiting.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn service(&self) -> DependencyService {
        DependencyService {
            dependency: self.clone(),
            calls: 0,
            ready: false,
        }
    }
}

/// A service instance of the dependency: it counts its own calls (a clone starts from
/// its original's count) and knows whether it was polled ready (a clone was not).
#[derive(Debug)]
pub(crate) struct DependencyService {
    dependency: Dependency,
    calls: usize,
    ready: bool,
}

impl Clone for DependencyService {
    fn clone(&self) -> Self {
        DependencyService {
            dependency: self.dependency.clone(),
            calls: self.calls,
            ready: false,
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

impl Service<Call> for DependencyService {
    type Response = u32;
    type Error = BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut state = self.dependency.shared.readiness.lock().expect("readiness");
        match state.0 {
            Readiness::Ready => {
                self.ready = true;
                Poll::Ready(Ok(()))
            }
            Readiness::Pending => {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
            Readiness::Fail => Poll::Ready(Err(BoxError::from("not ready"))),
        }
    }

    fn call(&mut self, call: Call) -> Answer {
        let shared = &self.dependency.shared;
        shared.reaches.lock().expect("reaches").push(Reach {
            before: self.calls,
            readied: self.ready,
        });
        self.calls += 1;
        self.ready = false;
        let call = match call {
            Call::Script(key) => shared
                .scripts
                .lock()
                .expect("scripts")
                .get_mut(&key)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Call::Ok(0)),
            call => call,
        };
        Box::pin(async move {
            match call {
                Call::Ok(value) => Ok(value),
                Call::Fail => Err(BoxError::from("no ack")),
                Call::FailWith(n) => Err(BoxError::from(format!("no ack {n}"))),
                Call::Hang => pending().await,
                Call::OkAfter(delay) => {
                    sleep(delay).await;
                    Ok(1)
                }
                Call::FailAfter(delay) => {
                    sleep(delay).await;
                    Err(BoxError::from("no ack"))
                }
                Call::Panic => panic!("driver bug"),
                Call::Script(_) => unreachable!("a script's steps are not scripts"),
            }
        })
    }
}
