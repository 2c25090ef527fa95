//! Writing a job, and ending one FAILED with what that frees, for every caller: the worker's
//! steps, the sweep and the query that finds a job past its deadline. [`save`] is the one write:
//! it bumps `rev`, so of two writers of one revision only one wins. A job that fails through no
//! fault of its user gives its place in the day's allowances back ([`Blame::Emo`]). An ended
//! job keeps its input image, so that it can be regenerated: the image goes when the job is
//! deleted ([`super::delete`]), or after a day (the bucket's lifecycle rule on AWS).

use crate::AppState;
use crate::store::{StoreError, china_day};

use super::Job;

/// Writes `next` (a transition of the job as read) one revision on. `Ok(None)`: someone else
/// wrote first, nothing was written; `Ok(Some(job))`: the job as stored now.
pub async fn save(state: &AppState, mut next: Job) -> Result<Option<Job>, StoreError> {
    next.rev += 1;
    next.updated_at = state.clock.now();
    Ok(state.jobs.update(&next).await?.then_some(next))
}

/// Why [`fail`] could not end a job.
#[derive(Debug, thiserror::Error)]
pub enum FailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing it; try again later.
    #[error("the job kept changing while failing it")]
    Contended,
}

/// Whose doing a failure is, which decides whether the job still counts against the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// What the user asked for was refused (moderation, copyright, a request DashScope rejects):
    /// the job stays counted.
    User,
    /// Emo, DashScope or the deadline failed the user: the job is given back to the allowances.
    Emo,
}

/// Ends `job` FAILED with `message` (reading it again if it changed meanwhile), then gives back
/// its DashScope slot and, for [`Blame::Emo`], gives the job back to the day's allowances (once:
/// only the writer that ends the job does). Returns the job as it ends: FAILED, or what another
/// writer ended it as; `None` if it is gone.
pub async fn fail(
    state: &AppState,
    mut job: Job,
    message: &str,
    blame: Blame,
) -> Result<Option<Job>, FailError> {
    for _ in 0..5 {
        if job.status.is_terminal() {
            return Ok(Some(job));
        }
        if let Some(failed) = save(state, job.failed(message)).await? {
            tracing::info!(job_id = %job.id, error_message = message, ?blame, "job FAILED");
            release_slot(state, &job).await;
            if blame == Blame::Emo {
                give_back_allowance(state, &job).await;
            }
            // Where this process can reach WeChat (the worker): the user's ready message.
            super::check::notify_ready(state, &failed).await;
            return Ok(Some(failed));
        }
        match state.jobs.get(&job.id).await? {
            Some(fresh) => job = fresh,
            None => return Ok(None),
        }
    }
    Err(FailError::Contended)
}

/// Gives back the job's DashScope slot; a slot that cannot be given back frees itself at the
/// job's deadline.
pub async fn release_slot(state: &AppState, job: &Job) {
    let model = job.request.model_kind();
    if let Err(e) = state
        .slots
        .release_task_slot(model, &job.id, job.user_id, state.store.max_in_flight)
        .await
    {
        tracing::warn!(error = %anyhow::Error::from(e), "could not release the DashScope slot");
    }
}

/// Removes the job's input image (the job is deleted, or its creation undone).
pub async fn remove_input(state: &AppState, job: &Job) {
    if let Some(key) = job.request.input_key()
        && let Err(e) = state.blobs.delete(key).await
    {
        tracing::warn!(error = %anyhow::Error::from(e), "could not remove the input image");
    }
}

/// Gives the job back to its user's and the service's allowance for the day it was created; a
/// give-back that fails leaves the user one job short for the day (logged).
pub async fn give_back_allowance(state: &AppState, job: &Job) {
    if let Err(e) = state
        .quota
        .give_back_daily_job(job.user_id, china_day(job.created_at))
        .await
    {
        tracing::warn!(error = %anyhow::Error::from(e), "could not give the job back to the allowance");
    }
}
