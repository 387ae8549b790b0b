//! [`HealthCheck`], [`CheckResult`] and the built-in checks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::Status;

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// The status found.
    pub status: Status,
    /// Why, when there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl CheckResult {
    /// Healthy, nothing to say.
    #[must_use]
    pub fn healthy() -> Self {
        CheckResult {
            status: Status::Healthy,
            message: None,
        }
    }

    /// Degraded, and why.
    pub fn degraded(message: impl Into<String>) -> Self {
        CheckResult {
            status: Status::Degraded,
            message: Some(message.into()),
        }
    }

    /// Unhealthy, and why.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        CheckResult {
            status: Status::Unhealthy,
            message: Some(message.into()),
        }
    }
}

impl From<Status> for CheckResult {
    fn from(status: Status) -> Self {
        CheckResult {
            status,
            message: None,
        }
    }
}

/// `Ok(())` is healthy; `Err(e)` is unhealthy with `e` as the message.
impl<E: fmt::Display> From<Result<(), E>> for CheckResult {
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => CheckResult::healthy(),
            Err(error) => CheckResult::unhealthy(error.to_string()),
        }
    }
}

/// A health check: looks at one dependency or one part of the program and says how it
/// is.
///
/// The registry runs it with a timeout (a check that takes longer is unhealthy), on its
/// own task (a check that panics is unhealthy), never more than one run at a time, and
/// caches the result for its interval, so however often the probes ask, the dependency
/// is asked at most once per interval.
///
/// # Examples
///
/// ```
/// use hardy_health::{CheckResult, HealthCheck};
///
/// struct Tank { litres: f64 }
///
/// impl HealthCheck for Tank {
///     async fn check(&self) -> CheckResult {
///         match self.litres {
///             l if l < 1.0 => CheckResult::unhealthy(format!("{l} l left")),
///             l if l < 5.0 => CheckResult::degraded(format!("{l} l left")),
///             _ => CheckResult::healthy(),
///         }
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = CheckResult> + Send;
}

/// A boxed, object-safe form of [`HealthCheck`], for the registry.
pub(crate) trait DynCheck: Send + Sync {
    fn run(&self) -> Pin<Box<dyn Future<Output = CheckResult> + Send + '_>>;
}

impl<T: HealthCheck> DynCheck for T {
    fn run(&self) -> Pin<Box<dyn Future<Output = CheckResult> + Send + '_>> {
        Box::pin(self.check())
    }
}

/// A check made of a closure returning a future; made by [`check_fn`].
#[derive(Clone)]
pub struct FnCheck<F> {
    check: F,
}

impl<F> fmt::Debug for FnCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCheck").finish_non_exhaustive()
    }
}

/// A check made of a closure: each run calls it and awaits the future it returns,
/// whose output becomes a [`CheckResult`] (a `CheckResult`, a [`Status`], or a
/// `Result<(), E>` with `E: Display`).
///
/// # Examples
///
/// ```
/// use hardy_health::{check_fn, Status};
///
/// let disk = check_fn(|| async { Ok::<(), std::io::Error>(()) });
/// let fixed = check_fn(|| async { Status::Degraded });
/// # let _ = (disk, fixed);
/// ```
pub fn check_fn<F, Fut, R>(check: F) -> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
    R: Into<CheckResult>,
{
    FnCheck { check }
}

impl<F, Fut, R> HealthCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
    R: Into<CheckResult>,
{
    async fn check(&self) -> CheckResult {
        (self.check)().await.into()
    }
}

/// Healthy when a TCP connection to the address can be opened (and it is closed at
/// once); unhealthy with the connection error otherwise. The registry's timeout bounds
/// the attempt.
///
/// # Examples
///
/// ```
/// use hardy_health::TcpCheck;
///
/// let mqtt = TcpCheck::new("127.0.0.1:1883");
/// assert_eq!(mqtt.address(), "127.0.0.1:1883");
/// ```
#[derive(Debug, Clone)]
pub struct TcpCheck {
    address: String,
}

impl TcpCheck {
    /// Checks that `address` (`host:port`) accepts connections.
    pub fn new(address: impl Into<String>) -> Self {
        TcpCheck {
            address: address.into(),
        }
    }

    /// The address checked.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl HealthCheck for TcpCheck {
    async fn check(&self) -> CheckResult {
        match tokio::net::TcpStream::connect(&self.address).await {
            Ok(_) => CheckResult::healthy(),
            Err(error) => CheckResult::unhealthy(format!("connect {}: {error}", self.address)),
        }
    }
}

/// A circuit breaker's health: closed (or disabled, or only recording) is healthy;
/// open, forced open or half-open is degraded — the program still serves, without the
/// dependency behind the breaker.
#[cfg(feature = "breaker")]
#[derive(Debug, Clone)]
pub struct BreakerCheck {
    breaker: hardy_breaker::CircuitBreaker,
}

#[cfg(feature = "breaker")]
impl BreakerCheck {
    /// Reports the health of `breaker`.
    pub fn new(breaker: hardy_breaker::CircuitBreaker) -> Self {
        BreakerCheck { breaker }
    }
}

#[cfg(feature = "breaker")]
impl HealthCheck for BreakerCheck {
    async fn check(&self) -> CheckResult {
        use hardy_breaker::BreakerState;
        match self.breaker.state() {
            BreakerState::Closed | BreakerState::Disabled | BreakerState::MetricsOnly => {
                CheckResult::healthy()
            }
            state => {
                CheckResult::degraded(format!("breaker \"{}\" is {state}", self.breaker.name()))
            }
        }
    }
}

/// A pool's health: degraded while it is exhausted (every object in use and callers
/// waiting) or when `get`s timed out since the last run of the check; healthy
/// otherwise. A pool is a dependency's capacity, not the dependency: it degrades, it
/// does not fail.
#[cfg(feature = "pool")]
pub struct PoolCheck<M: hardy_pool::Manager> {
    pool: hardy_pool::Pool<M>,
    timeouts: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "pool")]
impl<M: hardy_pool::Manager> PoolCheck<M> {
    /// Reports the health of `pool`.
    pub fn new(pool: hardy_pool::Pool<M>) -> Self {
        let timeouts = pool.stats().timeouts;
        PoolCheck {
            pool,
            timeouts: std::sync::atomic::AtomicU64::new(timeouts),
        }
    }
}

#[cfg(feature = "pool")]
impl<M: hardy_pool::Manager> fmt::Debug for PoolCheck<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCheck")
            .field("pool", self.pool.name())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "pool")]
impl<M: hardy_pool::Manager> HealthCheck for PoolCheck<M> {
    async fn check(&self) -> CheckResult {
        use std::sync::atomic::Ordering;
        let status = self.pool.stats();
        let before = self.timeouts.swap(status.timeouts, Ordering::AcqRel);
        if status.closed {
            return CheckResult::unhealthy(format!("pool \"{}\" is closed", self.pool.name()));
        }
        if status.timeouts > before {
            return CheckResult::degraded(format!(
                "pool \"{}\": {} gets timed out",
                self.pool.name(),
                status.timeouts - before
            ));
        }
        if status.waiting > 0 && status.in_use >= status.max_size + status.max_overflow {
            return CheckResult::degraded(format!(
                "pool \"{}\" is exhausted: {} in use, {} waiting",
                self.pool.name(),
                status.in_use,
                status.waiting
            ));
        }
        CheckResult::healthy()
    }
}
