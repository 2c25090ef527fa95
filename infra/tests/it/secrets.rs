//! The JWT key and the DashScope key read from Secrets Manager (on the emulator) at start and
//! again after a rotation, as the deployed functions do.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use emo::{AppState, Role};
use serde_json::json;

use crate::env::{call, emulator_configured, post, unique};
use emo_standin::{Standin, StandinConfig};

const JWT_1: &str = "first-jwt-key-first-jwt-key-first-jwt-key";
const JWT_2: &str = "second-jwt-key-second-jwt-key-second-jwt-k";
const JWT_3: &str = "third-jwt-key-third-jwt-key-third-jwt-key!";

/// `None` outside CI without an emulator, like every aws test.
async fn emulator() -> Option<aws_config::SdkConfig> {
    if !emulator_configured() {
        return None;
    }
    Some(emo::store::aws::sdk_config().await)
}

/// A function's state as its cold start builds it, from these variables.
async fn cold_start(vars: &[(&str, &str)]) -> anyhow::Result<AppState> {
    let mut all = vec![
        ("EMO_BACKEND", "aws"),
        ("EMO_ARGON2_MEMORY_KIB", "256"),
        ("EMO_ARGON2_ITERATIONS", "1"),
    ];
    all.extend_from_slice(vars);
    AppState::from_vars(Role::Local, &all).await
}

async fn login(state: &AppState, phone: &str) -> String {
    let creds = json!({"phone": phone, "password": "secret-test-password"});
    let (_, body) = call(state, post("/api/v1/users/login", &creds, None)).await;
    body["data"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {body}"))
        .to_owned()
}

/// Whether `token` gets past authentication (a missing job then answers 404, not 401).
async fn accepted(state: &AppState, token: &str) -> bool {
    let req = http::Request::builder()
        .uri("/api/v1/video/query/job_000000000000000000000000")
        .header("authorization", format!("Bearer {token}"))
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, _) = call(state, req).await;
    assert!(status == 404 || status == 401, "{status}");
    status == 404
}

#[tokio::test]
async fn tokens_survive_a_jwt_key_rotation_and_instances_pick_the_new_key_up() {
    let Some(conf) = emulator().await else { return };
    let sm = Client::new(&conf);
    let id = unique("emo-test-jwt");
    sm.create_secret()
        .name(&id)
        .secret_string(JWT_1)
        .send()
        .await
        .unwrap();
    let resources = emo::store::aws::provision(&conf, &unique("emo-sec"), Duration::from_secs(10))
        .await
        .unwrap();
    let mut vars = resources.env().to_vec();
    vars.push(("EMO_JWT_SECRET_ID", &id));

    let old = cold_start(&vars).await.unwrap();
    let creds = json!({"phone": "13700000001", "password": "secret-test-password"});
    assert_eq!(
        call(&old, post("/api/v1/users/register", &creds, None))
            .await
            .0,
        200
    );
    let first = login(&old, "13700000001").await;
    assert!(accepted(&old, &first).await);

    sm.put_secret_value()
        .secret_id(&id)
        .secret_string(JWT_2)
        .send()
        .await
        .unwrap();
    // A new instance signs with the new key and still takes the old tokens...
    let fresh = cold_start(&vars).await.unwrap();
    let second = login(&fresh, "13700000001").await;
    assert!(accepted(&fresh, &first).await);
    assert!(accepted(&fresh, &second).await);
    // ...and an instance started before the rotation reads the key again when it meets one.
    assert!(accepted(&old, &second).await);
    assert!(
        emo::auth::Tokens::new(JWT_1.as_bytes(), 60)
            .verify(&second)
            .is_none(),
        "the new token is not signed with the old key"
    );

    sm.put_secret_value()
        .secret_id(&id)
        .secret_string(JWT_3)
        .send()
        .await
        .unwrap();
    let later = cold_start(&vars).await.unwrap();
    assert!(
        !accepted(&later, &first).await,
        "two rotations on, the first key is gone"
    );
    assert!(accepted(&later, &second).await);
    assert!(
        !accepted(
            &later,
            &emo::auth::Tokens::new(JWT_1.as_bytes(), 60)
                .sign(&emo::auth::jwt::Claims {
                    id: 1,
                    phone: "13700000001".into(),
                    exp: u64::MAX / 2,
                    iss: "emo".into(),
                    iat: 0,
                    ver: 0,
                })
                .unwrap()
        )
        .await,
        "a token signed with a key not in the secret is refused"
    );
}

#[tokio::test]
async fn the_transcoder_reads_the_dashscope_key_at_start_and_again_after_a_rotation() {
    let Some(conf) = emulator().await else { return };
    let sm = Client::new(&conf);
    let (jwt_id, key_id) = (unique("emo-test-jwt"), unique("emo-test-dashscope"));
    for (id, value) in [(&jwt_id, JWT_1), (&key_id, "sk-first-key")] {
        sm.create_secret()
            .name(id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let standin = Standin::start(StandinConfig::default()).await.unwrap();
    let base = standin.base_url();
    let vars = [
        ("EMO_USERS_TABLE", "unused-users"),
        ("EMO_JOBS_TABLE", "unused-jobs"),
        ("EMO_BUCKET", "unused-bucket"),
        ("EMO_QUEUE_URL", "http://127.0.0.1:9/unused"),
        ("EMO_JWT_SECRET_ID", jwt_id.as_str()),
        ("DASHSCOPE_API_KEY_SECRET_ID", key_id.as_str()),
        ("DASHSCOPE_BASE_URL", base.as_str()),
    ];
    let state = cold_start(&vars).await.unwrap();
    let dashscope = &state.worker.as_ref().expect("the key was read").dashscope;
    dashscope
        .create_text_to_video("一只猫", None, "624*624")
        .await
        .unwrap();

    sm.put_secret_value()
        .secret_id(&key_id)
        .secret_string("sk-second-key")
        .send()
        .await
        .unwrap();
    state.refresh_secrets_if_due().await;
    dashscope
        .create_text_to_video("一只狗", None, "624*624")
        .await
        .unwrap();
    state.refresh_secrets(Duration::ZERO).await;
    dashscope
        .create_text_to_video("一只鸟", None, "624*624")
        .await
        .unwrap();

    let keys: Vec<Option<String>> = standin
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/video-synthesis"))
        .map(|r| r.api_key.clone())
        .collect();
    let expected = ["sk-first-key", "sk-first-key", "sk-second-key"].map(|k| Some(k.to_owned()));
    assert_eq!(
        keys, expected,
        "not re-read before it is due, then the new key"
    );

    // A secret that is missing stops the cold start, naming it.
    let missing = unique("emo-test-missing");
    let mut vars = vars.to_vec();
    vars[5] = ("DASHSCOPE_API_KEY_SECRET_ID", missing.as_str());
    let err = cold_start(&vars)
        .await
        .err()
        .expect("a missing secret fails the start");
    assert!(format!("{err:#}").contains(&missing), "{err:#}");
}
