//! [`RetryBudget`]: a token bucket that keeps retries a fraction of the traffic.

use std::fmt;
use std::time::Duration;

use hardy_core::sync::Tally;
use hardy_core::{ConfigError, Name};
use tokio::time::Instant;

use crate::RetryBudgetConfig;
use crate::sync::{Arc, Mutex};

/// Tokens are counted in thousandths.
const MILLI: u64 = 1_000;

/// A retry budget shared by every call (and every [`Retry`](crate::Retry)) that draws
/// on it: retries are allowed only while the budget holds a token, so when a
/// dependency is down, retries add at most a fixed share to the traffic instead of
/// multiplying it by the number of attempts.
///
/// Each call deposits [`retry_ratio`](RetryBudgetConfig::retry_ratio) tokens
/// ([`deposit`](Self::deposit), done by `Retry` at the start of every call); time adds
/// [`min_retries_per_second`](RetryBudgetConfig::min_retries_per_second); a retry takes
/// a whole token ([`try_withdraw`](Self::try_withdraw)); the balance never exceeds
/// [`max_balance`](RetryBudgetConfig::max_balance). In the style of gRPC's retry
/// throttling and Finagle's retry budget.
///
/// Exact under concurrency: two callers can never spend the same token. A deposit adds
/// to the calling thread's own counter (a `hardy_core::sync::Tally`: a load and a
/// store, no atomic read-modify-write); a withdrawal settles the deposits and the time
/// elapsed under a short lock, taken only by retries.
///
/// # Examples
///
/// ```
/// use hardy_retry::{RetryBudget, RetryBudgetConfig};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), hardy_core::ConfigError> {
/// let budget = RetryBudget::new("aws", RetryBudgetConfig {
///     retry_ratio: 0.5,
///     min_retries_per_second: 0.0,
///     max_balance: 1,
/// })?;
/// assert!(budget.try_withdraw()); // the budget starts full: one token
/// assert!(!budget.try_withdraw());
/// budget.deposit();
/// budget.deposit(); // two calls, half a token each
/// assert!(budget.try_withdraw());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    name: Name,
    config: RetryBudgetConfig,
    /// Thousandths of a token each call deposits.
    per_call: u64,
    /// Thousandths of a token time adds each second.
    per_second: u64,
    /// The most thousandths of a token the budget holds.
    cap: u64,
    deposits: Tally,
    ledger: Mutex<Ledger>,
}

/// The balance as of the last settlement.
struct Ledger {
    /// Thousandths of a token.
    balance: u64,
    /// The sum of the deposit counters already in `balance`.
    counted: u64,
    /// The time up to which refills are in `balance`.
    refilled_to: Instant,
}

impl RetryBudget {
    /// A budget named `name` (for its errors and `Debug`), full.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting of `config`.
    pub fn new(name: impl Into<Name>, config: RetryBudgetConfig) -> Result<Self, ConfigError> {
        let name = name.into();
        config.validate(&name)?;
        // Rounded down: the budget never allows more than its settings say.
        let milli = |tokens: f64| (tokens * MILLI as f64).floor() as u64;
        let cap = u64::from(config.max_balance) * MILLI;
        Ok(RetryBudget {
            shared: Arc::new(Shared {
                name,
                per_call: milli(config.retry_ratio),
                per_second: milli(config.min_retries_per_second),
                cap,
                config,
                deposits: Tally::new(),
                ledger: Mutex::new(Ledger {
                    balance: cap,
                    counted: 0,
                    refilled_to: Instant::now(),
                }),
            }),
        })
    }

    /// The budget's name.
    pub fn name(&self) -> &Name {
        &self.shared.name
    }

    /// The budget's settings.
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.shared.config
    }

    /// A call was made: deposits `retry_ratio` tokens. One atomic addition.
    #[inline]
    pub fn deposit(&self) {
        let shared = &*self.shared;
        if shared.per_call != 0 {
            shared.deposits.add(shared.per_call);
        }
    }

    /// Takes a token for a retry, if the budget holds one; `false` means the retry must
    /// not be made.
    pub fn try_withdraw(&self) -> bool {
        let mut ledger = self.shared.ledger.lock();
        self.settle(&mut ledger);
        if ledger.balance >= MILLI {
            ledger.balance -= MILLI;
            true
        } else {
            false
        }
    }

    /// The tokens the budget holds now, in whole and fractional retries.
    pub fn balance(&self) -> f64 {
        let mut ledger = self.shared.ledger.lock();
        self.settle(&mut ledger);
        ledger.balance as f64 / MILLI as f64
    }

    /// Brings the ledger up to date: the deposits made since the last settlement and the
    /// refill of the time elapsed, capped.
    fn settle(&self, ledger: &mut Ledger) {
        let shared = &*self.shared;
        let deposited = shared.deposits.sum();
        let new = deposited.wrapping_sub(ledger.counted);
        ledger.counted = deposited;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(ledger.refilled_to);
        let refill = if shared.per_second == 0 {
            ledger.refilled_to = now;
            0
        } else {
            let refill =
                u64::try_from(elapsed.as_nanos() * u128::from(shared.per_second) / 1_000_000_000)
                    .unwrap_or(u64::MAX);
            // Keep the time of the fraction of a thousandth not yet granted.
            let granted =
                u64::try_from(u128::from(refill) * 1_000_000_000 / u128::from(shared.per_second))
                    .unwrap_or(u64::MAX);
            ledger.refilled_to += Duration::from_nanos(granted).min(elapsed);
            refill
        };
        ledger.balance = ledger
            .balance
            .saturating_add(new)
            .saturating_add(refill)
            .min(shared.cap);
        if ledger.balance == shared.cap {
            // A full budget saves nothing up for later.
            ledger.refilled_to = now;
        }
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(retry_ratio: f64, min_retries_per_second: f64, max_balance: u32) -> RetryBudget {
        RetryBudget::new(
            "b",
            RetryBudgetConfig {
                retry_ratio,
                min_retries_per_second,
                max_balance,
            },
        )
        .unwrap()
    }

    fn drain(budget: &RetryBudget) -> u32 {
        let mut taken = 0;
        while budget.try_withdraw() {
            taken += 1;
        }
        taken
    }

    #[tokio::test(start_paused = true)]
    async fn starts_full_and_refuses_when_empty() {
        let budget = budget(0.1, 0.0, 5);
        assert_eq!(budget.balance(), 5.0);
        assert_eq!(drain(&budget), 5);
        assert!(!budget.try_withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_deposit_their_ratio() {
        let budget = budget(0.1, 0.0, 100);
        drain(&budget);
        for _ in 0..25 {
            budget.deposit();
        }
        assert!((budget.balance() - 2.5).abs() < 1e-9);
        assert_eq!(drain(&budget), 2);
        assert!((budget.balance() - 0.5).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn time_refills_at_the_minimum_rate_up_to_the_cap() {
        let budget = budget(0.0, 3.0, 10);
        drain(&budget);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(drain(&budget), 1, "1.5 tokens after half a second");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(drain(&budget), 2, "the half token carried over, plus 1.5");
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(drain(&budget), 10, "capped at max_balance");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_refills_lose_no_fraction() {
        // A third of a token a second: 3 ms of refill is not a whole thousandth, and
        // must not be lost when settled often.
        let budget = budget(0.0, 0.333, 1);
        drain(&budget);
        for _ in 0..1_000 {
            tokio::time::advance(Duration::from_millis(3)).await;
            assert!(budget.balance() < 1.0);
        }
        tokio::time::advance(Duration::from_millis(4)).await;
        assert!(
            budget.try_withdraw(),
            "3.004 s at 0.333 a second is a token"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_budget_saves_nothing_up() {
        let budget = budget(0.0, 1.0, 2);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(drain(&budget), 2);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!budget.try_withdraw());
    }

    #[test]
    fn deposits_from_many_threads_all_count() {
        let budget = budget(1.0, 0.0, MAX_TEST_BALANCE);
        drain(&budget);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        budget.deposit();
                    }
                });
            }
        });
        assert_eq!(drain(&budget), 4_000);
    }

    const MAX_TEST_BALANCE: u32 = 10_000;

    #[test]
    fn withdrawals_from_many_threads_never_overdraw() {
        // A cap the deposits never reach, so that none is capped away.
        let budget = budget(0.5, 0.0, 100_000);
        assert_eq!(drain(&budget), 100_000);
        let taken = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        budget.deposit();
                        if budget.try_withdraw() {
                            taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // Half a token for each of 40,000 calls: spent or still there, none twice.
        assert_eq!(taken.into_inner() + drain(&budget), 20_000);
    }
}

/// Loom models: `RUSTFLAGS="--cfg hardy_loom" cargo test -p hardy-retry --lib --release loom`.
#[cfg(all(test, hardy_loom))]
mod loom_models {
    use super::*;

    /// Two threads each depositing and withdrawing: no token is spent twice and none is
    /// lost, in every interleaving.
    #[test]
    fn loom_budget_is_exact() {
        loom::model(|| {
            let budget = RetryBudget::new(
                "b",
                RetryBudgetConfig {
                    retry_ratio: 0.5,
                    min_retries_per_second: 0.0,
                    max_balance: 2,
                },
            )
            .unwrap();
            assert!(budget.try_withdraw());
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let budget = budget.clone();
                    loom::thread::spawn(move || {
                        budget.deposit();
                        u32::from(budget.try_withdraw()) + u32::from(budget.try_withdraw())
                    })
                })
                .collect();
            let taken: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
            // One token left at the start, plus two half-token deposits.
            let left = budget.balance();
            assert_eq!(f64::from(taken) + left, 2.0);
        });
    }
}
