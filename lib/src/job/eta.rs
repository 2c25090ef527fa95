//! `eta_seconds`: how long a job in progress still has, estimated from how long the recent jobs
//! of its model took from creation to their sticker (the last
//! [`crate::store::RECENT_DURATIONS`] of each model, kept by [`crate::store::JobDurations`] and
//! recorded by the worker as each sticker is made, [`record`]).
//!
//! The estimate ([`estimate`]) is the median of the recent durations longer than the time the job
//! has taken so far, less that time: a job already past the usual duration is compared with the
//! slower ones only. A job slower than every recent one is told [`ETA_FLOOR_SECS`], about one
//! poll of the mini-program. With no history at all there is no estimate.

use crate::AppState;
use crate::domain::ModelKind;

use super::Job;

/// What a job slower than every recent one of its model is told it still has.
pub const ETA_FLOOR_SECS: u64 = 5;

/// The seconds a job that has taken `elapsed` so far still has, from `durations` (seconds, any
/// order); `None` when there are none.
pub fn estimate(durations: &[u64], elapsed: u64) -> Option<u64> {
    if durations.is_empty() {
        return None;
    }
    let mut longer: Vec<u64> = durations.iter().copied().filter(|d| *d > elapsed).collect();
    if longer.is_empty() {
        return Some(ETA_FLOOR_SECS);
    }
    longer.sort_unstable();
    let n = longer.len();
    let median = if n % 2 == 1 {
        longer[n / 2]
    } else {
        (longer[n / 2 - 1] + longer[n / 2]).div_ceil(2)
    };
    Some(median.saturating_sub(elapsed).max(1))
}

/// The recent durations of the models of the jobs in progress among `jobs`, read together (one
/// read, none when every job has ended). A failed read is logged and leaves no estimate.
pub async fn history(state: &AppState, jobs: &[&Job]) -> Vec<(ModelKind, Vec<u64>)> {
    let mut models: Vec<ModelKind> = Vec::new();
    for job in jobs.iter().filter(|j| !j.status.is_terminal()) {
        let model = job.request.model_kind();
        if !models.contains(&model) {
            models.push(model);
        }
    }
    if models.is_empty() {
        return Vec::new();
    }
    match state.durations.recent_durations(&models).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %anyhow::Error::from(e), "could not read the recent job durations");
            Vec::new()
        }
    }
}

/// `job`'s estimate at `now` from `history`; `None` once it has ended or without history.
pub fn eta_of(job: &Job, history: &[(ModelKind, Vec<u64>)], now: u64) -> Option<u64> {
    if job.status.is_terminal() {
        return None;
    }
    let model = job.request.model_kind();
    let (_, durations) = history.iter().find(|(m, _)| *m == model)?;
    estimate(durations, now.saturating_sub(job.created_at))
}

/// Records how long `job`, just SUCCEEDED, took; a failure is logged (the estimate then has one
/// duration fewer).
pub async fn record(state: &AppState, job: &Job) {
    let secs = job.updated_at.saturating_sub(job.created_at);
    if let Err(e) = state
        .durations
        .record_duration(job.request.model_kind(), secs)
        .await
    {
        tracing::warn!(error = %anyhow::Error::from(e), "could not record the job's duration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_history_gives_no_estimate() {
        assert_eq!(estimate(&[], 0), None);
    }

    #[test]
    fn a_new_job_is_told_the_median_duration() {
        assert_eq!(estimate(&[60, 20, 40], 0), Some(40));
        assert_eq!(estimate(&[10, 20, 40, 30], 0), Some(25));
        assert_eq!(estimate(&[45], 5), Some(40));
    }

    #[test]
    fn a_job_past_the_usual_duration_is_compared_with_the_slower_jobs_only() {
        // 30 s in: of 20, 40, 60 and 100, the slower three have a median of 60.
        assert_eq!(estimate(&[20, 40, 60, 100], 30), Some(30));
        // Slower than every recent job: about one poll.
        assert_eq!(estimate(&[20, 40], 45), Some(ETA_FLOOR_SECS));
        assert_eq!(estimate(&[20, 40], 40), Some(ETA_FLOOR_SECS));
        // Never zero while in progress.
        assert_eq!(estimate(&[41], 40), Some(1));
    }
}
