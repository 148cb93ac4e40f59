//! `photocheck-receiver`: a local stand-in for the central system. Listens for result POSTs,
//! verifies `X-Photocheck-Signature`, prints one line per result; on Ctrl-C prints how many
//! distinct results arrived and the p50/p99 latency from upload to delivery.

use clap::Parser;
use photocheck_pipeline::metrics::percentile;
use photocheck_pipeline::receiver::Receiver;

/// Receive photocheck results like the central system would.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; POST results to http(s)://ADDR/results.
    #[arg(long, default_value = "127.0.0.1:9800")]
    listen: String,
    /// Shared secret of the signature (`central.secret`); better given in the environment.
    #[arg(long, env = "PHOTOCHECK__CENTRAL__SECRET", hide_env_values = true)]
    secret: String,
    /// The secret being rotated out, also accepted (`central.previous_secret`).
    #[arg(
        long,
        env = "PHOTOCHECK__CENTRAL__PREVIOUS_SECRET",
        hide_env_values = true
    )]
    previous_secret: Option<String>,
    /// Seconds the signature's time may differ from this machine's clock.
    #[arg(long, default_value_t = photocheck_pipeline::delivery::DEFAULT_TOLERANCE_S)]
    tolerance_s: u64,
    /// Serve HTTPS with this certificate chain (PEM), with `--tls-key`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut secrets = vec![args.secret.as_str()];
    secrets.extend(args.previous_secret.as_deref().filter(|s| !s.is_empty()));
    let receiver = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = photocheck_config::ServerTlsSection {
                cert_file: cert.clone(),
                key_file: key.clone(),
                ..Default::default()
            };
            Receiver::start_tls(&args.listen, &secrets, args.tolerance_s, true, &tls).await?
        }
        _ => Receiver::start_with(&args.listen, &secrets, args.tolerance_s, true).await?,
    };
    eprintln!("receiving at {}", receiver.url());
    let _ = tokio::signal::ctrl_c().await;
    let received = receiver.received();
    let mut latencies: Vec<f64> = received.iter().filter_map(|r| r.latency_s).collect();
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "{} POSTs, {} distinct results, {} bad signatures; latency p50 {:.0} ms, p99 {:.0} ms",
        received.len(),
        receiver.distinct().len(),
        received.iter().filter(|r| !r.signature_valid).count(),
        percentile(&latencies, 50.0).unwrap_or(0.0) * 1000.0,
        percentile(&latencies, 99.0).unwrap_or(0.0) * 1000.0
    );
    Ok(())
}
