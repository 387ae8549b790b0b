//! The binary as an operator and its supervisor use it, each a real process: stopped by
//! SIGTERM or SIGINT (with a client holding a half-sent request open), idle clients
//! that must not starve `/health`, the `pumps-off` failsafe with a config that does not
//! validate, and `simulate` writing into a closed pipe or a full disk.
//!
//! Real processes run in real time: every wait is for a condition, bounded, and no
//! duration is asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_plant-care");
/// The longest any wait below may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plant-care-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A controller process serving on a free loopback port, and what it says on stderr.
struct Controller {
    child: Child,
    address: SocketAddr,
    stderr: mpsc::Receiver<String>,
    said: Vec<String>,
}

impl Controller {
    fn start(name: &str, extra: &str) -> Controller {
        let dir = temp_dir(name);
        let config = dir.join("plant-care.toml");
        std::fs::write(
            &config,
            format!("read_every = \"5s\"\n[server]\nlisten = \"127.0.0.1:0\"\n{extra}"),
        )
        .expect("write config");
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut controller = Controller {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            said: Vec::new(),
        };
        let line = controller.wait_for_line("serving on http://");
        let address = line
            .rsplit_once("http://")
            .map(|(_, address)| address.trim())
            .expect("an address");
        controller.address = address.parse().expect("a socket address");
        controller
    }

    /// Reads stderr until a line containing `text`, and returns it.
    fn wait_for_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.said.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}; said so far: {:#?}", self.said),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name}");
    }

    /// Waits for the process to exit, then reads the rest of stderr.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
                    self.said.push(line);
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after the signal; said: {:#?}", self.said);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on a new connection; the status code.
fn get_status(address: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[test]
fn sigterm_stops_the_care_loop_then_the_server_and_exits_cleanly() {
    let mut controller = Controller::start("sigterm", "");
    assert_eq!(get_status(controller.address, "/health/live"), 200);
    controller.signal("TERM");
    let status = controller.wait();
    assert!(
        status.success(),
        "{status:?} (a signal death means the pump guard never ran); said: {:#?}",
        controller.said
    );
    let said = controller.said.join("\n");
    let care = said
        .find("care loop stopped")
        .expect("the care loop stopped");
    let stopped = said.find("stopped, every pump off").expect("the last word");
    assert!(care < stopped, "{said}");
}

#[test]
fn sigint_with_a_half_sent_request_open_still_stops() {
    let mut controller = Controller::start(
        "sigint",
        "header_timeout = \"10m\"\nshutdown_grace = \"1s\"\n",
    );
    let mut half = TcpStream::connect(controller.address).expect("connect");
    half.write_all(b"GET /health HTTP/1.1\r\nHost: loc")
        .expect("send half a request");
    // The request is in: the server is reading its headers when the signal comes.
    assert_eq!(get_status(controller.address, "/health/live"), 200);
    controller.signal("INT");
    let status = controller.wait();
    assert!(status.success(), "{status:?}; said: {:#?}", controller.said);
    drop(half);
}

#[test]
fn idle_connections_beyond_the_cap_do_not_starve_health() {
    // A header timeout far longer than the test: only the cap's eviction of the
    // connection idle longest can make room for the health probe.
    let controller = Controller::start("idle", "header_timeout = \"10m\"\nmax_connections = 8\n");
    let idle: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(controller.address).expect("connect"))
        .collect();
    for _ in 0..3 {
        assert_eq!(get_status(controller.address, "/health/live"), 200);
    }
    drop(idle);
}

#[test]
fn pumps_off_tries_every_line_of_a_config_that_does_not_validate() {
    let dir = temp_dir("pumps-off");
    let config = dir.join("pi.toml");
    std::fs::write(
        &config,
        r#"backend = "linux"
[[plants]]
id = "basil"
min_moisture = 40
max_moisture = 80
dose_ml = 250
pump_line = "GPIO17"
[[plants]]
id = "fern"
min_moisture = 50
max_moisture = 85
dose_ml = 200
pump_line = "GPIO27"
[policies.retry.default]
retries = 3
"#,
    )
    .expect("write");
    // The config does not validate: `run` and `check-config` refuse it.
    let check = Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .expect("runs");
    assert!(!check.status.success());
    // The failsafe still tries both lines. This machine has no GPIO lines of those
    // names (or this binary no GPIO support), so both fail, each named.
    let output = Command::new(BIN)
        .args(["pumps-off", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "no line was switched: a failure");
    assert!(
        !stderr.contains("retries"),
        "the policy typo is not read: {stderr}"
    );
    assert!(stderr.contains("FAILED basil: GPIO17"), "{stderr}");
    assert!(stderr.contains("FAILED fern: GPIO27"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_into_a_pipe_closed_early_exits_quietly() {
    let dir = temp_dir("pipe");
    let mut child = Command::new(BIN)
        .args(["simulate", "--days", "1", "--out"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // `| head -c 0`: the reader goes away before anything is written.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        dir.join("moisture.svg").exists(),
        "the chart is written first"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulate_to_a_full_disk_fails_with_a_message() {
    let dir = temp_dir("full");
    let Ok(full) = std::fs::File::create("/dev/full") else {
        return; // not Linux: no full device to write to
    };
    let output = Command::new(BIN)
        .args(["simulate", "--days", "1", "--out"])
        .arg(&dir)
        .stdout(full)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("plant-care: standard output:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_out_or_days_fails_before_simulating() {
    let output = Command::new(BIN)
        .args(["simulate", "--days", "3650", "--out", "/dev/null/chart"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.starts_with("plant-care: --out /dev/null/chart:"),
        "{stderr}"
    );
    for days in ["0", "3651"] {
        let output = Command::new(BIN)
            .args(["simulate", "--days", days])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("1..=3650"), "{stderr}");
    }
}
