//! The real `emo-local` binary, started as a user would, spoken to over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

/// A running `emo-local` and everything it has logged so far.
pub(crate) struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

pub(crate) fn start(data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emo-local"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // The caption font the test command made (infra/ensure-font.sh).
        .env(
            "EMO_CAPTION_FONT",
            std::env::var_os("EMO_CAPTION_FONT").unwrap_or_default(),
        )
        .env("EMO_ADDR", "127.0.0.1:0")
        .env("EMO_DATA_DIR", data_dir)
        .env("EMO_ARGON2_MEMORY_KIB", "256")
        .env("EMO_ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("emo-local starts");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let addr = line[i + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned();
                let _ = tx.send(addr);
            }
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let base = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "emo-local did not start; it logged:\n{}",
                log.lock().unwrap()
            );
        }
    };
    Server { child, base, log }
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and returns whether it exited cleanly, with its log.
    fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        (status.success(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

/// Registers and logs in `phone`, then creates a text-to-video job; returns the token and job id.
async fn user_with_job(server: &Server, phone: &str, password: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let creds = [("phone", phone), ("password", password)];
    let r = http
        .post(server.url("/api/v1/users/register"))
        .form(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(server.url("/api/v1/users/login"))
        .form(&creds)
        .send()
        .await
        .unwrap();
    let token = json_of(r).await.1["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(server.url("/api/v1/video/create"))
        .bearer_auth(&token)
        .form(&[("type", "text_to_video"), ("prompt", "一只猫")])
        .send()
        .await
        .unwrap();
    let job_id = json_of(r).await.1["data"]["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, job_id)
}

/// The job's `data` once it is SUCCEEDED or FAILED (or after 30 s, whatever it is then).
async fn wait_for_end(server: &Server, token: &str, job_id: &str) -> Value {
    let http = reqwest::Client::new();
    let mut last = Value::Null;
    for _ in 0..120 {
        let r = http
            .get(server.url(&format!("/api/v1/video/query/{job_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        last = json_of(r).await.1["data"].clone();
        if last["status"] == "SUCCEEDED" || last["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last
}

#[tokio::test]
async fn emo_local_serves_the_account_flow_over_http_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = reqwest::Client::new();

    let form = reqwest::multipart::Form::new()
        .text("phone", "13800138000")
        .text("password", "sticker-maker-1");
    let r = http
        .post(server.url("/api/v1/users/register"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(r).await,
        (
            200,
            json!({"code": 0, "message": "Registration successful"})
        )
    );

    let r = http
        .post(server.url("/api/v1/users/login"))
        .form(&[("phone", "13800138000"), ("password", "sticker-maker-1")])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(
        (status, &body["message"]),
        (200, &json!("Login successful"))
    );
    let old = body["data"]["token"].as_str().unwrap().to_owned();

    let change = |token: String, pw: &'static str| {
        http.post(server.url("/api/v1/users/change-password"))
            .bearer_auth(token)
            .json(&json!({ "newPassword": pw }))
            .send()
    };
    let (status, body) = json_of(change(old.clone(), "sticker-maker-2").await.unwrap()).await;
    assert_eq!(
        (status, &body["message"]),
        (200, &json!("Password changed successfully"))
    );
    let fresh = body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        json_of(change(old, "sticker-maker-3").await.unwrap()).await,
        (401, json!({"code": 1, "message": "Invalid or expired JWT"}))
    );
    assert_eq!(
        json_of(change(fresh, "sticker-maker-3").await.unwrap())
            .await
            .0,
        200
    );

    // Unknown routes and wrong methods answer JSON too.
    let r = http
        .get(server.url("/api/v1/users/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(json_of(r).await.0, 405);
    let r = http.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(json_of(r).await.0, 404);

    // A body over the limit is refused in the envelope without being read whole.
    let huge = vec![b'a'; 17 * 1024 * 1024];
    let r = http
        .post(server.url("/api/v1/users/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!((status, &body["code"]), (413, &json!(1)));

    let (clean, log) = server.terminate();
    assert!(clean, "emo-local exited with an error; log:\n{log}");
    assert!(log.contains("POST /api/v1/users/register 200"), "{log}");
    assert!(
        log.contains("POST /api/v1/users/change-password 401"),
        "{log}"
    );
    assert!(log.contains("emo-local stopped"), "{log}");
    assert!(
        !log.contains("sticker-maker"),
        "a password reached the log:\n{log}"
    );
}

#[tokio::test]
async fn tokens_survive_a_restart_because_the_generated_secret_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let first = start(dir.path(), &[]);
    http.post(first.url("/api/v1/users/register"))
        .form(&[("phone", "13900139000"), ("password", "password-one")])
        .send()
        .await
        .unwrap();
    let (_, body) = json_of(
        http.post(first.url("/api/v1/users/login"))
            .form(&[("phone", "13900139000"), ("password", "password-one")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    assert!(first.terminate().0);
    let secret = std::fs::read_to_string(dir.path().join("jwt-secret")).unwrap();
    assert!(secret.len() >= 32);

    let second = start(dir.path(), &[]);
    let r = http
        .post(second.url("/api/v1/users/change-password"))
        .bearer_auth(&token)
        .form(&[("newPassword", "password-two")])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.0, 200);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("jwt-secret")).unwrap(),
        secret
    );
}

#[tokio::test]
async fn emo_local_bounds_registrations_by_the_clients_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("EMO_REGISTER_PER_IP_PER_HOUR", "2")]);
    let http = reqwest::Client::new();
    let mut answers = vec![];
    // Five from 127.0.0.1 with a bound of 2: refusals, even if an hour happens to end meanwhile.
    for i in 0..5 {
        let r = http
            .post(server.url("/api/v1/users/register"))
            .form(&[
                ("phone", format!("1390013900{i}")),
                ("password", "bounded-pw".into()),
            ])
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").cloned();
        let (status, body) = json_of(r).await;
        answers.push((status, body, retry));
    }
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(refused.len() >= 2, "{answers:?}");
    for (_, body, retry) in refused {
        assert_eq!(body["code"], 1);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("每小时最多注册 2 次"),
            "{body}"
        );
        assert!(retry.is_some(), "429 without Retry-After");
    }
    assert_eq!(answers[0].0, 200);
}

#[test]
fn a_malformed_setting_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("EMO_LOGIN_MAX_FAILURES", "five"),
        ("EMO_ADDR", "not-an-address"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_emo-local"))
            .env("EMO_DATA_DIR", dir.path())
            .env("EMO_ADDR", "127.0.0.1:0")
            .env(name, value)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[tokio::test]
async fn every_protected_route_refuses_a_missing_or_bad_token_in_its_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let http = reqwest::Client::new();
    let routes = [
        (
            "POST",
            "/api/v1/users/change-password",
            json!({"code": 1, "message": "Invalid or expired JWT"}),
        ),
        (
            "POST",
            "/api/v1/video/create",
            json!({"error": "Invalid or expired JWT"}),
        ),
        (
            "POST",
            "/api/v1/video/create_with_prompt",
            json!({"error": "Invalid or expired JWT"}),
        ),
        (
            "GET",
            "/api/v1/video/query/job_0123456789abcdef01234567",
            json!({"error": "Invalid or expired JWT"}),
        ),
        (
            "GET",
            "/api/v1/video/list",
            json!({"error": "Invalid or expired JWT"}),
        ),
        (
            "POST",
            "/api/v1/video/regenerate/job_0123456789abcdef01234567",
            json!({"error": "Invalid or expired JWT"}),
        ),
        (
            "DELETE",
            "/api/v1/video/job_0123456789abcdef01234567",
            json!({"error": "Invalid or expired JWT"}),
        ),
    ];
    let forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6MSwicGhvbmUiOiIxMzgwMDAwMDAwMCIsImV4cCI6OTk5OTk5OTk5OSwiaXNzIjoiZW1vIiwiaWF0IjowLCJ2ZXIiOjB9.";
    for (method, path, expected) in &routes {
        for auth in [
            None,
            Some("Bearer".to_owned()),
            Some("Bearer garbage".to_owned()),
            Some(format!("Bearer {forged}")),
        ] {
            let mut req = http.request(method.parse().unwrap(), server.url(path));
            if *method == "POST" {
                req = req.json(&json!({"newPassword": "whatever-1", "type": "text_to_video", "prompt": "猫", "role": "猫", "action": "跳"}));
            }
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let got = json_of(req.send().await.unwrap()).await;
            assert_eq!(
                got,
                (401, expected.clone()),
                "{method} {path} with {auth:?}"
            );
        }
    }
}

#[tokio::test]
async fn no_password_token_or_api_key_reaches_the_log_of_a_whole_sticker_job() {
    use emo_standin::{Standin, StandinConfig};
    let standin = Standin::start(StandinConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-sentinel-key-that-must-never-be-logged";
    let base = standin.base_url();
    let server = start(
        dir.path(),
        &[
            ("DASHSCOPE_API_KEY", key),
            ("DASHSCOPE_BASE_URL", &base),
            ("DASHSCOPE_VIDEO_HOSTS", "127.0.0.1"),
            ("EMO_POLL_INTERVAL_SECS", "1"),
        ],
    );
    let (token, job_id) = user_with_job(&server, "13500135000", "secret-sentinel-pw").await;
    let last = wait_for_end(&server, &token, &job_id).await;
    assert_eq!(last["status"], "SUCCEEDED", "{last}");
    assert!(!last.to_string().contains(key));
    let (clean, log) = server.terminate();
    assert!(clean);
    assert!(log.contains("job SUCCEEDED"), "{log}");
    for secret in [key, "secret-sentinel-pw", token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} reached the log:\n{log}");
    }
    // The key was really used on DashScope's API, and never sent to the video's file host.
    let seen = standin.requests();
    let (api, files): (Vec<_>, Vec<_>) = seen.iter().partition(|r| r.path.starts_with("/api/v1"));
    assert!(!api.is_empty() && api.iter().all(|r| r.authorization));
    assert!(!files.is_empty() && files.iter().all(|r| !r.authorization));
}

#[tokio::test]
async fn a_job_survives_its_worker_being_killed_and_restarted() {
    use emo_standin::{Standin, StandinConfig};
    let standin = Standin::start(StandinConfig {
        running_for: Duration::from_secs(4),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = standin.base_url();
    let env = [
        ("DASHSCOPE_API_KEY", "sk-test"),
        ("DASHSCOPE_BASE_URL", base.as_str()),
        ("DASHSCOPE_VIDEO_HOSTS", "127.0.0.1"),
        ("EMO_POLL_INTERVAL_SECS", "1"),
        // Long enough for a transcode on a busy machine (a step is cut before its lease ends),
        // short enough that the takeover after a kill comes soon.
        ("EMO_LEASE_SECS", "20"),
    ];
    let first = start(dir.path(), &env);
    let (token, job_id) = user_with_job(&first, "13600136000", "kill-restart-1").await;
    // Kill it (SIGKILL: no clean shutdown) while the task runs at DashScope.
    let http = reqwest::Client::new();
    let mut running = false;
    for _ in 0..100 {
        let r = http
            .get(first.url(&format!("/api/v1/video/query/{job_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if json_of(r).await.1["data"]["status"] == "RUNNING" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(running, "the job never reached RUNNING before the kill");
    drop(first);

    let second = start(dir.path(), &env);
    let last = wait_for_end(&second, &token, &job_id).await;
    assert_eq!(last["status"], "SUCCEEDED", "{last}");
    assert_eq!(standin.tasks_created(), 1);
}

#[tokio::test]
async fn a_create_cut_by_killing_emo_local_is_settled_after_the_restart_with_one_task() {
    a_create_cut_by_killing_emo_local_is_settled_after_the_restart(Vec::new()).await;
}

#[tokio::test]
async fn on_aws_a_create_cut_by_killing_emo_local_is_settled_after_the_restart_with_one_task() {
    let Some(mut vars) =
        emo_test_support::env::aws_backend_vars("emo-kill", Duration::from_secs(10)).await
    else {
        return;
    };
    // The emulator's endpoint and credentials, which `start` would otherwise clear.
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        vars.push((k, v));
    }
    a_create_cut_by_killing_emo_local_is_settled_after_the_restart(vars).await;
}

/// emo-local, on the backend `backend_env` names, is killed while DashScope holds the answer to
/// a create it has made the task for; restarted on the same data, it adopts that task.
async fn a_create_cut_by_killing_emo_local_is_settled_after_the_restart(
    backend_env: Vec<(String, String)>,
) {
    use emo_standin::{Call, Standin, StandinConfig};
    let standin = Standin::start(StandinConfig::default()).await.unwrap();
    // The create reaches DashScope, which makes the task, then holds the answer: emo-local is
    // killed while it waits for it.
    standin.hang_next(Call::Create, 1, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let base = standin.base_url();
    let mut env = vec![
        ("DASHSCOPE_API_KEY", "sk-test"),
        ("DASHSCOPE_BASE_URL", base.as_str()),
        ("DASHSCOPE_VIDEO_HOSTS", "127.0.0.1"),
        ("EMO_POLL_INTERVAL_SECS", "1"),
        // Long enough for a transcode on a busy machine (a step is cut before its lease ends),
        // short enough that the takeover after a kill comes soon.
        ("EMO_LEASE_SECS", "20"),
        ("EMO_JWT_SECRET", "kill-test-secret-kill-test-secret-32"),
    ];
    env.extend(backend_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let first = start(dir.path(), &env);
    let (token, job_id) = user_with_job(&first, "13600136001", "kill-mid-create").await;
    let mut made = false;
    for _ in 0..200 {
        if standin.tasks_created() == 1 {
            made = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(made, "the create never reached the stand-in");
    drop(first); // SIGKILL, the create's answer still held

    // Restarted on the same data dir: once the dead worker's lease is over, the task list shows
    // the one task of its window, and the job adopts it instead of creating another.
    let second = start(dir.path(), &env);
    let http = reqwest::Client::new();
    let mut last = Value::Null;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(240) {
        let r = http
            .get(second.url(&format!("/api/v1/video/query/{job_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        last = json_of(r).await.1["data"].clone();
        if last["status"] == "SUCCEEDED" || last["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = second.log.lock().unwrap().clone();
    let tasks = standin.task_ids("");
    assert_eq!(
        last["status"], "SUCCEEDED",
        "{last}\ntasks {tasks:?}\n{log}"
    );
    assert_eq!(standin.tasks_created(), 1);
}
