//! What keeps a script from running up a bill: per-user allowances refuse jobs before anything is
//! stored, and the worker never runs more DashScope tasks at once than the account allows.

use serde_json::json;

use crate::env::JobEnv;

async fn jobs_beyond_a_users_allowances_are_refused_and_cost_nothing(mut env: JobEnv) {
    let token = env.user("13700000001").await;
    let make = |n: u32| json!({"type": "text_to_video", "prompt": format!("第 {n} 张")});
    let mut ids = Vec::new();
    for n in 0..2 {
        let (status, body) = env.create(&token, make(n)).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["data"]["job_id"].as_str().unwrap().to_owned());
    }
    // Two in progress: a third waits for them.
    let (status, body) = env.create(&token, make(2)).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("最多 2 个"),
        "{body}"
    );
    // Another user is not held back by this one.
    let other = env.user("13700000002").await;
    assert_eq!(env.create(&other, make(9)).await.0, 200);

    env.start_worker();
    for id in &ids {
        assert_eq!(env.wait(&token, id).await.0["status"], "SUCCEEDED");
    }
    let (status, body) = env.create(&token, make(3)).await;
    assert_eq!(status, 200, "{body}");
    env.wait(&token, body["data"]["job_id"].as_str().unwrap())
        .await;
    // Three today: the day's allowance is used up.
    let (status, body) = env.create(&token, make(4)).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("每天 3 次"),
        "{body}"
    );

    let user = env
        .state
        .users
        .find_by_phone("13700000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        env.state
            .jobs
            .list_for_user(user.id, 0, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(env.standin.tasks_created(), 4);
}

async fn the_worker_never_runs_more_dashscope_tasks_than_allowed(mut env: JobEnv) {
    let mut jobs = Vec::new();
    for n in 0..4 {
        let token = env.user(&format!("1370000010{n}")).await;
        let (status, body) = env
            .create(
                &token,
                json!({"type": "text_to_video", "prompt": format!("并发 {n}")}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        jobs.push((token, body["data"]["job_id"].as_str().unwrap().to_owned()));
    }
    env.start_worker();
    for (token, id) in &jobs {
        assert_eq!(env.wait(token, id).await.0["status"], "SUCCEEDED");
    }
    assert_eq!(env.standin.tasks_created(), 4);
    assert_eq!(env.standin.max_in_flight(), 1);
}

mod local {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_a_users_allowances_are_refused_and_cost_nothing() {
        let env =
            crate::env::JobEnv::local(&[("EMO_MAX_ACTIVE_JOBS", "2"), ("EMO_MAX_DAILY_JOBS", "3")])
                .await;
        super::jobs_beyond_a_users_allowances_are_refused_and_cost_nothing(env).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_never_runs_more_dashscope_tasks_than_allowed() {
        let env = crate::env::JobEnv::local(&[("DASHSCOPE_MAX_IN_FLIGHT", "1")]).await;
        super::the_worker_never_runs_more_dashscope_tasks_than_allowed(env).await;
    }
}

mod aws {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_a_users_allowances_are_refused_and_cost_nothing() {
        let vars = [("EMO_MAX_ACTIVE_JOBS", "2"), ("EMO_MAX_DAILY_JOBS", "3")];
        let Some(env) = crate::env::JobEnv::aws(&vars).await else {
            return;
        };
        super::jobs_beyond_a_users_allowances_are_refused_and_cost_nothing(env).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_never_runs_more_dashscope_tasks_than_allowed() {
        let Some(env) = crate::env::JobEnv::aws(&[("DASHSCOPE_MAX_IN_FLIGHT", "1")]).await else {
            return;
        };
        super::the_worker_never_runs_more_dashscope_tasks_than_allowed(env).await;
    }
}
