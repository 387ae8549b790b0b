//! Real `redis-server` processes for the tests: each on a free loopback port, in its
//! own scratch directory, killed when dropped. A missing `redis-server` is an error
//! that says how to install it.

#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to start answering, or a cluster to form.
const START_WITHIN: Duration = Duration::from_secs(20);

/// A `redis-server` of this test process.
pub struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    cluster: bool,
}

impl Server {
    /// A fresh server on a free port.
    pub fn start() -> Server {
        Server::start_with(false)
    }

    fn start_with(cluster: bool) -> Server {
        let port = free_port(cluster);
        let dir = scratch_dir(port);
        let mut server = Server {
            child: None,
            port,
            dir,
            cluster,
        };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let log = self.dir.join("redis.log");
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.join("nodes.conf"));
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "these tests start their own redis-server, which is not installed: install \
                 it (Debian or Ubuntu: `sudo apt-get install redis-server`; macOS: `brew \
                 install redis`), or run `bash .ci/setup`, which installs what the tests need"
            ),
            Err(error) => panic!("cannot start redis-server: {error}"),
        };
        self.child = Some(child);
        self.wait_for_ping();
    }

    fn wait_for_ping(&mut self) {
        let start = Instant::now();
        loop {
            if self.query(&["PING"]).as_deref() == Ok("PONG") {
                return;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!(
                    "redis-server on port {} exited ({status}): {log}",
                    self.port
                );
            }
            assert!(
                start.elapsed() < START_WITHIN,
                "redis-server on port {} did not answer PING within {START_WITHIN:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command on a new connection and reads the reply as text.
    pub fn query(&self, args: &[&str]) -> Result<String, redis::RedisError> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
        connection.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let value: redis::Value = cmd.query(&mut connection)?;
        Ok(text(&value))
    }

    /// Whether the server has Hardy's rate-limit script loaded.
    pub fn knows_rate_script(&self) -> bool {
        let script = redis::Script::new(include_str!("../../src/lua/rate_limit.lua"));
        self.query(&["SCRIPT", "EXISTS", script.get_hash()])
            .expect("SCRIPT EXISTS")
            .to_lowercase()
            .contains("int(1)")
    }

    /// Kills the server at once (`SIGKILL`): no reply to anything in flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    /// Starts the server again on the same port: empty, no script loaded.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stalls the server for `seconds` (`DEBUG SLEEP`), without waiting for it.
    pub fn stall(&self, seconds: f64) {
        let url = self.url();
        let seconds = seconds.to_string();
        std::thread::spawn(move || {
            let client = redis::Client::open(url).expect("url");
            let mut connection = client.get_connection().expect("connect to stall");
            let _: redis::RedisResult<redis::Value> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .query(&mut connection);
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three `redis-server`s joined into a Redis Cluster (no replicas), every slot served.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let nodes: Vec<Server> = (0..3).map(|_| Server::start_with(true)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (installed with redis-server: the redis-tools package)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let start = Instant::now();
        for node in &nodes {
            while !node
                .query(&["CLUSTER", "INFO"])
                .is_ok_and(|info| info.contains("cluster_state:ok"))
            {
                assert!(start.elapsed() < START_WITHIN, "the cluster did not form");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Cluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }
}

fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::SimpleString(text) => text.clone(),
        redis::Value::Okay => "OK".to_owned(),
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::Int(int) => int.to_string(),
        redis::Value::Nil => String::new(),
        other => format!("{other:?}"),
    }
}

/// A loopback port nothing listens on (and, for a cluster node, its bus port too).
fn free_port(cluster: bool) -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        drop(listener);
        if port > 55_000 {
            continue;
        }
        if cluster && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_err() {
            continue;
        }
        return port;
    }
}

fn scratch_dir(port: u16) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hardy-redis-test-{}-{}-{port}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("make a scratch directory");
    dir
}

/// A port nothing listens on: a Redis that is not there.
pub fn unused_url() -> String {
    format!("redis://127.0.0.1:{}", free_port(false))
}
