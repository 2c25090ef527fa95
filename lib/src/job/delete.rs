//! Deleting a job, for its owner: the job is removed with its GIF, thumbnail and input image, and
//! one still in progress spends nothing more. No HTTP here; the handler checks ownership.
//!
//! A job in progress whose DashScope task exists (`task_id`) has that task cancelled: a Cancel
//! message goes to the worker, the one function holding the DashScope key, *before* the job is
//! removed, and the worker asks DashScope to cancel it (which DashScope does for a task still
//! PENDING; a RUNNING one is left to end, and its result is never fetched). The job's DashScope
//! slot is given back at once. A job whose task is being created right now (`Submitting`, no id
//! yet) is cancelled by the worker that creates it, which finds the job gone when it comes to
//! record the task ([`task_is_orphaned`]).
//!
//! The worker's side: every write of a job is conditional on the revision it read, and a
//! removed job has none, so a worker mid-step writes nothing back; what it may have stored
//! meanwhile (a GIF, a thumbnail) and the slot it may hold are given up by [`clean_up_if_gone`],
//! and a later message for the job finds no job and is dropped.

use std::time::Duration;

use crate::AppState;
use crate::store::{StoreError, enqueue, gif_key, thumb_key};

use super::lifecycle::{release_slot, remove_input};
use super::{Job, JobMessage};

/// Removes `job` and what it left; one in progress is cancelled first (see the module).
///
/// Fails only when the Cancel message cannot be sent or the job cannot be removed; then nothing
/// is removed and the delete can be tried again. The blobs and the slot are given up as well as
/// can be: a blob that could not be removed is logged (on AWS, the bucket's lifecycle rules
/// remove it later), a slot frees itself at the job's deadline.
pub async fn delete(state: &AppState, job: &Job) -> Result<(), StoreError> {
    let in_progress = !job.status.is_terminal();
    if in_progress && let Some(task_id) = &job.task_id {
        let cancel = JobMessage::Cancel {
            job_id: job.id.clone(),
            task_id: task_id.clone(),
        };
        enqueue(state.queue.as_ref(), &cancel, Duration::ZERO).await?;
    }
    state.jobs.delete(&job.id).await?;
    if in_progress {
        release_slot(state, job).await;
    }
    remove_outputs(state, job).await;
    remove_input(state, job).await;
    tracing::info!(job_id = %job.id, user_id = job.user_id, status = job.status.as_str(), "job deleted");
    Ok(())
}

/// Removes the job's GIF and thumbnail, recorded or not (a worker may have stored them just
/// before the job was removed).
async fn remove_outputs(state: &AppState, job: &Job) {
    let mut keys = vec![gif_key(&job.id), thumb_key(&job.id)];
    for recorded in [&job.gif_key, &job.thumb_key].into_iter().flatten() {
        if !keys.contains(recorded) {
            keys.push(recorded.clone());
        }
    }
    for key in keys {
        if let Err(e) = state.blobs.delete(&key).await {
            tracing::warn!(key, error = %anyhow::Error::from(e), "could not remove a deleted job's file");
        }
    }
}

/// For a worker whose step on `job` (as it read it) could not be written: if the job was deleted
/// meanwhile, gives up what the step may have taken or stored (its DashScope slot, a GIF or
/// thumbnail) and returns `true`: the step is over, nothing is to be retried. `false` when the
/// job is still there (or the store cannot say).
pub async fn clean_up_if_gone(state: &AppState, job: &Job) -> bool {
    match state.jobs.get(&job.id).await {
        Ok(None) => {}
        Ok(Some(_)) | Err(_) => return false,
    }
    tracing::info!(job_id = %job.id, "the job was deleted during its step; nothing written back");
    release_slot(state, job).await;
    remove_outputs(state, job).await;
    true
}

/// Whether the task a worker just created for `job` belongs to a job that was deleted (or ended)
/// meanwhile, so the worker must cancel it: nobody will fetch its result.
pub async fn task_is_orphaned(state: &AppState, job: &Job) -> bool {
    match state.jobs.get(&job.id).await {
        Ok(None) => true,
        Ok(Some(now)) => now.status.is_terminal(),
        Err(_) => false,
    }
}
