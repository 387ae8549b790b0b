//! Shared breaker state: [`Redis`] as the [`BreakerStore`] of breakers a fleet shares.
//!
//! One task per handle follows the fleet for every shared breaker built on it: it
//! shares this instance's transitions (a script that sets or clears the state and
//! publishes the change), asks for half-open probe slots counted for the whole fleet,
//! and moves the breakers on the fleet's word, pushed by pub/sub (on a single server)
//! and read every `poll_interval` as the fallback.

use std::sync::{PoisonError, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use hardy_breaker::{BreakerState, BreakerStore, FleetChange, FleetLink};
use tokio::sync::mpsc;

use crate::handle::Inner;
use crate::script::Script;
use crate::{Error, Redis};

static SHARE: Script = Script::new(include_str!("lua/breaker_share.lua"));
static PROBES: Script = Script::new(include_str!("lua/breaker_probes.lua"));
static POLL: Script = Script::new(include_str!("lua/breaker_poll.lua"));

impl BreakerStore for Redis {
    /// Starts following the fleet for `link`'s breaker. The handle's follower task
    /// starts on the Tokio runtime of the first breaker built (or, built outside one,
    /// of its first transition); until then the breaker works on its own.
    fn attach(&self, link: FleetLink) {
        let Some(breaker) = link.breaker() else {
            return;
        };
        self.fleet()
            .links()
            .insert(breaker.name().to_string(), link);
        self.start_following();
    }

    fn changed(&self, change: FleetChange) {
        // The follower ends only when the handle is gone: then nobody listens.
        let _ = self.fleet().changes.send(change);
        self.start_following();
    }
}

impl Redis {
    /// Starts the follower task, once, if there is a runtime to run it.
    fn start_following(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let receiver = self
            .fleet()
            .receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(receiver) = receiver {
            runtime.spawn(follow(self.downgrade(), receiver));
        }
    }
}

/// The names of a breaker's keys and channel.
struct Keys {
    state: String,
    probes: String,
    channel: String,
}

impl Redis {
    fn breaker_keys(&self, name: &str) -> Keys {
        let tag = format!("brk:{name}");
        Keys {
            state: self.key(&tag, "state"),
            probes: self.key(&tag, "probes"),
            channel: self.key(&tag, "events"),
        }
    }

    /// The channels of every shared breaker, as a pattern.
    fn breaker_channels(&self) -> String {
        self.key("brk:*", "events")
    }

    /// Shares a transition this instance's breaker made by itself.
    async fn share(&self, change: &FleetChange) -> Result<(), Error> {
        let keys = self.breaker_keys(&change.name);
        let (what, open_ms) = match change.to {
            BreakerState::Open => ("open", millis(change.open_for.unwrap_or_default())),
            BreakerState::Closed => ("closed", 0),
            _ => return Ok(()),
        };
        let instance = self.instance().to_owned();
        let args = (
            what,
            open_ms,
            instance,
            keys.channel,
            change.half_open_calls,
        );
        self.run(|mut connection| async move {
            SHARE
                .run::<i64, _>(&mut connection, &[&keys.state, &keys.probes], args)
                .await
        })
        .await
        .map(drop)
    }

    /// Asks for half-open probe slots; while Redis cannot be reached, every slot
    /// asked for (the breaker then works on its own).
    async fn probe_slots(&self, name: &str, wanted: u32) -> u32 {
        let keys = self.breaker_keys(name);
        let lease = millis(self.config().probe_lease);
        let args = (self.instance().to_owned(), wanted, wanted, lease);
        self.run(|mut connection| async move {
            PROBES
                .run::<u32, _>(&mut connection, &[&keys.probes], args)
                .await
        })
        .await
        .unwrap_or(wanted)
    }

    /// Who opened the breaker `name` in the fleet, and for how long more; `None` when
    /// it is not open (or Redis cannot say).
    async fn fleet_state(&self, name: &str) -> Option<(String, Duration)> {
        let keys = self.breaker_keys(name);
        let (opener, remaining): (String, i64) = self
            .run(|mut connection| async move {
                POLL.run(&mut connection, &[&keys.state], Vec::<String>::new())
                    .await
            })
            .await
            .ok()?;
        let remaining = u64::try_from(remaining).ok().filter(|ms| *ms > 0)?;
        (!opener.is_empty()).then(|| (opener, Duration::from_millis(remaining)))
    }

    /// Subscribes to every shared breaker's channel, on a connection of its own; on a
    /// cluster, `None`: polling alone follows the fleet.
    async fn subscribe(&self) -> Option<redis::aio::PubSubStream> {
        let client = self.server_client()?;
        let pattern = self.breaker_channels();
        let subscribing = async {
            let mut pubsub = client.get_async_pubsub().await.ok()?;
            pubsub.psubscribe(pattern).await.ok()?;
            Some(pubsub.into_on_message())
        };
        tokio::time::timeout(self.config().connect_timeout, subscribing)
            .await
            .ok()
            .flatten()
    }
}

/// The follower task of a handle: ends once the handle is dropped.
async fn follow(redis: Weak<Inner>, mut changes: mpsc::UnboundedReceiver<FleetChange>) {
    let Some(interval) = Redis::upgrade(&redis).map(|redis| redis.config().poll_interval) else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pushes: Option<redis::aio::PubSubStream> = None;
    loop {
        tokio::select! {
            change = changes.recv() => {
                let (Some(change), Some(redis)) = (change, Redis::upgrade(&redis)) else {
                    return;
                };
                on_change(&redis, change).await;
            }
            message = next_push(&mut pushes) => match (message, Redis::upgrade(&redis)) {
                (Some(message), Some(redis)) => on_push(&redis, &message),
                (None, _) => pushes = None,
                (_, None) => return,
            },
            _ = tick.tick() => {
                let Some(redis) = Redis::upgrade(&redis) else {
                    return;
                };
                if pushes.is_none() {
                    pushes = redis.subscribe().await;
                }
                poll(&redis).await;
            }
        }
    }
}

/// The next message pushed, or never while not subscribed.
async fn next_push(pushes: &mut Option<redis::aio::PubSubStream>) -> Option<redis::Msg> {
    match pushes {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn on_change(redis: &Redis, change: FleetChange) {
    if change.to == BreakerState::HalfOpen {
        let granted = redis
            .probe_slots(&change.name, change.half_open_calls)
            .await;
        if let Some(link) = redis.fleet().links().get(change.name.as_str()) {
            link.grant_probes(change.generation, granted);
        }
        return;
    }
    // Not shared now (Redis away): the fleet learns of it by its own breakers.
    let _ = redis.share(&change).await;
}

/// Applies a change another instance published: `<open|closed> <ms> <instance>`.
fn on_push(redis: &Redis, message: &redis::Msg) {
    let Some(name) = breaker_of(message.get_channel_name()) else {
        return;
    };
    let Ok(payload) = message.get_payload::<String>() else {
        return;
    };
    let mut parts = payload.split(' ');
    let (Some(what), Some(ms), Some(instance)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if instance == redis.instance() {
        return;
    }
    let Some(link) = redis.fleet().links().get(name).cloned() else {
        return;
    };
    match (what, ms.parse::<u64>()) {
        ("open", Ok(ms)) => link.open(Duration::from_millis(ms)),
        ("closed", _) => link.close(),
        _ => {}
    }
}

/// Reads every shared breaker's state: opens those another instance opened, and asks
/// again for the probes of those still waiting for some.
async fn poll(redis: &Redis) {
    let links: Vec<(String, FleetLink)> = {
        let mut links = redis.fleet().links();
        links.retain(|_, link| link.is_alive());
        links
            .iter()
            .map(|(name, link)| (name.clone(), link.clone()))
            .collect()
    };
    for (name, link) in links {
        if let Some((opener, remaining)) = redis.fleet_state(&name).await
            && opener != redis.instance()
        {
            link.open(remaining);
        }
        if let Some(generation) = link.awaiting_probes() {
            let half_open_calls = link
                .breaker()
                .map_or(0, |breaker| breaker.config().half_open_calls);
            let granted = redis.probe_slots(&name, half_open_calls).await;
            link.grant_probes(generation, granted);
        }
    }
}

/// The breaker a channel `<prefix>:{brk:<name>}:events` is about.
fn breaker_of(channel: &str) -> Option<&str> {
    let start = channel.find("{brk:")? + "{brk:".len();
    let end = channel.rfind("}:events")?;
    channel.get(start..end)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_breaker() {
        assert_eq!(breaker_of("hardy:{brk:payments}:events"), Some("payments"));
        assert_eq!(breaker_of("p:{brk:a:b}:events"), Some("a:b"));
        assert_eq!(breaker_of("hardy:{rl}:events"), None);
    }
}
