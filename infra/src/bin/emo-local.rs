//! `emo-local`: the whole API on one port, with the job worker running inside, on the embedded
//! backend unless told otherwise.
//!
//! `EMO_ADDR` (default `127.0.0.1:3000`) is where it listens and `EMO_WORKERS` (default 2) how many
//! messages the worker handles at once; every other setting is the Lambdas' (see the README), with
//! `EMO_DATA_DIR` (default `./.emo`) holding the local database, blobs and JWT key. Without
//! `DASHSCOPE_API_KEY` it starts the offline DashScope stand-in (its tasks taking
//! `EMO_STANDIN_TASK_SECS`, about 2 s by default), without `WECHAT_APPID` the offline WeChat
//! stand-in (pushing to emo-local's own events route), and says so.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use emo::store::Backend;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    emo::telemetry::init_local();
    let addr: SocketAddr = match std::env::var("EMO_ADDR") {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| {
            format!("setting EMO_ADDR: {v:?} is not an address like 127.0.0.1:3000")
        })?,
        _ => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let workers: usize = match std::env::var("EMO_WORKERS") {
        Ok(v) if !v.is_empty() => {
            v.trim().parse().ok().filter(|n| *n > 0).with_context(|| {
                format!("setting EMO_WORKERS: {v:?} is not a whole number above 0")
            })?
        }
        _ => 2,
    };
    let (state, standins) = emo_infra::local_state().await?;
    let backend = match state.store.backend {
        Backend::Local => format!("local, data in {}", state.store.data_dir.display()),
        Backend::Aws => "aws".to_owned(),
    };
    let state = Arc::new(state);
    emo::worker::check_ready(&state).context(
        "emo-local runs the job worker, which needs ffmpeg and the caption font \
         (bash infra/run-local.sh installs both)",
    )?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (set EMO_ADDR to use another address)")
    })?;
    let addr = listener.local_addr()?;
    standins.serving_at(addr);

    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(emo_infra::local::worker::run(
        state.clone(),
        workers,
        async {
            let _ = stopped.await;
        },
    ));
    tracing::info!("emo-local listening on http://{addr} (backend: {backend}, {workers} workers)");
    emo_infra::serve(listener, state, emo_infra::shutdown_signal()).await?;
    let _ = stop_worker.send(());
    let _ = worker.await;
    standins.shutdown().await;
    tracing::info!("emo-local stopped");
    Ok(())
}
