//! When to ask DashScope about a task again: sparse while the video cannot be ready yet, dense
//! around when the model's recent jobs finished, sparse again past the slowest of them.
//!
//! The time from DashScope's SUCCEEDED to the sticker was dominated by the poll interval (on
//! average half of it, 5 s on AWS). Polls are cheap but not free: each is a queue message, a
//! worker invocation and a task query, and DashScope allows an account [`ACCOUNT_QPS`] queries a
//! second. With at most `DASHSCOPE_MAX_IN_FLIGHT` tasks per model and [`MODELS`] models, a
//! delay of `MODELS × max_in_flight / ACCOUNT_QPS` seconds per task keeps the account under the
//! limit whatever the tasks' timing, so the dense delay is never shorter than that.
//!
//! The recent durations ([`crate::store::JobDurations`]) run from the job's creation to its
//! sticker, so they include the poll lag they were measured under (up to one interval) and the
//! transcode: the dense window opens one interval before the fastest of the recent ones (its
//! 10th percentile, so one outlier does not open it early for every job), and closes one
//! interval after the slowest.

use std::time::Duration;

use crate::AppState;
use crate::job::Job;

use super::Worker;

/// DashScope's task-query limit per account (queries a second).
pub const ACCOUNT_QPS: u64 = 20;
/// The model families whose tasks can be in flight at once (image-to-video and text-to-video).
pub const MODELS: u64 = 2;
/// The delay between polls inside the dense window, when the query limit allows it.
pub const DENSE: Duration = Duration::from_secs(1);

/// The delay before the next task query of a job created `elapsed` seconds ago, given its
/// model's recent creation-to-sticker `durations` (seconds, any order), the configured
/// `interval` and `max_in_flight` tasks per model. Whole seconds (SQS delays are), at least one,
/// never more than `interval` nor less than the query limit allows.
pub fn next_poll_delay(
    elapsed: u64,
    durations: &[u64],
    interval: Duration,
    max_in_flight: u32,
) -> Duration {
    let interval = interval.as_secs().max(1);
    let floor = (MODELS * u64::from(max_in_flight.max(1))).div_ceil(ACCOUNT_QPS);
    let dense = DENSE.as_secs().max(floor).clamp(1, interval);
    if durations.is_empty() {
        return Duration::from_secs(interval);
    }
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    let fast = sorted[(sorted.len() - 1) / 10];
    let slowest = sorted[sorted.len() - 1];
    let opens = fast.saturating_sub(interval);
    let closes = slowest.saturating_add(interval);
    let secs = if elapsed < opens {
        // Sparse, but landing on the window's start rather than up to an interval into it.
        (opens - elapsed).clamp(dense, interval)
    } else if elapsed <= closes {
        dense
    } else {
        interval
    };
    Duration::from_secs(secs)
}

/// [`next_poll_delay`] for `job` now, reading its model's recent durations; the configured
/// interval when they cannot be read (logged).
pub(super) async fn delay(state: &AppState, worker: &Worker, job: &Job) -> Duration {
    let interval = worker.settings.poll_interval;
    let model = job.request.model_kind();
    let durations = match state.durations.recent_durations(&[model]).await {
        Ok(found) => found
            .into_iter()
            .find(|(m, _)| *m == model)
            .map(|(_, d)| d)
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %anyhow::Error::from(e), "could not read the recent job durations");
            Vec::new()
        }
    };
    let elapsed = state.clock.now().saturating_sub(job.created_at);
    next_poll_delay(elapsed, &durations, interval, state.store.max_in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Duration = Duration::from_secs(10);

    fn secs(elapsed: u64, durations: &[u64]) -> u64 {
        next_poll_delay(elapsed, durations, TEN, 2).as_secs()
    }

    #[test]
    fn without_history_every_poll_waits_the_interval() {
        for elapsed in [0, 30, 300] {
            assert_eq!(secs(elapsed, &[]), 10);
        }
    }

    #[test]
    fn polls_are_sparse_early_dense_near_the_usual_finish_and_sparse_past_the_slowest() {
        let recent = [60, 62, 65, 70, 90];
        // Window: one interval before the fastest (50 s) to one after the slowest (100 s).
        assert_eq!(secs(0, &recent), 10);
        assert_eq!(secs(35, &recent), 10);
        // Lands on the window's start instead of overshooting into it.
        assert_eq!(secs(44, &recent), 6);
        assert_eq!(secs(49, &recent), 1);
        for elapsed in [50, 61, 75, 100] {
            assert_eq!(secs(elapsed, &recent), 1, "{elapsed}");
        }
        assert_eq!(secs(101, &recent), 10);
        assert_eq!(secs(500, &recent), 10);
    }

    #[test]
    fn one_fast_outlier_among_many_does_not_open_the_window_early() {
        let mut recent = vec![5];
        recent.extend(std::iter::repeat_n(80, 19));
        assert_eq!(secs(20, &recent), 10);
        assert_eq!(secs(70, &recent), 1);
    }

    #[test]
    fn the_dense_delay_keeps_every_task_of_both_models_under_the_query_limit() {
        for max_in_flight in 1..=16u32 {
            let delay = next_poll_delay(60, &[60], Duration::from_secs(30), max_in_flight);
            let tasks = MODELS * u64::from(max_in_flight);
            // Each task queries at most once per delay.
            assert!(
                tasks as f64 / delay.as_secs_f64() <= ACCOUNT_QPS as f64,
                "{max_in_flight}: {delay:?}"
            );
            assert!(delay >= Duration::from_secs(1));
        }
        assert_eq!(next_poll_delay(60, &[60], TEN, 16), Duration::from_secs(2));
    }

    #[test]
    fn no_delay_is_longer_than_the_interval_or_shorter_than_a_second() {
        for interval in [1, 2, 5, 10, 60] {
            for elapsed in (0..400).step_by(7) {
                let d =
                    next_poll_delay(elapsed, &[3, 40, 41, 200], Duration::from_secs(interval), 4);
                assert!(
                    (1..=interval).contains(&d.as_secs()),
                    "{interval} {elapsed} {d:?}"
                );
            }
        }
    }
}
