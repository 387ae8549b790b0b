//! `cargo run -p gateway`: starts the unreliable backend and the gateway in front of it
//! on loopback, prints where to point a client, and serves until Ctrl-C (or for
//! `--run-for`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use gateway::{Backend, BackendConfig, Gateway, GatewayConfig, POLICIES};
use hardy::Policies;
use tower::BoxError;

/// An HTTP gateway built from Hardy, in front of a deliberately unreliable backend.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The policy file protecting the routes (default: the built-in policies.toml).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// A proxy (address or network) whose X-Forwarded-For names the client; repeat
    /// for several. None by default: the client is the peer.
    #[arg(long = "trust-proxy")]
    trusted_proxies: Vec<String>,
    /// The backend's slots: requests it serves at once.
    #[arg(long, default_value_t = 8)]
    slots: usize,
    /// Milliseconds one backend request takes.
    #[arg(long, default_value_t = 10)]
    work_ms: u64,
    /// The share of backend requests that fail.
    #[arg(long, default_value_t = 0.02)]
    fail_ratio: f64,
    /// The share of backend requests that are slow (200 ms).
    #[arg(long, default_value_t = 0.01)]
    slow_ratio: f64,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    run_for: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let text = match &args.policies {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
        None => POLICIES.to_owned(),
    };
    let policies = Policies::from_toml(&text)?;
    let backend = Backend::start(BackendConfig {
        slots: args.slots,
        work: Duration::from_millis(args.work_ms),
        fail_ratio: args.fail_ratio,
        slow_ratio: args.slow_ratio,
        ..BackendConfig::default()
    })
    .await?;
    let config = GatewayConfig {
        listen: args.listen,
        backend: backend.addr(),
        trusted_proxies: args.trusted_proxies,
    };
    let gateway = Gateway::start(config, policies, metrics).await?;
    let base = format!("http://{}", gateway.addr());
    println!(
        "backend on http://{} ({} slots x {} ms: about {:.0} requests/s; {:.0} % fail, {:.0} % slow)",
        backend.addr(),
        args.slots,
        args.work_ms,
        backend.config().capacity(),
        args.fail_ratio * 100.0,
        args.slow_ratio * 100.0,
    );
    println!("gateway on {base}");
    println!("  curl -i {base}/api/plants/1");
    println!("  curl -i -X POST {base}/api/plants/1/water");
    println!("  curl -i -H 'request-timeout-ms: 50' {base}/api/report");
    println!("  curl {base}/health");
    println!("  curl {base}/metrics");
    match args.run_for {
        Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
        None => tokio::signal::ctrl_c().await?,
    }
    println!(
        "backend: {} received, {} served, {} failed",
        backend.received(),
        backend.served(),
        backend.failed()
    );
    Ok(())
}
