//! `POST /api/v1/tasks/{task_id}/cancel`, the asynchronous task management API's cancel, as
//! strict as DashScope's: only a task still `PENDING` is cancelled (it then answers `CANCELED`,
//! never renders, and no longer counts as in flight); any other answers 400
//! `UnsupportedOperation`, and an id the stand-in never made 400 `InvalidParameter`. The error
//! codes are the stand-in's reading of the reference, which documents the PENDING-only rule but
//! not its error body. Also what tests read of the tasks made ([`TaskSummary`]).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::response::Response;
use http::HeaderMap;
use serde_json::json;

use crate::routes::{ApiError, error, gate, json_response, uuid_like};
use crate::state::{Inner, Shared};
use crate::tasks::{Outcome, Phase};

pub(crate) async fn cancel_task(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    gate(&shared, &headers)?;
    let mut state = shared.lock();
    let Some(task) = state.tasks.get_mut(&task_id) else {
        return Err(error(400, "InvalidParameter", "The task does not exist."));
    };
    if !matches!(task.phase(), Phase::Pending) {
        return Err(error(
            400,
            "UnsupportedOperation",
            "Failed to cancel the task, please confirm if the task is in PENDING status.",
        ));
    }
    task.canceled_at = Some(SystemTime::now());
    tracing::info!(target: "emo_standin", %task_id, "stand-in task cancelled");
    Ok(json_response(200, json!({"request_id": uuid_like()})))
}

/// A task the stand-in made, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSummary {
    pub task_id: String,
    pub prompt: String,
    /// The `parameters.seed` it was created with.
    pub seed: Option<u64>,
    /// Whether a cancel ended it.
    pub canceled: bool,
    /// Whether its video was fetched (its result used).
    pub fetched: bool,
}

/// Every task made in the last day, oldest first.
pub(crate) fn summaries(state: &Inner) -> Vec<TaskSummary> {
    let mut tasks: Vec<_> = state.tasks.iter().collect();
    tasks.sort_by_key(|(_, t)| t.created);
    tasks
        .into_iter()
        .map(|(id, t)| TaskSummary {
            task_id: id.clone(),
            prompt: t.prompt.clone(),
            seed: t.seed,
            canceled: t.canceled_at.is_some(),
            fetched: !matches!(t.outcome, Outcome::Lost)
                && state
                    .seen
                    .iter()
                    .any(|r| r.path == format!("/files/{id}.mp4") && r.status == 200),
        })
        .collect()
}
