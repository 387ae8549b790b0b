//! A shared level for last known good values: [`Redis`] as the [`SharedLevel`] of
//! `hardy-fallback`'s stores, so a fresh instance can answer a failed call with what
//! another instance last saw.
//!
//! A store's responses live in one hash (`<prefix>:{lkg:<store>}:values`, one slot on a
//! cluster), each stamped with the server's clock, so ages do not depend on the
//! instances' clocks. The hash expires once the store has saved nothing for its
//! `max_staleness`.

use std::time::Duration;

use hardy_core::Name;
use hardy_fallback::{LevelError, LevelFuture, SharedLevel, Stored};

use crate::Redis;
use crate::script::Script;

static SAVE: Script = Script::new(include_str!("lua/last_good_save.lua"));
static LOAD: Script = Script::new(include_str!("lua/last_good_load.lua"));

impl Redis {
    fn last_good_key(&self, store: &Name) -> String {
        self.key(&format!("lkg:{store}"), "values")
    }
}

impl SharedLevel for Redis {
    fn load(&self, store: &Name, key: &str) -> LevelFuture<Option<Stored>> {
        let (redis, hash, key) = (self.clone(), self.last_good_key(store), key.to_owned());
        Box::pin(async move {
            let found: Option<(u64, Vec<u8>)> = redis
                .run(
                    |mut connection| async move { LOAD.run(&mut connection, &[&hash], &key).await },
                )
                .await
                .map_err(LevelError::new)?;
            Ok(found.map(|(age, value)| Stored {
                value,
                age: Duration::from_millis(age),
            }))
        })
    }

    fn save(&self, store: &Name, key: &str, value: Vec<u8>, keep: Duration) -> LevelFuture<()> {
        let (redis, hash, key) = (self.clone(), self.last_good_key(store), key.to_owned());
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        Box::pin(async move {
            redis
                .run(|mut connection| async move {
                    SAVE.run::<i64, _>(&mut connection, &[&hash], (key, value, keep))
                        .await
                })
                .await
                .map(drop)
                .map_err(LevelError::new)
        })
    }

    fn forget(&self, store: &Name, key: Option<&str>) -> LevelFuture<()> {
        let hash = self.last_good_key(store);
        let cmd = match key {
            Some(key) => {
                let mut cmd = redis::cmd("HDEL");
                cmd.arg(&hash).arg(key);
                cmd
            }
            None => {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(&hash);
                cmd
            }
        };
        let redis = self.clone();
        Box::pin(async move {
            redis
                .query::<i64>(&cmd)
                .await
                .map(drop)
                .map_err(LevelError::new)
        })
    }
}
