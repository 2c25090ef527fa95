//! `emo-local`: the whole API on one port, on the embedded backend unless told otherwise.
//!
//! `EMO_ADDR` (default `127.0.0.1:3000`) is where it listens; every other setting is the Lambdas'
//! (see the README), with `EMO_DATA_DIR` (default `./.emo`) holding the local database and JWT key.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use emo::settings::{Backend, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    emo::telemetry::init_local();
    let addr: SocketAddr = match std::env::var("EMO_ADDR") {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| {
            format!("setting EMO_ADDR: {v:?} is not an address like 127.0.0.1:3000")
        })?,
        _ => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let settings = Settings::from_env()?;
    let backend = match settings.backend {
        Backend::Local => format!("local, data in {}", settings.data_dir.display()),
        Backend::Aws => "aws".to_owned(),
    };
    let state = Arc::new(emo::AppState::from_settings(settings).await?);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (set EMO_ADDR to use another address)")
    })?;
    let addr = listener.local_addr()?;
    tracing::info!("emo-local listening on http://{addr} (backend: {backend})");
    emo_infra::serve(listener, state, emo_infra::shutdown_signal()).await?;
    tracing::info!("emo-local stopped");
    Ok(())
}
