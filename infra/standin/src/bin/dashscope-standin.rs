//! `dashscope-standin`: the offline DashScope stand-in on its own, for trying the client, the
//! worker or curl by hand. Point `base_url` at the address it prints.
//!
//! `STANDIN_ADDR` (default `127.0.0.1:8700`) is where it listens; `STANDIN_PENDING_MS` and
//! `STANDIN_RUNNING_MS` (defaults 500 and 1500) set each task's timeline; `STANDIN_FFMPEG`
//! (default `ffmpeg`) names the ffmpeg binary. Prompt markers such as `[standin:fail]` are listed
//! in `emo_standin`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use emo_standin::{Standin, StandinConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let addr: SocketAddr = match std::env::var("STANDIN_ADDR") {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| {
            format!("setting STANDIN_ADDR: {v:?} is not an address like 127.0.0.1:8700")
        })?,
        _ => SocketAddr::from(([127, 0, 0, 1], 8700)),
    };
    let mut config = StandinConfig::default();
    if let Some(ms) = millis("STANDIN_PENDING_MS")? {
        config.pending_for = ms;
    }
    if let Some(ms) = millis("STANDIN_RUNNING_MS")? {
        config.running_for = ms;
    }
    if let Ok(ffmpeg) = std::env::var("STANDIN_FFMPEG")
        && !ffmpeg.is_empty()
    {
        config.ffmpeg = ffmpeg.into();
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (set STANDIN_ADDR to use another address)")
    })?;
    let standin = Standin::serve(listener, config).await?;
    tracing::info!("DashScope stand-in ready: base_url {}", standin.base_url());
    shutdown_signal().await;
    standin.shutdown().await;
    tracing::info!("DashScope stand-in stopped");
    Ok(())
}

fn millis(name: &str) -> anyhow::Result<Option<Duration>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => {
            let ms: u64 = v.trim().parse().with_context(|| {
                format!("setting {name}: {v:?} is not a number of milliseconds")
            })?;
            Ok(Some(Duration::from_millis(ms)))
        }
        _ => Ok(None),
    }
}

/// One line per event on stderr, at `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`: the
/// set-up of `emo::telemetry::init_local`, repeated here because the stand-in does not depend on
/// `emo` (whose own tests use it).
fn init_logging() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on Ctrl-C or SIGTERM, as `emo_infra::shutdown_signal` does.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
