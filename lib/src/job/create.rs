//! Creating a job: the user's allowances, then the saga that stores the input image, the job and
//! its Start message, in that order, undoing what was done if a later step fails. Knows nothing of
//! HTTP: the create handlers validate the request and turn [`CreateError`] into the envelope.
//! Every job gets a random DashScope seed, which it keeps; a regenerated job is created here too
//! ([`create_with`]), from a copy of its original's input and with a seed of its own.
//!
//! With content security on ([`super::check`]), the account must be bound to WeChat and every
//! text is checked before the allowance is taken: a refused text stores, counts and spends
//! nothing. A photo is stored, then checked by the worker: the job starts in `checking`.

use std::time::Duration;

use crate::AppState;
use crate::domain::Caption;
use crate::store::{Allowance, StoreError, User, china_day, enqueue};

use super::check::{ContentCheck, TextCheckError, check_texts, texts_of};
use super::{CheckOutcome, ImageCheck, Job, JobId, JobMessage, JobRequest};

/// How long past its deadline a job may stay in progress before a query ends it (and the window
/// in which jobs still count as active for the allowance).
pub const OVERDUE_GRACE_SECS: u64 = 120;

/// A validated input image, ready to store.
pub struct InputBlob {
    pub key: String,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// Where a new job's input image comes from.
pub enum Input {
    /// The job has none.
    None,
    /// Uploaded with the create.
    Upload(InputBlob),
    /// A copy of blob `from`, stored as `to` (a regenerated job's, of its original's).
    Copy { from: String, to: String },
}

/// The largest seed DashScope's video models take (`parameters.seed`, from 0).
pub const MAX_SEED: u32 = 2_147_483_647;

/// A random seed for a new job, other than `not` (a regenerated job's original's).
pub fn random_seed(not: Option<u32>) -> u32 {
    loop {
        let seed = rand::random_range(0..=MAX_SEED);
        if Some(seed) != not {
            return seed;
        }
    }
}

/// What a new job starts from besides its request.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The seed sent to DashScope; random when `None`.
    pub seed: Option<u32>,
    /// A character's description taken over from the job it is regenerated from, so Qwen is
    /// not asked again.
    pub described_prompt: Option<String>,
    /// The texts were accepted by WeChat's check already (a regenerated job's, unchanged).
    pub texts_checked: bool,
    /// The photo passed WeChat's check already (a regenerated job's copy of it).
    pub photo_checked: bool,
    /// The caption to draw on the sticker (validated by the caller).
    pub caption: Option<Caption>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Over a per-user allowance or the service's daily bound: refused before anything is stored,
    /// so it costs nothing. The text is for the user.
    #[error("{0}")]
    OverAllowance(String),
    /// The input image to copy is gone (expired or removed): nothing was stored or counted.
    #[error("the input image to copy is gone")]
    InputGone,
    /// Content security is on and the account has no WeChat openid: nothing stored or counted.
    #[error("the account is not bound to WeChat")]
    NeedsWeChat,
    /// WeChat found a text risky: nothing stored or counted.
    #[error("a text was refused by WeChat's check")]
    TextRefused,
    /// WeChat's text check could not be made: nothing stored or counted; try again later.
    #[error("the text check is unavailable")]
    CheckUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates job `id` for `user` with a random seed: checks and counts the allowances, then stores
/// `image`, the job and its Start message. A creation undone gives its place in the allowances
/// back.
pub async fn create(
    state: &AppState,
    user: &User,
    id: JobId,
    request: JobRequest,
    image: Option<InputBlob>,
) -> Result<Job, CreateError> {
    let input = image.map_or(Input::None, Input::Upload);
    create_with(state, user, id, request, input, Origin::default()).await
}

/// [`create`], with the input image from `input` and the seed and description of `origin`.
///
/// Fails with [`CreateError::InputGone`] (after giving the allowance back) when `input` is a
/// copy of a blob that no longer exists.
pub async fn create_with(
    state: &AppState,
    user: &User,
    id: JobId,
    request: JobRequest,
    input: Input,
    origin: Origin,
) -> Result<Job, CreateError> {
    let checking = state.check.mode == ContentCheck::WeChat;
    let openid = user.openid.clone();
    if checking && openid.is_none() {
        return Err(CreateError::NeedsWeChat);
    }
    if checking && !origin.texts_checked {
        match check_texts(
            state,
            openid.as_deref(),
            &texts_of(&request, origin.caption.as_ref()),
        )
        .await
        {
            Ok(()) => {}
            Err(TextCheckError::Risky { .. }) => return Err(CreateError::TextRefused),
            Err(TextCheckError::Unavailable(_)) => return Err(CreateError::CheckUnavailable),
        }
    }
    let now_micros = state.clock.now_micros();
    let now = now_micros / 1_000_000;
    check_allowance(state, user, now).await?;
    let mut job = Job::new(
        id,
        user.id,
        request,
        now,
        state.job_settings.deadline.as_secs(),
    );
    job.openid = openid;
    job.texts_checked = checking;
    if checking && job.request.input_key().is_some() {
        if origin.photo_checked {
            // Kept as passed, so its own regenerate is not checked again either.
            job.check = Some(ImageCheck {
                outcome: Some(CheckOutcome::Pass),
                ..ImageCheck::default()
            });
        } else {
            job = job.checking(state.check.media_deadline.as_secs());
        }
    }
    job.created_micros = (now_micros % 1_000_000) as u32;
    job.seed = Some(origin.seed.unwrap_or_else(|| random_seed(None)));
    job.described_prompt = origin.described_prompt;
    job.caption = origin.caption;
    let image_key = match &input {
        Input::None => None,
        Input::Upload(i) => Some(i.key.clone()),
        Input::Copy { to, .. } => Some(to.clone()),
    };
    let give_back = || async {
        if let Err(e) = state
            .quota
            .give_back_daily_job(user.id, china_day(now))
            .await
        {
            tracing::error!(error = %anyhow::Error::from(e), "could not give the allowance back");
        }
    };
    let stored = match input {
        Input::None => Ok(true),
        Input::Upload(image) => state
            .blobs
            .put(&image.key, image.bytes, image.content_type)
            .await
            .map(|()| true),
        Input::Copy { from, to } => state.blobs.copy(&from, &to).await,
    };
    match stored {
        Ok(true) => {}
        Ok(false) => {
            give_back().await;
            return Err(CreateError::InputGone);
        }
        Err(e) => {
            give_back().await;
            return Err(e.into());
        }
    }
    let undo_image = || async {
        if let Some(key) = &image_key
            && let Err(e) = state.blobs.delete(key).await
        {
            tracing::error!(key, error = %anyhow::Error::from(e), "could not undo the input image");
        }
    };
    if let Err(e) = state.jobs.create(&job).await {
        undo_image().await;
        give_back().await;
        return Err(e.into());
    }
    let message = JobMessage::Start {
        job_id: job.id.clone(),
    };
    if let Err(e) = enqueue(state.queue.as_ref(), &message, Duration::ZERO).await {
        if let Err(undo) = state.jobs.delete(&job.id).await {
            tracing::error!(job_id = %job.id, error = %anyhow::Error::from(undo), "could not undo the job");
        }
        undo_image().await;
        give_back().await;
        return Err(e.into());
    }
    tracing::info!(job_id = %job.id, user_id = user.id, kind = job.request.model_kind().as_str(), seed = job.seed, "job created");
    Ok(job)
}

/// Refuses a job beyond the allowances: the user's jobs in progress at once (read from the user
/// index, so two requests in the same instant may both pass), the user's jobs per day and
/// everyone's jobs per day (atomic counters taken together, so the bill is bounded however
/// requests race). Counts the job against the day.
async fn check_allowance(state: &AppState, user: &User, now: u64) -> Result<(), CreateError> {
    let limits = &state.job_settings;
    // A job checked first may be in progress for its check's deadline and then the job's.
    let longest = limits.deadline.as_secs() + state.check.media_deadline.as_secs();
    let window = now.saturating_sub(longest + OVERDUE_GRACE_SECS);
    let recent = state
        .jobs
        .list_for_user(
            user.id,
            window,
            (limits.max_daily_per_user + limits.max_active_per_user) as usize,
        )
        .await?;
    let active = recent.iter().filter(|j| !j.status.is_terminal()).count();
    if active >= limits.max_active_per_user as usize {
        return Err(CreateError::OverAllowance(format!(
            "同时进行中的任务最多 {} 个，请等当前任务完成后再试",
            limits.max_active_per_user
        )));
    }
    match state
        .quota
        .take_daily_job(
            user.id,
            china_day(now),
            limits.max_daily_per_user,
            limits.max_daily_total,
        )
        .await?
    {
        Allowance::Taken => Ok(()),
        Allowance::UserSpent => Err(CreateError::OverAllowance(format!(
            "今天的生成次数已用完（每天 {} 次），请明天再来",
            limits.max_daily_per_user
        ))),
        Allowance::ServiceSpent => {
            tracing::warn!(
                max = limits.max_daily_total,
                "the service's daily job bound is reached (EMO_MAX_DAILY_JOBS_TOTAL)"
            );
            Err(CreateError::OverAllowance(
                "今天的生成名额已满，请明天再来".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_in_dashscopes_range_and_a_new_one_differs_from_the_old() {
        for _ in 0..1000 {
            let old = random_seed(None);
            assert!(old <= MAX_SEED);
            assert_ne!(random_seed(Some(old)), old);
        }
    }
}
