//! Lua scripts run by their hash, and by their text when Redis does not know them.

use std::sync::OnceLock;

use redis::{ErrorKind, FromRedisValue, RedisResult, ServerErrorKind, ToRedisArgs};

use crate::connection::Connection;

/// A Lua script with its SHA-1, by which Redis knows it once loaded.
pub(crate) struct Script {
    text: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    pub(crate) const fn new(text: &'static str) -> Self {
        Script {
            text,
            sha: OnceLock::new(),
        }
    }

    fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| redis::Script::new(self.text).get_hash().to_owned())
    }

    /// Runs the script on `keys` (in one hash slot) with `args`, in one round trip:
    /// `EVALSHA`, or `EVAL` when Redis does not know the script (after a restart or
    /// `SCRIPT FLUSH`), which also loads it. A script that ran is never run again.
    pub(crate) async fn run<T, A>(
        &self,
        connection: &mut Connection,
        keys: &[&str],
        args: A,
    ) -> RedisResult<T>
    where
        T: FromRedisValue,
        A: ToRedisArgs,
    {
        let mut by_hash = redis::cmd("EVALSHA");
        by_hash.arg(self.sha()).arg(keys.len()).arg(keys).arg(&args);
        match connection.query(&by_hash).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let mut by_text = redis::cmd("EVAL");
                by_text.arg(self.text).arg(keys.len()).arg(keys).arg(&args);
                connection.query(&by_text).await
            }
            reply => reply,
        }
    }
}
