//! Spend safety: under every fault a job costs at most one DashScope task and ends SUCCEEDED or
//! FAILED, never stuck; the allowances bound what users can spend, and give back what Emo failed.
//! Each case runs on both backends, with the stand-in counting the tasks it made.

use std::time::Duration;

use emo::job::{JobId, JobMessage, Stage};
use emo::worker::{self, Disposition, StepTime};
use emo_standin::Call;
use serde_json::{Value, json};

use crate::env::JobEnv;

/// Creates a text-to-video job; returns the token and the job id.
async fn job(env: &JobEnv, phone: &str, prompt: &str) -> (String, String) {
    let token = env.user(phone).await;
    let id = create(env, &token, prompt).await;
    (token, id)
}

async fn create(env: &JobEnv, token: &str, prompt: &str) -> String {
    let (status, body) = env
        .create(token, json!({"type": "text_to_video", "prompt": prompt}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["job_id"].as_str().unwrap().to_owned()
}

/// The job's data once it ended, which must be within the test's wait.
async fn ended(env: &JobEnv, token: &str, job_id: &str) -> Value {
    env.wait(token, job_id).await.0
}

async fn a_create_answered_500_after_making_its_task_adopts_that_task(mut env: JobEnv) {
    let (token, id) = job(&env, "13700000001", "五百 [standin:500-after-create]").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_create_that_hangs_past_the_timeout_adopts_the_task_it_made(mut env: JobEnv) {
    // The client gives up after DASHSCOPE_TIMEOUT_SECS (2 s); the stand-in made the task.
    env.standin
        .hang_next(Call::Create, 1, Duration::from_secs(4));
    let (token, id) = job(&env, "13700000002", "提交挂起").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_create_answered_500_without_a_task_is_sent_again_only_after_the_list_shows_none(
    mut env: JobEnv,
) {
    env.standin.server_error_next(1);
    let (token, id) = job(&env, "13700000012", "服务器错误").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
    // The second create came only after the task list of the first one's window was read.
    let seen = env.standin.requests();
    let creates: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST" && r.path.ends_with("/video-synthesis"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(creates.len(), 2, "{seen:?}");
    assert!(
        seen[creates[0]..creates[1]]
            .iter()
            .any(|r| r.method == "GET" && r.path.trim_end_matches('/') == "/api/v1/tasks"),
        "{seen:?}"
    );
}

async fn a_step_cut_by_the_invocation_deadline_creates_one_task(mut env: JobEnv) {
    env.standin
        .hang_next(Call::Create, 1, Duration::from_secs(6));
    let (token, id) = job(&env, "13700000003", "截止时间").await;
    let job_id = JobId::parse(&id).unwrap();
    let body = serde_json::to_string(&JobMessage::Start {
        job_id: job_id.clone(),
    })
    .unwrap();
    // An invocation with three seconds left: its create is cut before the client's own timeout.
    let time = StepTime {
        deadline: tokio::time::Instant::now() + Duration::from_secs(3),
    };
    assert_eq!(
        worker::handle(&env.state, &body, 1, time).await,
        Disposition::Done
    );
    let held = env.state.jobs.get(&job_id).await.unwrap().unwrap();
    assert_eq!(held.stage, Stage::Submitting, "its window is still open");
    // The next deliveries read the task list for that window and adopt the task.
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_storm_of_429s_is_waited_out_with_one_task(mut env: JobEnv) {
    // More refusals than one delivery's retries, and than the message's deliveries.
    env.standin.throttle_next_requests(20);
    let (token, id) = job(&env, "13700000004", "限流风暴").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn task_queries_answered_5xx_are_asked_again_with_one_task(mut env: JobEnv) {
    let (token, id) = job(&env, "13700000005", "查询出错 [standin:query-5xx]").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn an_undocumented_task_status_is_polled_until_the_task_ends(mut env: JobEnv) {
    let (token, id) = job(&env, "13700000006", "奇怪状态 [standin:odd-status]").await;
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_job_whose_start_message_was_lost_is_started_by_the_sweep(mut env: JobEnv) {
    let (token, id) = job(&env, "13700000007", "消息丢失").await;
    // The create's process stopped after writing the job: its Start message never reached the
    // queue (here: taken off it).
    let taken = env
        .state
        .queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    env.state.queue.delete(&taken[0].receipt).await.unwrap();
    env.start_worker();
    let data = ended(&env, &token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_job_emo_failed_is_given_back_and_one_the_user_caused_is_not(mut env: JobEnv) {
    let token = env.user("13700000008").await;
    env.start_worker();
    // DashScope's video link is gone: not the user's doing, so the day's one job is given back.
    let gone = create(&env, &token, "链接失效 [standin:gone]").await;
    assert_eq!(ended(&env, &token, &gone).await["status"], "FAILED");
    // Moderation refused the prompt: that job stays counted.
    let refused = create(&env, &token, "审核不过 [standin:fail]").await;
    assert_eq!(ended(&env, &token, &refused).await["status"], "FAILED");
    // Of two a day, one is spent: one more may be made, then no more.
    create(&env, &token, "再来一个").await;
    let (status, body) = env
        .create(
            &token,
            json!({"type": "text_to_video", "prompt": "还要一个"}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|m| m.contains("每天 2 次")),
        "{body}"
    );
}

async fn the_services_daily_bound_refuses_every_user_and_stores_nothing(env: JobEnv) {
    let first = env.user("13700000009").await;
    let second = env.user("13700000010").await;
    create(&env, &first, "第一个").await;
    create(&env, &second, "第二个").await;
    let third = env.user("13700000011").await;
    let (status, body) = env
        .create(&third, json!({"type": "text_to_video", "prompt": "第三个"}))
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        env.jobs_of("13700000011").await.is_empty(),
        "nothing stored for a refused create"
    );
}

emo_test_support::on_both_backends!(
    emo_test_support::env::JobEnv;
    a_create_answered_500_after_making_its_task_adopts_that_task,
    a_create_that_hangs_past_the_timeout_adopts_the_task_it_made,
    a_step_cut_by_the_invocation_deadline_creates_one_task,
    a_create_answered_500_without_a_task_is_sent_again_only_after_the_list_shows_none,
    a_storm_of_429s_is_waited_out_with_one_task,
    task_queries_answered_5xx_are_asked_again_with_one_task,
    an_undocumented_task_status_is_polled_until_the_task_ends,
    a_job_whose_start_message_was_lost_is_started_by_the_sweep,
);

/// A user's allowance set low.
mod per_user {
    use super::*;

    emo_test_support::on_both_backends!(
        emo_test_support::env::JobEnv, &[("EMO_MAX_DAILY_JOBS", "2")];
        a_job_emo_failed_is_given_back_and_one_the_user_caused_is_not,
    );
}

/// The service's daily bound set low.
mod service_wide {
    use super::*;

    emo_test_support::on_both_backends!(
        emo_test_support::env::JobEnv, &[("EMO_MAX_DAILY_JOBS_TOTAL", "2")];
        the_services_daily_bound_refuses_every_user_and_stores_nothing,
    );
}
