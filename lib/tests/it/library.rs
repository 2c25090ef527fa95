//! "My stickers" end to end, on both backends: the list (`GET /api/v1/video/list`), delete
//! (`DELETE /api/v1/video/{job_id}`) and regenerate (`POST /api/v1/video/regenerate/{job_id}`)
//! through `emo-local`'s router, with the worker and the DashScope stand-in; the query's
//! `describing` stage, `eta_seconds` and thumbnail; and the `events/` fixtures of the three
//! routes through the handlers their Lambdas run.

use std::time::Duration;

use emo::domain::{JobId, ModelKind};
use emo::job::JobMessage;
use emo::store::input_key;
use emo_test_support::http::get;
use lambda_http::{Body, Request};
use serde_json::{Value, json};

use crate::env::{JobEnv, assert_sticker, post, test_png_data_uri};

/// What the list of `token`'s jobs answers for `query` (`limit=…&…`, or "").
async fn list(env: &JobEnv, token: &str, query: &str) -> (u16, Value) {
    env.call(get(&format!("/api/v1/video/list?{query}"), token))
        .await
}

/// Every page of `token`'s list, `limit` at a time: the pages' job ids.
async fn all_pages(env: &JobEnv, token: &str, limit: usize, status: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let (code, body) = list(
            env,
            token,
            &format!("limit={limit}&status={status}&cursor={cursor}"),
        )
        .await;
        assert_eq!((code, &body["code"]), (200, &json!(200)), "{body}");
        let jobs = body["data"]["jobs"].as_array().unwrap();
        pages.push(
            jobs.iter()
                .map(|j| j["job_id"].as_str().unwrap().to_owned())
                .collect(),
        );
        match &body["data"]["next_cursor"] {
            Value::Null => return pages,
            Value::String(next) => cursor = next.clone(),
            other => panic!("next_cursor is {other}"),
        }
        assert!(pages.len() < 50, "the pages never end");
    }
}

fn delete_req(job_id: &str, token: &str) -> Request {
    http::Request::builder()
        .method("DELETE")
        .uri(format!("/api/v1/video/{job_id}"))
        .header("host", "127.0.0.1:3000")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap()
}

async fn delete(env: &JobEnv, token: &str, job_id: &str) -> (u16, Value) {
    env.call(delete_req(job_id, token)).await
}

async fn regenerate(env: &JobEnv, token: &str, job_id: &str) -> (u16, Value) {
    let path = format!("/api/v1/video/regenerate/{job_id}");
    env.call(post(&path, &json!({}), Some(token))).await
}

async fn create_text(env: &JobEnv, token: &str, prompt: &str) -> String {
    let (status, body) = env
        .create(token, json!({"type": "text_to_video", "prompt": prompt}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["job_id"].as_str().unwrap().to_owned()
}

/// Queries the job until `done(data)`; the last answer's `data`.
async fn until(env: &JobEnv, token: &str, job_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1200 {
        let (status, body) = env.query(token, job_id).await;
        assert_eq!(status, 200, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("job {job_id} never got there");
}

/// A 120 × 120 PNG, as a user's phone decodes it.
fn assert_thumbnail(bytes: &[u8]) {
    let png = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .expect("the thumbnail is a PNG");
    assert_eq!((png.width(), png.height()), (120, 120));
}

async fn paging_over_45_jobs_returns_each_once_newest_first(env: JobEnv) {
    let token = env.user("13700000001").await;
    let mut made = Vec::new();
    for i in 0..45 {
        made.push(create_text(&env, &token, &format!("第 {i} 张表情")).await);
    }
    let pages = all_pages(&env, &token, 20, "").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [20, 20, 5],
        "{pages:?}"
    );
    // Newest first, exactly: the reverse of the order they were made (most in the same second).
    made.reverse();
    assert_eq!(pages.concat(), made);

    // What a job of the list says: the query's fields, its type, its words and its time.
    let (status, body) = list(&env, &token, "").await;
    assert_eq!(status, 200);
    let jobs = body["data"]["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 20, "20 by default");
    let newest = &jobs[0];
    assert_eq!(newest["job_id"], made[0].as_str());
    assert_eq!(newest["status"], "PENDING");
    assert_eq!(newest["stage"], "queued");
    assert_eq!(newest["type"], "text_to_video");
    assert_eq!(newest["prompt"], "第 44 张表情");
    assert!(newest["created_at"].as_u64().unwrap() > 1_700_000_000);
    assert!(newest.get("video_url").is_none() && newest.get("role").is_none());
    let (_, one) = env.query(&token, &made[0]).await;
    for field in ["job_id", "status", "stage", "created_at", "updated_at"] {
        assert_eq!(newest[field], one["data"][field], "{field}");
    }

    // Bad parameters are a 400 that names them.
    for (query, names) in [
        ("limit=0", "limit"),
        ("limit=51", "limit"),
        ("limit=many", "limit"),
        ("status=DONE", "status"),
        ("status=pending", "status"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let (status, body) = list(&env, &token, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().starts_with(names),
            "{query}: {body}"
        );
    }
    let (status, _) = env.call(get("/api/v1/video/list", "not-a-token")).await;
    assert_eq!(status, 401);
}

async fn a_status_filter_lists_only_the_jobs_in_that_status(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13700000002").await;
    let good = [
        create_text(&env, &token, "一只猫在打篮球").await,
        create_text(&env, &token, "一只狗在跳舞").await,
    ];
    let bad = create_text(&env, &token, "不该生成的内容 [standin:fail]").await;
    for id in good.iter().chain([&bad]) {
        env.wait(&token, id).await;
    }
    let succeeded = all_pages(&env, &token, 1, "SUCCEEDED").await.concat();
    assert_eq!(succeeded, [good[1].clone(), good[0].clone()]);
    let (_, body) = list(&env, &token, "status=FAILED").await;
    let failed = body["data"]["jobs"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["job_id"], bad.as_str());
    assert!(failed[0]["error_message"].is_string());
    for status in ["PENDING", "RUNNING", "UNKNOWN"] {
        let (code, body) = list(&env, &token, &format!("status={status}")).await;
        assert_eq!(code, 200);
        assert_eq!(
            body["data"],
            json!({"jobs": [], "next_cursor": null}),
            "{status}"
        );
    }
    // A finished job of the list carries working links to its sticker and its thumbnail.
    let (_, body) = list(&env, &token, "status=SUCCEEDED&limit=1").await;
    let job = &body["data"]["jobs"][0];
    assert!(job["gif_bytes"].as_u64().unwrap() <= 512_000);
    let (status, gif) = env.fetch(job["video_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_sticker(&gif);
    let (status, png) = env.fetch(job["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_thumbnail(&png);
    // Each sticker recorded how long its job took, for the next jobs' estimates.
    let history = env
        .state
        .durations
        .recent_durations(&[ModelKind::T2v])
        .await
        .unwrap();
    assert_eq!(history[0].1.len(), 2, "{history:?}");
}

async fn another_users_jobs_are_not_theirs_to_list_delete_or_regenerate(mut env: JobEnv) {
    env.start_worker();
    let alice = env.user("13700000003").await;
    let bob = env.user("13700000004").await;
    let hers = create_text(&env, &alice, "她的猫").await;
    env.wait(&alice, &hers).await;
    let (status, body) = list(&env, &bob, "").await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"code": 200, "data": {"jobs": [], "next_cursor": null}})
        )
    );
    let missing = json!({"error": "任务不存在"});
    for id in [hers.as_str(), "job_0123456789abcdef01234567", "nonsense"] {
        assert_eq!(delete(&env, &bob, id).await, (404, missing.clone()), "{id}");
        assert_eq!(
            regenerate(&env, &bob, id).await,
            (404, missing.clone()),
            "{id}"
        );
    }
    // Hers is untouched, and nothing was made for him.
    let (_, hers_now) = env.query(&alice, &hers).await;
    assert_eq!(hers_now["data"]["status"], "SUCCEEDED", "{hers_now}");
    assert_eq!(all_pages(&env, &alice, 20, "").await.concat(), [hers]);
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn deleting_a_running_job_cancels_or_discards_its_one_task_and_the_job_is_gone(
    mut env: JobEnv,
) {
    env.start_worker();
    let token = env.user("13700000005").await;
    let id = create_text(&env, &token, "慢慢来 [standin:slow]").await;
    until(&env, &token, &id, |d| d["status"] == "RUNNING").await;
    let (status, body) = delete(&env, &token, &id).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"code": 200, "message": "已删除", "data": {"job_id": id}})
        )
    );
    let (status, body) = env.query(&token, &id).await;
    assert_eq!((status, &body["data"]["status"]), (404, &json!("UNKNOWN")));
    assert!(all_pages(&env, &token, 20, "").await.concat().is_empty());
    assert_eq!(delete(&env, &token, &id).await.0, 404, "deleted once only");

    // Its slot was given back at once: the user's next job runs now, not at the deleted one's
    // deadline (one user holds one of a model's slots at a time).
    let next = create_text(&env, &token, "下一张").await;
    let (data, _) = env.wait(&token, &next).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");

    // Exactly one task was made for the deleted job; it was cancelled while pending, or it ran
    // on and nothing fetched its video. Either way no sticker was made of it.
    let tasks: Vec<_> = env
        .standin
        .tasks()
        .into_iter()
        .filter(|t| t.prompt.contains("慢慢来"))
        .collect();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !env.standin.tasks()[0].canceled && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let task = &env.standin.tasks()[0];
    assert!(task.canceled || !task.fetched, "{task:?}");
    let job = JobId::parse(&id).unwrap();
    assert_eq!(env.state.jobs.get(&job).await.unwrap(), None);
    assert_eq!(
        env.state
            .blobs
            .get(&emo::store::gif_key(&job))
            .await
            .unwrap(),
        None
    );
}

async fn deleting_a_sticker_removes_its_gif_thumbnail_input_and_links(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13700000006").await;
    let (status, body) = env
        .create(
            &token,
            json!({"type": "image_to_video", "prompt": "挥手", "img_base64": test_png_data_uri()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let (data, _) = env.wait(&token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    let (gif_url, thumb_url) = (
        data["video_url"].as_str().unwrap().to_owned(),
        data["thumbnail_url"].as_str().unwrap().to_owned(),
    );
    assert_eq!(env.fetch(&gif_url).await.0, 200);
    assert_eq!(env.fetch(&thumb_url).await.0, 200);
    // The ended job kept its input image, for a regenerate.
    let input = input_key(&JobId::parse(&id).unwrap(), "png");
    assert!(env.state.blobs.get(&input).await.unwrap().is_some());

    assert_eq!(delete(&env, &token, &id).await.0, 200);
    // The links handed out before stop working at once, and the files are gone.
    for url in [&gif_url, &thumb_url] {
        let (status, _) = env.fetch(url).await;
        assert!(status == 404 || status == 403, "{url} answered {status}");
    }
    assert_eq!(env.state.blobs.get(&input).await.unwrap(), None);
    assert_eq!(env.query(&token, &id).await.0, 404);
}

async fn regenerating_sends_a_new_seed_and_succeeds(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13700000007").await;
    let first = create_text(&env, &token, "一只猫在打篮球").await;
    let (done, _) = env.wait(&token, &first).await;
    assert_eq!(done["status"], "SUCCEEDED");
    let (status, body) = regenerate(&env, &token, &first).await;
    assert_eq!(
        (status, &body["code"], &body["message"]),
        (200, &json!(200), &json!("任务创建成功")),
        "{body}"
    );
    let second = body["data"]["job_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let (data, _) = env.wait(&token, &second).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    let (status, gif) = env.fetch(data["video_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_sticker(&gif);

    // The same request went to DashScope twice, each time with a seed of its own.
    let tasks = env.standin.tasks();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.prompt == "一只猫在打篮球"));
    let (a, b) = (tasks[0].seed.unwrap(), tasks[1].seed.unwrap());
    assert_ne!(a, b);
    assert!(a <= 2_147_483_647 && b <= 2_147_483_647);
    // Both are in the list, the new one first, with the user's words.
    let (_, body) = list(&env, &token, "").await;
    let jobs = body["data"]["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["job_id"], second.as_str());
    assert_eq!(jobs[1]["job_id"], first.as_str());
    assert!(jobs.iter().all(|j| j["prompt"] == "一只猫在打篮球"));

    // A job still in progress is not regenerated.
    let slow = create_text(&env, &token, "还没好 [standin:slow]").await;
    let (status, body) = regenerate(&env, &token, &slow).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].is_string());
}

async fn regenerating_a_photo_or_a_character_reuses_what_it_can(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13700000008").await;
    let (_, body) = env
        .create(
            &token,
            json!({"type": "image_to_video", "prompt": "挥手", "img_base64": test_png_data_uri()}),
        )
        .await;
    let photo = body["data"]["job_id"].as_str().unwrap().to_owned();
    env.wait(&token, &photo).await;
    let (status, body) = regenerate(&env, &token, &photo).await;
    assert_eq!(status, 200, "{body}");
    let again = body["data"]["job_id"].as_str().unwrap().to_owned();
    let (data, _) = env.wait(&token, &again).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(
        (data["width"].as_u64(), data["height"].as_u64()),
        (Some(240), Some(180))
    );
    // Once the photo is gone (the bucket's lifecycle removes it after a day), the user is told
    // to upload it again, and nothing is made.
    let input = input_key(&JobId::parse(&photo).unwrap(), "png");
    env.state.blobs.delete(&input).await.unwrap();
    let made = env.standin.tasks_created();
    let (status, body) = regenerate(&env, &token, &photo).await;
    assert_eq!(status, 410, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("重新上传"),
        "{body}"
    );
    assert_eq!(env.standin.tasks_created(), made);

    // A character that came out well keeps its description: Qwen is asked once for both.
    let (status, body) = env
        .call(post(
            "/api/v1/video/create_with_prompt",
            &json!({"role": "孙悟空", "source": "西游记", "action": "正在跳舞"}),
            Some(&token),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let character = body["data"]["job_id"].as_str().unwrap().to_owned();
    env.wait(&token, &character).await;
    let (status, body) = regenerate(&env, &token, &character).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["notice"], emo::api::video::CHARACTER_NOTICE);
    let (data, _) = env
        .wait(&token, body["data"]["job_id"].as_str().unwrap())
        .await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    let asked = env
        .standin
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/text-generation/generation"))
        .count();
    assert_eq!(asked, 1);
    let (_, body) = list(&env, &token, "limit=1").await;
    let listed = &body["data"]["jobs"][0];
    assert_eq!(
        (
            &listed["type"],
            &listed["role"],
            &listed["source"],
            &listed["action"]
        ),
        (
            &json!("character"),
            &json!("孙悟空"),
            &json!("西游记"),
            &json!("正在跳舞")
        )
    );
}

async fn a_regenerate_counts_against_the_daily_allowance_like_a_create(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13700000009").await;
    let first = create_text(&env, &token, "今天的第一张").await;
    env.wait(&token, &first).await;
    assert_eq!(regenerate(&env, &token, &first).await.0, 200);
    let (status, body) = regenerate(&env, &token, &first).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("今天"), "{body}");
}

async fn the_query_shows_describing_then_an_estimate_from_recent_jobs(env: JobEnv) {
    let token = env.user("13700000010").await;
    // With no history there is no estimate.
    let plain = create_text(&env, &token, "第一张").await;
    let (_, body) = env.query(&token, &plain).await;
    assert!(body["data"].get("eta_seconds").is_none(), "{body}");
    // With some, a job in progress is told the median, in the query and in the list.
    for secs in [30, 50, 40] {
        env.state
            .durations
            .record_duration(ModelKind::T2v, secs)
            .await
            .unwrap();
    }
    let (_, body) = env.query(&token, &plain).await;
    let eta = body["data"]["eta_seconds"].as_u64().unwrap();
    assert!((1..=40).contains(&eta), "{body}");
    let (_, body) = list(&env, &token, "").await;
    assert!(body["data"]["jobs"][0]["eta_seconds"].is_u64(), "{body}");

    // A character job shows `describing` while Qwen is asked (here Qwen keeps refusing for now,
    // so the job stays there for its next try).
    let (status, body) = env
        .call(post(
            "/api/v1/video/create_with_prompt",
            &json!({"role": "[standin:throttle] 孙悟空", "action": "跳舞"}),
            Some(&token),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let start = serde_json::to_string(&JobMessage::Start {
        job_id: JobId::parse(&id).unwrap(),
    })
    .unwrap();
    let outcome = emo::worker::handle(
        &env.state,
        &start,
        1,
        emo::worker::lease_step_time(&env.state),
    )
    .await;
    assert!(
        matches!(outcome, emo::worker::Disposition::Later(_)),
        "{outcome:?}"
    );
    let (_, body) = env.query(&token, &id).await;
    assert_eq!(
        (&body["data"]["status"], &body["data"]["stage"]),
        (&json!("PENDING"), &json!("describing")),
        "{body}"
    );
}

async fn what_a_worker_left_for_a_deleted_job_is_cleaned_up_and_later_messages_change_nothing(
    env: JobEnv,
) {
    let token = env.user("13700000012").await;
    let id = create_text(&env, &token, "删到一半").await;
    let job_id = JobId::parse(&id).unwrap();
    let job = env.state.jobs.get(&job_id).await.unwrap().unwrap();
    let state = &env.state;
    // A worker took the job's slot and stored its GIF and thumbnail; meanwhile the job was
    // deleted, so its write of the result found no revision to write over.
    let max = state.store.max_in_flight;
    let now = state.clock.now();
    assert!(
        state
            .slots
            .acquire_task_slot(
                ModelKind::T2v,
                &job_id,
                job.user_id,
                now,
                job.deadline_at,
                max
            )
            .await
            .unwrap()
    );
    let (gif, thumb) = (emo::store::gif_key(&job_id), emo::store::thumb_key(&job_id));
    state
        .blobs
        .put(&gif, b"GIF89a".to_vec(), "image/gif")
        .await
        .unwrap();
    state
        .blobs
        .put(&thumb, b"png".to_vec(), "image/png")
        .await
        .unwrap();
    // While the job is there, nothing is cleaned up.
    assert!(!emo::job::delete::clean_up_if_gone(state, &job).await);
    assert!(state.blobs.get(&gif).await.unwrap().is_some());
    state.jobs.delete(&job_id).await.unwrap();
    assert!(emo::job::delete::clean_up_if_gone(state, &job).await);
    assert_eq!(state.blobs.get(&gif).await.unwrap(), None);
    assert_eq!(state.blobs.get(&thumb).await.unwrap(), None);
    // Its slot is free: another job of the same user (one slot per user) takes it.
    assert!(
        state
            .slots
            .acquire_task_slot(
                ModelKind::T2v,
                &JobId::new(),
                job.user_id,
                now,
                now + 60,
                max
            )
            .await
            .unwrap()
    );
    // Later messages for it change nothing: no job comes back, no task is made.
    for message in [
        JobMessage::Start {
            job_id: job_id.clone(),
        },
        JobMessage::Poll {
            job_id: job_id.clone(),
            seq: 1,
        },
    ] {
        let body = serde_json::to_string(&message).unwrap();
        let outcome =
            emo::worker::handle(state, &body, 1, emo::worker::lease_step_time(state)).await;
        assert_eq!(outcome, emo::worker::Disposition::Done);
    }
    assert_eq!(state.jobs.get(&job_id).await.unwrap(), None);
    assert_eq!(env.standin.tasks_created(), 0);
}

emo_test_support::on_both_backends!(
    emo_test_support::env::JobEnv;
    what_a_worker_left_for_a_deleted_job_is_cleaned_up_and_later_messages_change_nothing,
    a_status_filter_lists_only_the_jobs_in_that_status,
    another_users_jobs_are_not_theirs_to_list_delete_or_regenerate,
    deleting_a_running_job_cancels_or_discards_its_one_task_and_the_job_is_gone,
    deleting_a_sticker_removes_its_gif_thumbnail_input_and_links,
    regenerating_sends_a_new_seed_and_succeeds,
    regenerating_a_photo_or_a_character_reuses_what_it_can,
    the_query_shows_describing_then_an_estimate_from_recent_jobs,
);

/// Tests whose users need other allowances than the defaults.
mod allowances {
    use super::*;

    /// Room for 45 jobs at once.
    const ROOMY: [(&str, &str); 2] = [("EMO_MAX_ACTIVE_JOBS", "50"), ("EMO_MAX_DAILY_JOBS", "100")];
    /// One create and one regenerate a day.
    const TWO_A_DAY: [(&str, &str); 1] = [("EMO_MAX_DAILY_JOBS", "2")];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_paging_over_45_jobs_returns_each_once_newest_first() {
        paging_over_45_jobs_returns_each_once_newest_first(JobEnv::local(&ROOMY).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_paging_over_45_jobs_returns_each_once_newest_first() {
        let Some(env) = JobEnv::aws(&ROOMY).await else {
            return;
        };
        paging_over_45_jobs_returns_each_once_newest_first(env).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_a_regenerate_counts_against_the_daily_allowance_like_a_create() {
        a_regenerate_counts_against_the_daily_allowance_like_a_create(
            JobEnv::local(&TWO_A_DAY).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aws_a_regenerate_counts_against_the_daily_allowance_like_a_create() {
        let Some(env) = JobEnv::aws(&TWO_A_DAY).await else {
            return;
        };
        a_regenerate_counts_against_the_daily_allowance_like_a_create(env).await;
    }
}

/// The `events/` fixtures of the three routes, through the very handlers their Lambdas run.
async fn the_library_event_fixtures_get_the_answers_they_describe(env: JobEnv) {
    use emo::api::library;
    use emo_test_support::fixture;
    use emo_test_support::http::read;

    let token = env.user("13700000011").await;
    let event = |name: &str, job: &str| {
        let text = fixture(name, &token).replace("job_0123456789abcdef01234567", job);
        lambda_http::request::from_str(&text).expect("an API Gateway v2 event")
    };
    let unknown = "job_0123456789abcdef01234567";
    let id = create_text(&env, &token, "事件").await;

    let (status, body) = read(library::list(&env.state, event("video-list.json", unknown)).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["jobs"][0]["job_id"], id.as_str());
    let (status, body) =
        read(library::list(&env.state, event("video-list-bad-limit.json", unknown)).await);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().starts_with("limit"));

    let (status, body) =
        read(library::regenerate(&env.state, event("video-regenerate.json", &id)).await);
    assert_eq!(status, 409, "in progress: {body}");
    let (status, _) =
        read(library::regenerate(&env.state, event("video-regenerate.json", unknown)).await);
    assert_eq!(status, 404);

    let (status, body) =
        read(library::delete(&env.state, event("video-delete-no-token.json", &id)).await);
    assert_eq!(
        (status, body),
        (401, json!({"error": "Invalid or expired JWT"}))
    );
    let (status, body) = read(library::delete(&env.state, event("video-delete.json", &id)).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["job_id"], id.as_str());
    let (status, _) = read(library::delete(&env.state, event("video-delete.json", &id)).await);
    assert_eq!(status, 404);
}

mod fixtures {
    use super::*;

    emo_test_support::on_both_backends!(
        emo_test_support::env::JobEnv;
        the_library_event_fixtures_get_the_answers_they_describe,
    );
}
