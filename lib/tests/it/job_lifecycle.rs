//! A job ended by the query (its worker lost, its deadline passed) frees what it held exactly as
//! the worker's own failure does: its DashScope slot; its input image is kept, so the job can be
//! regenerated. On both backends.

use std::time::Duration;

use emo::domain::{JobId, ModelKind, Phone, Resolution};
use emo::job::create::{InputBlob, create};
use emo::job::{JobRequest, MSG_TIMEOUT};
use lambda_http::Body;

use crate::harness::{TestEnv, read};

async fn a_job_failed_at_its_deadline_by_the_query_releases_its_slot_and_keeps_its_input(
    env: TestEnv,
) {
    let state = &env.state;
    let now = state.clock.now();
    let phone = Phone::parse("13800000077").unwrap();
    let user = state
        .users
        .create(&phone, "unused-hash", now)
        .await
        .unwrap();
    let id = JobId::new();
    let key = format!("inputs/{id}.png");
    let request = JobRequest::ImageToVideo {
        prompt: "挥手".into(),
        negative_prompt: None,
        resolution: Resolution::parse(None).unwrap(),
        image_key: key.clone(),
    };
    let image = InputBlob {
        key: key.clone(),
        bytes: b"\x89PNG not really".to_vec(),
        content_type: "image/png",
    };
    let job = create(state, &user, id.clone(), request, Some(image))
        .await
        .unwrap();
    // Its worker took every slot of the model for it, then was lost with its messages.
    let max = state.store.max_in_flight;
    let model = ModelKind::I2v;
    assert!(
        state
            .slots
            .acquire_task_slot(model, &id, user.id, now, job.deadline_at, max)
            .await
            .unwrap()
    );
    let other = JobId::new();
    for n in 1..max {
        assert!(
            state
                .slots
                .acquire_task_slot(
                    model,
                    &JobId::new(),
                    1000 + n as i64,
                    now,
                    u64::MAX / 2,
                    max
                )
                .await
                .unwrap()
        );
    }
    assert!(
        !state
            .slots
            .acquire_task_slot(model, &other, 999, now, now + 60, max)
            .await
            .unwrap(),
        "every slot is held"
    );
    assert!(state.blobs.get(&key).await.unwrap().is_some());

    // Past its deadline and the grace, the owner's query ends it.
    state.clock.advance(Duration::from_secs(33 * 60));
    let token = state.tokens.issue(&user, state.clock.now()).unwrap();
    let req = http::Request::builder()
        .method("GET")
        .uri(format!("/api/v1/video/query/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap();
    let (status, body) = read(emo::api::video::query(state, req).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "FAILED", "{body}");
    assert_eq!(body["data"]["error_message"], MSG_TIMEOUT);

    // Its slot is free for the next job; its input image stays for a regenerate.
    let later = state.clock.now();
    assert!(
        state
            .slots
            .acquire_task_slot(model, &other, 999, later, later + 60, max)
            .await
            .unwrap(),
        "the failed job's slot was given back"
    );
    assert!(state.blobs.get(&key).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_a_job_failed_at_its_deadline_by_the_query_releases_its_slot_and_keeps_its_input() {
    a_job_failed_at_its_deadline_by_the_query_releases_its_slot_and_keeps_its_input(
        TestEnv::local(&[]).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_a_job_failed_at_its_deadline_by_the_query_releases_its_slot_and_keeps_its_input() {
    let Some(env) = TestEnv::aws(&[]).await else {
        return;
    };
    a_job_failed_at_its_deadline_by_the_query_releases_its_slot_and_keeps_its_input(env).await;
}
