//! Regenerating a job: a new job with the ended one's request and a new random seed, made by the
//! create saga, so it counts against every allowance exactly like a create. No HTTP here.
//!
//! - Only an ended job (SUCCEEDED or FAILED) is regenerated; one in progress is refused.
//! - An image-to-video job's input image is copied for the new job. Ended jobs keep their input
//!   ([`super::lifecycle`]) until they are deleted, or (on AWS) the bucket's lifecycle removes it
//!   a day after its upload; a job whose input is gone is refused, saying to upload it again.
//! - A character job that SUCCEEDED hands its Qwen description on, so the new one shows the same
//!   character, only moving differently, and Qwen is not paid again; after a failure the
//!   character is described afresh.
//! - WeChat's checks are not made again for what they accepted: the texts are the original's,
//!   unchanged, and were checked at its create (when the check was on then); its photo passed
//!   (its check says so; a risky photo was removed, so such a job is refused as above). A job
//!   made while the check was off is checked now like a new one.
//! - The caption, if any, is kept.

use crate::AppState;
use crate::store::{User, input_key};

use super::create::{CreateError, Input, Origin, create_with, random_seed};
use super::{CheckOutcome, Job, JobId, JobRequest, JobStatus};

#[derive(Debug, thiserror::Error)]
pub enum RegenerateError {
    /// The job has not ended yet.
    #[error("the job is still in progress")]
    InProgress,
    /// Its input image is gone: the user must upload it again.
    #[error("the job's input image is gone")]
    InputGone,
    #[error(transparent)]
    Create(CreateError),
}

/// Creates a new job for `user` from `original` (theirs: the caller checked) with a seed other
/// than its own.
pub async fn regenerate(
    state: &AppState,
    user: &User,
    original: &Job,
) -> Result<Job, RegenerateError> {
    if !original.status.is_terminal() {
        return Err(RegenerateError::InProgress);
    }
    let id = JobId::new();
    let mut request = original.request.clone();
    let mut input = Input::None;
    if let JobRequest::ImageToVideo { image_key, .. } = &mut request {
        let extension = image_key.rsplit_once('.').map_or("png", |(_, e)| e);
        let to = input_key(&id, extension);
        input = Input::Copy {
            from: std::mem::replace(image_key, to.clone()),
            to,
        };
    }
    let described_prompt = match (&original.request, original.status) {
        (JobRequest::Character { .. }, JobStatus::Succeeded) => original.described_prompt.clone(),
        _ => None,
    };
    let photo_checked = original
        .check
        .as_ref()
        .is_some_and(|c| matches!(c.outcome, Some(CheckOutcome::Pass | CheckOutcome::Review)));
    let origin = Origin {
        seed: Some(random_seed(original.seed)),
        described_prompt,
        texts_checked: original.texts_checked,
        photo_checked,
        caption: original.caption.clone(),
    };
    match create_with(state, user, id, request, input, origin).await {
        Ok(job) => {
            tracing::info!(job_id = %job.id, from = %original.id, "job regenerated");
            Ok(job)
        }
        Err(CreateError::InputGone) => Err(RegenerateError::InputGone),
        Err(e) => Err(RegenerateError::Create(e)),
    }
}
