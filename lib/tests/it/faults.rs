//! Faults the worker must survive with every job ending in exactly one correct terminal state and
//! no second DashScope task: duplicate deliveries, throttling, crashes between steps, videos that
//! will not decode or are gone, deadlines, poison messages.

use std::time::Duration;

use emo::dashscope::TaskStatus;
use emo::job::{JobId, JobMessage, JobStatus, Stage};
use emo::store::enqueue;
use emo::worker::{self, Disposition};
use emo_standin::Call;
use serde_json::json;

use crate::env::JobEnv;
use emo_test_support::http::post_json;

/// Creates a text-to-video job with the worker stopped; returns the token and the job id.
async fn queued_job(env: &JobEnv, phone: &str, prompt: &str) -> (String, String) {
    let token = env.user(phone).await;
    let (status, body) = env
        .create(&token, json!({"type": "text_to_video", "prompt": prompt}))
        .await;
    assert_eq!(status, 200, "{body}");
    (token, body["data"]["job_id"].as_str().unwrap().to_owned())
}

async fn a_start_message_delivered_twice_creates_one_dashscope_task(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000001", "重复投递").await;
    let copy = JobMessage::Start {
        job_id: JobId::parse(&job_id).unwrap(),
    };
    enqueue(env.state.queue.as_ref(), &copy, Duration::ZERO)
        .await
        .unwrap();
    enqueue(env.state.queue.as_ref(), &copy, Duration::ZERO)
        .await
        .unwrap();
    env.start_worker(); // two workers: the copies are taken at the same moment
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn throttling_by_dashscope_is_waited_out_with_one_task(mut env: JobEnv) {
    env.standin.throttle_next_requests(2);
    let (token, job_id) = queued_job(&env, "13900000002", "限流").await;
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
    let throttled = env
        .standin
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 2);
}

async fn a_task_query_that_hangs_past_the_timeout_is_asked_again(mut env: JobEnv) {
    env.standin
        .hang_next(Call::Query, 1, Duration::from_secs(4));
    let (token, job_id) = queued_job(&env, "13900000011", "查询超时").await;
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn malformed_json_from_dashscope_never_makes_a_second_task(mut env: JobEnv) {
    // A garbled answer to a query is asked again; to a create, it is never repeated.
    env.standin.garble_next(Call::Query, 2);
    let (token, job_id) = queued_job(&env, "13900000013", "乱码查询").await;
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);

    // The garbled create made its task: the task list of its window shows it, and it is adopted.
    env.standin.garble_next(Call::Create, 1);
    let (token, job_id) = queued_job(&env, "13900000014", "乱码提交").await;
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 2);
}

async fn a_worker_that_died_mid_submit_is_taken_over_once_its_lease_ends(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000003", "崩溃接管").await;
    let id = JobId::parse(&job_id).unwrap();
    // What a worker leaves when it dies right after claiming: Submitting, lease run out.
    let read = env.state.jobs.get(&id).await.unwrap().unwrap();
    let mut job = read.claim_submit(env.state.clock.now() - 11, 10);
    assert_eq!((job.stage, job.submit_attempts), (Stage::Submitting, 1));
    job.rev += 1;
    assert!(env.state.jobs.update(&job).await.unwrap());
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_worker_that_died_after_creating_the_task_does_not_create_another(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000004", "提交后崩溃").await;
    let id = JobId::parse(&job_id).unwrap();
    // The worker created the task and recorded it, then died before sending the first poll; its
    // Start message was never deleted and comes back.
    let task_id = env
        .state
        .worker
        .as_ref()
        .unwrap()
        .dashscope
        .create_text_to_video("提交后崩溃", None, "624*624")
        .await
        .unwrap();
    let read = env.state.jobs.get(&id).await.unwrap().unwrap();
    let mut job = read
        .claim_submit(env.state.clock.now(), 10)
        .submitted(task_id, None);
    assert_eq!(
        (job.stage, job.status, job.poll_seq),
        (Stage::Generating, JobStatus::Running, 1)
    );
    job.rev += 1;
    assert!(env.state.jobs.update(&job).await.unwrap());
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_video_that_will_not_decode_ends_failed(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000005", "坏视频 [standin:corrupt]").await;
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "FAILED", "{data}");
    assert_eq!(data["error_message"], worker::MSG_UNDECODABLE);
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_video_url_that_is_gone_ends_failed(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000006", "视频丢失 [standin:gone]").await;
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "FAILED", "{data}");
    assert!(
        data["error_message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

async fn a_job_past_its_deadline_ends_failed_with_a_timeout(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000007", "很慢 [standin:slow]").await;
    env.start_worker();
    // Let it reach DashScope, then jump past the 30-minute deadline.
    for _ in 0..40 {
        if env.query(&token, &job_id).await.1["data"]["status"] == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.state.clock.advance(Duration::from_secs(31 * 60));
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "FAILED", "{data}");
    assert_eq!(data["error_message"], worker::MSG_TIMEOUT);
}

async fn a_job_whose_messages_were_lost_is_ended_by_a_query_after_its_deadline(env: JobEnv) {
    // No worker at all: the job would otherwise stay PENDING forever.
    let (token, job_id) = queued_job(&env, "13900000008", "无人处理").await;
    assert_eq!(
        env.query(&token, &job_id).await.1["data"]["status"],
        "PENDING"
    );
    env.state.clock.advance(Duration::from_secs(33 * 60));
    let (_, body) = env.query(&token, &job_id).await;
    assert_eq!(body["data"]["status"], "FAILED", "{body}");
    assert_eq!(body["data"]["error_message"], worker::MSG_TIMEOUT);
}

async fn a_message_that_keeps_failing_fails_its_job_and_a_malformed_one_is_refused(env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000009", "反复失败").await;
    let body = serde_json::to_string(&JobMessage::Start {
        job_id: JobId::parse(&job_id).unwrap(),
    })
    .unwrap();
    let over = env.state.worker.as_ref().unwrap().settings.max_receives + 1;
    assert!(matches!(
        worker::handle(&env.state, &body, over, worker::lease_step_time(&env.state)).await,
        Disposition::Dead(_)
    ));
    let (_, answer) = env.query(&token, &job_id).await;
    assert_eq!(answer["data"]["status"], "FAILED");
    assert_eq!(answer["data"]["error_message"], worker::MSG_GAVE_UP);
    // Redelivered once more: the job stays as it ended, nothing is sent to DashScope.
    assert_eq!(
        worker::handle(&env.state, &body, 1, worker::lease_step_time(&env.state)).await,
        Disposition::Done
    );
    assert_eq!(env.standin.tasks_created(), 0);

    assert!(matches!(
        worker::handle(
            &env.state,
            "not json at all",
            1,
            worker::lease_step_time(&env.state)
        )
        .await,
        Disposition::Dead(_)
    ));
}

async fn a_message_whose_last_try_fails_too_fails_its_job_and_goes_on_to_the_dlq(env: JobEnv) {
    // Qwen fails every description of this character: a failure worth retrying (unlike a 5xx
    // on a create, which may have made a task, or throttling, which is waited out).
    let token = env.user("13900000019").await;
    let (status, created) = env
        .call(post_json(
            "/api/v1/video/create_with_prompt",
            &json!({"role": "最后一次 [standin:500]", "action": "挥手"}),
            Some(&token),
        ))
        .await;
    assert_eq!(status, 200, "{created}");
    let job_id = created["data"]["job_id"].as_str().unwrap().to_owned();
    let body = serde_json::to_string(&JobMessage::Start {
        job_id: JobId::parse(&job_id).unwrap(),
    })
    .unwrap();
    let last = env.state.worker.as_ref().unwrap().settings.max_receives;
    // Before the last delivery a failure is just retried...
    assert!(matches!(
        worker::handle(
            &env.state,
            &body,
            last - 1,
            worker::lease_step_time(&env.state)
        )
        .await,
        Disposition::Later(_)
    ));
    assert_eq!(
        env.query(&token, &job_id).await.1["data"]["status"],
        "PENDING"
    );
    // ...on the last one the job ends FAILED, and the message is still reported as failed, so
    // the queue moves it to the dead-letter queue.
    assert!(matches!(
        worker::handle(&env.state, &body, last, worker::lease_step_time(&env.state)).await,
        Disposition::Dead(_)
    ));
    let (_, answer) = env.query(&token, &job_id).await;
    assert_eq!(answer["data"]["status"], "FAILED", "{answer}");
    assert_eq!(answer["data"]["error_message"], worker::MSG_GAVE_UP);
    assert_eq!(env.standin.tasks_created(), 0);
}

async fn a_redelivery_while_another_worker_holds_the_step_is_no_failed_try(mut env: JobEnv) {
    let (token, job_id) = queued_job(&env, "13900000020", "转码中重投").await;
    let id = JobId::parse(&job_id).unwrap();
    let dashscope = &env.state.worker.as_ref().unwrap().dashscope;
    let task_id = dashscope
        .create_text_to_video("转码中重投", None, "624*624")
        .await
        .unwrap();
    // The task is done at DashScope, and a worker is transcoding it (its lease runs 1 s more).
    let started = std::time::Instant::now();
    while dashscope.query_task(&task_id).await.unwrap().status != TaskStatus::Succeeded {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the stand-in's task never ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = env.state.clock.now();
    let read = env.state.jobs.get(&id).await.unwrap().unwrap();
    let mut busy = read
        .claim_submit(now, 10)
        .submitted(task_id, None)
        .claim_transcode(now, 1);
    busy.rev += 1;
    assert!(env.state.jobs.update(&busy).await.unwrap());
    // Its poll comes back on its last delivery meanwhile: that is no failed try.
    let poll = serde_json::to_string(&JobMessage::Poll {
        job_id: id.clone(),
        seq: 1,
    })
    .unwrap();
    let last = env.state.worker.as_ref().unwrap().settings.max_receives;
    assert_eq!(
        worker::handle(&env.state, &poll, last, worker::lease_step_time(&env.state)).await,
        Disposition::Done
    );
    let (_, answer) = env.query(&token, &job_id).await;
    assert_eq!(answer["data"]["status"], "RUNNING", "{answer}");
    // The holder never finishes (it died): the copy sent for the lease's end takes over.
    env.start_worker();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

emo_test_support::on_both_backends!(
    emo_test_support::env::JobEnv;
    a_redelivery_while_another_worker_holds_the_step_is_no_failed_try,
    a_start_message_delivered_twice_creates_one_dashscope_task,
    throttling_by_dashscope_is_waited_out_with_one_task,
    a_task_query_that_hangs_past_the_timeout_is_asked_again,
    malformed_json_from_dashscope_never_makes_a_second_task,
    a_worker_that_died_mid_submit_is_taken_over_once_its_lease_ends,
    a_worker_that_died_after_creating_the_task_does_not_create_another,
    a_video_that_will_not_decode_ends_failed,
    a_video_url_that_is_gone_ends_failed,
    a_job_past_its_deadline_ends_failed_with_a_timeout,
    a_job_whose_messages_were_lost_is_ended_by_a_query_after_its_deadline,
    a_message_that_keeps_failing_fails_its_job_and_a_malformed_one_is_refused,
    a_message_whose_last_try_fails_too_fails_its_job_and_goes_on_to_the_dlq,
);
