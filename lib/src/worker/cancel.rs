//! The Cancel message: a job was deleted while its DashScope task ran, and the worker (the one
//! function that holds the DashScope key) asks DashScope to cancel the task. DashScope cancels a
//! task only while it is `PENDING`; a refusal means it runs or has ended, and it is left alone:
//! its job is gone, so nothing ever fetches its video (the result is discarded). The job's slot
//! was given back by the delete.

use tokio::time::Instant;

use crate::AppState;
use crate::dashscope::DashScopeError;

use super::{Disposition, StepTime, Worker};

/// How long before the step's end the call is cut.
const MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The most a submit spends cancelling the task of a job gone meanwhile (within the submit's
/// lease, which is far longer).
const ABANDON_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Cancels `task_id` on this, the `receive_count`-th, delivery of its message.
pub(super) async fn cancel(
    worker: &Worker,
    task_id: &str,
    receive_count: u32,
    time: StepTime,
) -> Disposition {
    let end = time
        .deadline
        .checked_sub(MARGIN)
        .unwrap_or_else(Instant::now);
    let outcome = tokio::time::timeout_at(end, worker.dashscope.cancel_task(task_id)).await;
    let last = receive_count >= worker.settings.max_receives;
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(task_id, "the deleted job's task is cancelled");
            Disposition::Done
        }
        Ok(Err(e @ DashScopeError::Api { .. })) if !e.is_retryable() => {
            tracing::info!(task_id, error = %e, "the deleted job's task cannot be cancelled; its result is discarded");
            Disposition::Done
        }
        Ok(Err(e))
            if !last && (e.is_retryable() || matches!(e, DashScopeError::Protocol { .. })) =>
        {
            Disposition::Later(format!("cancel: {e}"))
        }
        Err(_) if !last => Disposition::Later("no time left for the cancel".into()),
        Ok(Err(e)) => {
            tracing::warn!(task_id, error = %e, "could not cancel the deleted job's task; its result is discarded");
            Disposition::Done
        }
        Err(_) => {
            tracing::warn!(
                task_id,
                "no time left to cancel the deleted job's task; its result is discarded"
            );
            Disposition::Done
        }
    }
}

/// After creating `task_id` for `job`, the worker could not record it: if the job was deleted
/// (or ended) meanwhile, nobody will fetch the task's result, so it is cancelled now, while it is
/// surely still pending. A refusal or failure is logged; the result is discarded either way.
pub(super) async fn abandon_if_orphaned(
    state: &AppState,
    worker: &Worker,
    job: &crate::job::Job,
    task_id: &str,
) {
    if !crate::job::delete::task_is_orphaned(state, job).await {
        return;
    }
    let cancelled = tokio::time::timeout(ABANDON_TIME, worker.dashscope.cancel_task(task_id)).await;
    match cancelled {
        Ok(Ok(())) => tracing::info!(task_id, "the task of a job gone meanwhile is cancelled"),
        Ok(Err(e)) => {
            tracing::warn!(task_id, error = %e, "could not cancel the task of a job gone meanwhile; its result is discarded")
        }
        Err(_) => {
            tracing::warn!(
                task_id,
                "no answer to the cancel of the task of a job gone meanwhile; its result is discarded"
            )
        }
    }
}
