//! [`Redis`]: the handle every shared pattern reaches Redis through, each call bounded
//! by a Hardy timeout and guarded by a Hardy breaker.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use hardy_breaker::{BreakerEvent, BreakerState, CircuitBreaker};
use hardy_core::{ConfigError, Listener, Name};
use hardy_timeout::Timeout;
use metrics::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisResult};
use tokio::sync::OnceCell;

use crate::config::COMPONENT;
use crate::connection::Connection;
use crate::fleet::Fleet;
use crate::{Error, RedisBuilder, RedisConfig};

/// `hardy_redis_calls_total{name, outcome}`: calls to Redis by outcome: `ok`, `failed`
/// (Redis answered with an error or could not be reached) or `refused` (by the guard:
/// the timeout expired or the guard breaker is open).
pub const METRIC_CALLS: &str = "hardy_redis_calls_total";

/// A connection to Redis for the patterns a fleet shares: rate limits
/// ([`RateStore`](hardy_rate_limit::RateStore)), breaker state, last known good values.
///
/// Redis is a dependency like any other, so every call to it is bounded by a Hardy
/// timeout ([`RedisConfig::timeout`], a few milliseconds by default) and guarded by a
/// Hardy circuit breaker ([`RedisConfig::guard`]): while Redis is down or stalled,
/// calls fail within the timeout, then at once while the guard is open, and each shared
/// handle degrades as its own settings say; the guard's probes find Redis again. The
/// connection is made on the first call and remade in the background after a failure
/// (one multiplexed connection to a server, or a cluster connection to every node).
///
/// `Redis` is cheap to clone; clones share the connection and the guard.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hardy_rate_limit::RateLimiter;
/// use hardy_redis::Redis;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = Redis::builder("fleet").url("redis://127.0.0.1:6379").build()?;
/// // 100 calls a second for the whole fleet, however many instances run this.
/// let api = RateLimiter::builder("weather-api")
///     .per(100, Duration::from_secs(1))
///     .fleet_size(4)
///     .build_shared(Arc::new(redis.clone()))?;
/// api.acquire().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

/// Running totals of a [`Redis`] handle since it was built, kept in the process whether
/// or not a `metrics` recorder is installed; made by [`Redis::stats`]. Each total only
/// grows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// The handle's name.
    pub name: Name,
    /// Calls Redis answered.
    pub ok: u64,
    /// Calls that failed (a Redis error, a lost connection).
    pub failed: u64,
    /// Calls refused without reaching Redis (the guard open, or its timeout).
    pub refused: u64,
}

pub(crate) struct Inner {
    name: Name,
    config: RedisConfig,
    link: Link,
    timeout: Timeout,
    guard: CircuitBreaker,
    ok: Counter,
    failed: Counter,
    refused: Counter,
    /// The calls counted in the process: `ok`, `failed`, `refused`.
    totals: [AtomicU64; 3],
    /// This instance, as the fleet knows it (probe slots, who opened a breaker).
    instance: String,
    /// The breakers shared through this handle.
    fleet: Fleet,
}

/// How the handle reaches Redis; the connection is made on first use, in a runtime.
enum Link {
    Server {
        client: redis::Client,
        config: ConnectionManagerConfig,
        manager: OnceLock<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        connection: OnceCell<ClusterConnection>,
    },
}

impl Redis {
    /// Starts building a handle named `name`; the name labels its metrics, its guard's
    /// breaker and timeout, and their rejections.
    pub fn builder(name: impl Into<Name>) -> RedisBuilder {
        RedisBuilder::new(name.into())
    }

    /// A handle named `name` with the settings of `config`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting.
    pub fn from_config(name: impl Into<Name>, config: RedisConfig) -> Result<Self, ConfigError> {
        Redis::builder(name).config(config).build()
    }

    pub(crate) fn from_parts(
        name: Name,
        config: RedisConfig,
        guard_listener: Listener<BreakerEvent>,
    ) -> Result<Self, ConfigError> {
        let link = if config.cluster.is_empty() {
            let client = redis::Client::open(config.url.as_str()).map_err(|error| {
                ConfigError::new(COMPONENT, &name, "url", &config.url, error.to_string())
            })?;
            Link::Server {
                client,
                config: ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    // Hardy's timeout bounds each call; a reply that comes later is
                    // read and dropped, keeping the connection in step.
                    .set_response_timeout(None),
                manager: OnceLock::new(),
            }
        } else {
            let client = ClusterClient::builder(config.cluster.iter().map(String::as_str))
                .connection_timeout(config.connect_timeout)
                .build()
                .map_err(|error| {
                    ConfigError::new(
                        COMPONENT,
                        &name,
                        "cluster",
                        &config.cluster,
                        error.to_string(),
                    )
                })?;
            Link::Cluster {
                client,
                connection: OnceCell::new(),
            }
        };
        let timeout = Timeout::new(name.clone(), config.timeout)?;
        let guard = CircuitBreaker::builder(name.clone())
            .config(config.guard.clone())
            .listener(guard_listener)
            .build()?;
        metrics::describe_counter!(
            METRIC_CALLS,
            metrics::Unit::Count,
            "Calls to Redis by outcome"
        );
        let calls = |outcome: &'static str| metrics::counter!(METRIC_CALLS, "name" => name.to_string(), "outcome" => outcome);
        Ok(Redis {
            inner: Arc::new(Inner {
                ok: calls("ok"),
                failed: calls("failed"),
                refused: calls("refused"),
                totals: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
                name,
                config,
                link,
                timeout,
                guard,
                instance: instance_id(),
                fleet: Fleet::new(),
            }),
        })
    }

    /// The handle's name.
    #[must_use]
    pub fn name(&self) -> &Name {
        &self.inner.name
    }

    /// Its running totals since it was built: calls to Redis answered, failed and
    /// refused by the guard, without a `metrics` recorder.
    #[must_use]
    pub fn stats(&self) -> RedisStats {
        let read = |index: usize| self.inner.totals[index].load(Ordering::Relaxed);
        RedisStats {
            name: self.inner.name.clone(),
            ok: read(0),
            failed: read(1),
            refused: read(2),
        }
    }

    /// The handle's settings.
    #[must_use]
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// The breaker guarding every call to Redis: open while Redis is failing.
    #[must_use]
    pub fn guard(&self) -> &CircuitBreaker {
        &self.inner.guard
    }

    /// Whether calls to Redis are being refused at once now: the guard is open.
    #[must_use]
    pub fn is_guard_open(&self) -> bool {
        self.inner.guard.state() == BreakerState::Open
    }

    /// Sends a command to Redis, bounded by the timeout and guarded by the breaker, and
    /// reads its reply as a `T`: the direct call, for what the shared patterns do not
    /// cover.
    ///
    /// # Errors
    ///
    /// [`Error::Redis`] when Redis fails it or cannot be reached; [`Error::Rejected`]
    /// when the timeout expires or the guard is open.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        self.run(|mut connection| async move { connection.query(cmd).await })
            .await
    }

    /// Runs `operation` on a connection, bounded by the timeout and guarded by the
    /// breaker, counted once.
    pub(crate) async fn run<T, F, Fut>(&self, operation: F) -> Result<T, Error>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let inner = &*self.inner;
        let result = inner
            .guard
            .call(|| async {
                inner
                    .timeout
                    .call(|| async { operation(self.connection().await?).await })
                    .await
                    .map_err(Error::from)
            })
            .await
            .map_err(Error::from);
        let (counter, total) = match &result {
            Ok(_) => (&inner.ok, 0),
            Err(Error::Rejected(_)) => (&inner.refused, 2),
            Err(_) => (&inner.failed, 1),
        };
        counter.increment(1);
        inner.totals[total].fetch_add(1, Ordering::Relaxed);
        result
    }

    /// The connection, made on first use.
    async fn connection(&self) -> RedisResult<Connection> {
        match &self.inner.link {
            Link::Server {
                client,
                config,
                manager,
            } => {
                if let Some(manager) = manager.get() {
                    return Ok(Connection::Server(manager.clone()));
                }
                let made = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
                Ok(Connection::Server(manager.get_or_init(|| made).clone()))
            }
            Link::Cluster { client, connection } => connection
                .get_or_try_init(|| client.get_async_connection())
                .await
                .cloned()
                .map(Connection::Cluster),
        }
    }

    /// This instance, as the fleet knows it: random, per handle.
    pub(crate) fn instance(&self) -> &str {
        &self.inner.instance
    }

    pub(crate) fn fleet(&self) -> &Fleet {
        &self.inner.fleet
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(inner: &Weak<Inner>) -> Option<Redis> {
        inner.upgrade().map(|inner| Redis { inner })
    }

    /// The client of a single server (for a pub/sub connection); `None` on a cluster.
    pub(crate) fn server_client(&self) -> Option<&redis::Client> {
        match &self.inner.link {
            Link::Server { client, .. } => Some(client),
            Link::Cluster { .. } => None,
        }
    }

    /// The full name of a key Hardy keeps for `what` of the handle-independent
    /// `owner` (a limiter, a breaker), hash-tagged by `tag`: `<prefix>:{<tag>}:<what>`.
    pub(crate) fn key(&self, tag: &str, what: &str) -> String {
        format!("{}:{{{tag}}}:{what}", self.inner.config.key_prefix)
    }
}

/// A random name for this instance.
fn instance_id() -> String {
    use rand::{Rng, SeedableRng};
    let id: u64 = rand::rngs::SmallRng::from_os_rng().random();
    format!("{id:016x}")
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
