//! Fleet-wide rate limits: [`Redis`] as the [`RateStore`] of shared limiters, deciding
//! each request with one script on the server's clock.

use std::time::Duration;

use hardy_rate_limit::{Degrade, RateStore, StoreError, TakeFuture, TakeRequest, Taken};

use crate::script::Script;
use crate::{Error, Redis};

/// The GCRA of `hardy-rate-limit`, decided atomically in Redis.
static GCRA: Script = Script::new(include_str!("lua/rate_limit.lua"));

/// The script's reply: `{verdict, granted, wait, remaining, reset}`, microseconds.
type Reply = (i64, i64, i64, i64, i64);

impl RateStore for Redis {
    fn take(&self, request: TakeRequest) -> TakeFuture {
        let redis = self.clone();
        Box::pin(async move { redis.take_turns(&request).await.map_err(StoreError::new) })
    }

    fn degrade(&self) -> Degrade {
        self.config().degrade
    }
}

impl Redis {
    /// Decides `request` in one round trip: `EVALSHA`, or `EVAL` when Redis does not
    /// know the script (after a restart or `SCRIPT FLUSH`), which also loads it.
    async fn take_turns(&self, request: &TakeRequest) -> Result<Taken, Error> {
        let key = match &request.key {
            None => self.key(&request.limiter, "rl"),
            Some(key) => self.key(&format!("{}:{key}", request.limiter), "rl"),
        };
        let args = [
            micros(request.interval).max(1),
            u64::from(request.burst),
            micros(request.max_wait),
            u64::from(request.want.max(1)),
        ];
        let reply: Reply = self
            .run(
                |mut connection| async move { GCRA.run(&mut connection, &[&key], &args[..]).await },
            )
            .await?;
        read(reply)
    }
}

/// The script's reply as a decision.
fn read((verdict, granted, wait, _remaining, _reset): Reply) -> Result<Taken, Error> {
    let wait = Duration::from_micros(u64::try_from(wait).unwrap_or(0));
    match verdict {
        0 => match u32::try_from(granted) {
            Ok(granted) if granted >= 1 => Ok(Taken::Now { granted }),
            _ => Err(Error::Reply(format!("granted {granted} turns"))),
        },
        1 => Ok(Taken::After(wait)),
        2 => Ok(Taken::Refused(wait)),
        other => Err(Error::Reply(format!("rate-limit verdict {other}"))),
    }
}

/// Whole microseconds, rounded to the nearest: the script's unit.
fn micros(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    u64::try_from((nanos + 500) / 1000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_decisions() {
        assert_eq!(
            read((0, 3, 0, 7, 30_000)).unwrap(),
            Taken::Now { granted: 3 }
        );
        assert_eq!(
            read((1, 1, 2_500, 0, 12_000)).unwrap(),
            Taken::After(Duration::from_micros(2_500))
        );
        assert_eq!(
            read((2, 0, 9_000, 0, 12_000)).unwrap(),
            Taken::Refused(Duration::from_micros(9_000))
        );
        assert!(read((0, 0, 0, 0, 0)).is_err());
        assert!(read((5, 1, 0, 0, 0)).is_err());
    }

    #[test]
    fn durations_become_whole_microseconds() {
        assert_eq!(micros(Duration::from_nanos(333_333_333)), 333_333);
        assert_eq!(micros(Duration::from_nanos(1_499)), 1);
        assert_eq!(micros(Duration::from_nanos(1_500)), 2);
        assert_eq!(micros(Duration::ZERO), 0);
    }
}
