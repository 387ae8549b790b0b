//! The page in a real headless Chromium, driven through chromedriver: it loads without
//! a console error, shows every configured plant with the numbers `/plants` serves, its
//! charts load, and it follows a new reading.
//!
//! Chromium and chromedriver come from the distribution (`.ci/run` installs them). On
//! a machine without them the test says so and passes, except under CI, where it fails.
//! It runs in real time: every wait is for a condition, bounded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use metrics_exporter_prometheus::PrometheusBuilder;
use plant_care::config::Config;
use plant_care::controller::Controller;
use plant_care::hardware::{self, Faults};
use plant_care::{serve, server};
use serde_json::{Value, json};
use tokio::time::Instant;

/// The longest any wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

fn installed(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// Chromium and chromedriver, or `None` (and a note) where they are missing.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = installed(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let driver = installed(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("Chromium and chromedriver are needed: apt-get install chromium chromium-driver")
        }
        _ => {
            eprintln!("skipped: no Chromium or chromedriver here (.ci/run installs them)");
            None
        }
    }
}

/// chromedriver on a free loopback port, ended when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(path: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { child, port };
        wait_for("chromedriver to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds, polling; fails the test after [`PATIENCE`].
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The browser's console, through chromedriver's log endpoint.
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// Console messages at warning level or worse.
async fn console_problems(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(ConsoleLog).await.expect("the console log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| matches!(entry["level"].as_str(), Some("SEVERE" | "WARNING")))
        .map(|entry| entry["message"].to_string())
        .collect()
}

async fn field(client: &Client, plant: &str, name: &str) -> String {
    let selector = format!("article[data-plant=\"{plant}\"] [data-field=\"{name}\"]");
    match client.find(Locator::Css(&selector)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn served(controller: &Arc<Controller>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let metrics = PrometheusBuilder::new().build_recorder().handle();
    let router = server::router(controller.clone(), metrics);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let limits = Config::default().server;
        serve::serve(listener, router, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    (address, stop)
}

/// Every plant shows what `/plants` says now.
async fn matches_status(client: &Client, controller: &Controller) -> bool {
    for plant in controller.status() {
        let moisture = plant
            .moisture
            .map_or("no reading yet".to_string(), |m| format!("{m:.1} %"));
        if field(client, &plant.id, "moisture").await != moisture
            || field(client, &plant.id, "readings").await != plant.readings.to_string()
            || field(client, &plant.id, "sensor-breaker").await != plant.sensor_breaker
            || field(client, &plant.id, "band").await
                != format!("{} – {} %", plant.min_moisture, plant.max_moisture)
        {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_every_plant_as_plants_does_and_follows_new_readings() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let config = Config::default();
    let recorder = PrometheusBuilder::new().build_recorder();
    let controller = metrics::with_local_recorder(&recorder, || {
        let hardware = hardware::build(&config, Faults::None).expect("hardware");
        Controller::new(&config, hardware).expect("controller")
    });
    controller.tick().await;
    let (address, stop) = served(&controller).await;
    let driver = Driver::start(&chromedriver).await;
    let profile = std::env::temp_dir().join(format!("plant-care-page-{}", std::process::id()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    capabilities.insert("goog:loggingPrefs".to_string(), json!({ "browser": "ALL" }));
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session");

    client
        .goto(&format!("http://{address}/"))
        .await
        .expect("the page loads");
    assert_eq!(client.title().await.expect("a title"), "plant-care");
    wait_for("every plant as /plants has it", || {
        matches_status(&client, &controller)
    })
    .await;
    let shown = client
        .find_all(Locator::Css("article[data-plant]"))
        .await
        .expect("plant cards")
        .len();
    assert_eq!(shown, config.plants.len(), "every configured plant, once");
    wait_for("the charts to load", || async {
        let loaded = client
            .execute(
                "const images = [...document.querySelectorAll('img[data-chart]')];\
                 return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);",
                vec![],
            )
            .await;
        loaded.ok() == Some(Value::Bool(true))
    })
    .await;
    let charts = client
        .find_all(Locator::Css("img[data-chart]"))
        .await
        .expect("charts")
        .len();
    assert_eq!(charts, 2 * config.plants.len(), "a day and a week a plant");
    let health = client
        .find(Locator::Id("health"))
        .await
        .expect("the device's health")
        .text()
        .await
        .expect("text");
    // The device's health as its registry has it: the garden's checks are healthy; the
    // disk's is the machine's running the test.
    let report = controller.health().report();
    assert_eq!(health, format!("device {}", report.status));
    for (name, check) in report.checks.iter().filter(|(name, _)| *name != "disk") {
        assert_eq!(
            check.status,
            hardy::health::Status::Healthy,
            "{name}: {check:?}"
        );
    }

    // A new round of readings: the page follows without a reload.
    let before = controller.status()[0].readings;
    controller.tick().await;
    assert_eq!(controller.status()[0].readings, before + 1);
    wait_for("the new readings on the page", || {
        matches_status(&client, &controller)
    })
    .await;

    let errors = client
        .execute("return window.pageErrors;", vec![])
        .await
        .expect("the page's errors");
    assert_eq!(errors, json!([]), "uncaught errors on the page");
    assert_eq!(console_problems(&client).await, Vec::<String>::new());
    client.close().await.expect("the session ends");
    drop(driver);
    let _ = stop.send(());
    let _ = std::fs::remove_dir_all(&profile);
}
