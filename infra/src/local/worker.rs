//! The local worker loop: what the SQS event source is to the transcoder Lambda, for the SQLite
//! queue. Receives and hands each message to [`emo::worker::handle`], up to `concurrency` at a
//! time, until `shutdown` completes. A dead message (malformed, or its last try failed after its
//! job was failed) is dropped: there is no dead-letter queue locally. Every few seconds it also
//! runs the sweep ([`emo::job::sweep`]), as the sweeper Lambda does every minute on AWS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use emo::AppState;
use emo::worker::{Disposition, handle, lease_step_time, reschedule};

/// How often the loop sweeps for jobs whose message was lost.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

pub async fn run(
    state: Arc<AppState>,
    concurrency: usize,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    tokio::pin!(shutdown);
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            match emo::job::sweep::sweep(&state, &state.sweep).await {
                Ok(swept) if swept != Default::default() => {
                    tracing::info!(restarted = swept.restarted, ended = swept.ended, "sweep")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %anyhow::Error::from(e), "sweep failed"),
            }
        }
        let permits = tokio::select! {
            p = limit.clone().acquire_many_owned(1) => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        drop(permits);
        let free = limit.available_permits().max(1);
        let deliveries = tokio::select! {
            r = state.queue.receive(free, Duration::from_secs(1)) => r,
            _ = &mut shutdown => break,
        };
        let deliveries = match deliveries {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %anyhow::Error::from(e), "queue receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for d in deliveries {
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let state = state.clone();
            tokio::spawn(async move {
                let time = lease_step_time(&state);
                match handle(&state, &d.body, d.receive_count, time).await {
                    Disposition::Done => {}
                    Disposition::Dead(why) => tracing::error!(error = %why, "message dropped"),
                    later @ Disposition::Later(_) => {
                        reschedule(&state, &d.receipt, &later, d.receive_count).await;
                        drop(permit);
                        return;
                    }
                }
                if let Err(e) = state.queue.delete(&d.receipt).await {
                    tracing::error!(error = %anyhow::Error::from(e), "queue delete failed");
                }
                drop(permit);
            });
        }
    }
    // Let the handlers in flight finish.
    let _ = limit.acquire_many(concurrency.max(1) as u32).await;
}
