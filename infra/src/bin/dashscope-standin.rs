//! `dashscope-standin`: the offline DashScope stand-in on its own, for trying the client, the
//! worker or curl by hand. Point `base_url` at the address it prints.
//!
//! `STANDIN_ADDR` (default `127.0.0.1:8700`) is where it listens; `STANDIN_PENDING_MS`,
//! `STANDIN_RUNNING_MS` and `STANDIN_RUNNING_SPREAD_MS` (defaults 500, 1500 and 0) set each
//! task's timeline (`StandinConfig`'s fields of those names); `STANDIN_FFMPEG`
//! (default `ffmpeg`) names the ffmpeg binary. Prompt markers such as `[standin:fail]` are listed
//! in `emo_standin`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use emo_standin::{Standin, StandinConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    emo::telemetry::init_local();
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
    if let Some(ms) = millis("STANDIN_RUNNING_SPREAD_MS")? {
        config.running_spread = ms;
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
    emo_infra::shutdown_signal().await;
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
