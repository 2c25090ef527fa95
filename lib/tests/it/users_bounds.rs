//! The per-client bounds on registering and logging in, through the handlers, on both backends:
//! requests come from an address as API Gateway gives it (the request context's source IP).

use std::net::IpAddr;
use std::time::Duration;

use emo::api::users::{login, register};
use emo::web::client::with_client_addr;
use serde_json::{Value, json};

use crate::harness::{Encoding, TestEnv, post, read};

const BOUNDS: [(&str, &str); 2] = [
    ("EMO_REGISTER_PER_IP_PER_HOUR", "3"),
    ("EMO_LOGIN_PER_IP_PER_MINUTE", "3"),
];

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Moves the test's clock to the start of an hour, so the windows a test counts in (an hour for
/// registrations, a minute for logins) begin with it instead of wherever the wall clock is.
fn at_the_start_of_an_hour(env: &TestEnv) {
    let into = env.state.clock.now() % 3600;
    env.state
        .clock
        .advance(Duration::from_secs((3600 - into) % 3600));
}

async fn register_from(env: &TestEnv, from: &str, phone: &str) -> (u16, Value, Option<String>) {
    let req = post(
        "/api/v1/users/register",
        Encoding::Multipart,
        &[("phone", phone), ("password", "bounded-password")],
        None,
    );
    answer(register(&env.state, with_client_addr(req, addr(from))).await)
}

async fn login_from(
    env: &TestEnv,
    from: &str,
    phone: &str,
    pw: &str,
) -> (u16, Value, Option<String>) {
    let req = post(
        "/api/v1/users/login",
        Encoding::Json,
        &[("phone", phone), ("password", pw)],
        None,
    );
    answer(login(&env.state, with_client_addr(req, addr(from))).await)
}

/// Status, body and `Retry-After`.
fn answer(resp: lambda_http::Response<lambda_http::Body>) -> (u16, Value, Option<String>) {
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(resp);
    (status, body, retry)
}

async fn registrations_beyond_an_addresss_hourly_bound_are_refused_and_store_nothing(env: TestEnv) {
    at_the_start_of_an_hour(&env);
    for phone in ["13100000001", "13100000002", "13100000003"] {
        assert_eq!(register_from(&env, "203.0.113.10", phone).await.0, 200);
    }
    let (status, body, retry) = register_from(&env, "203.0.113.10", "13100000004").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], 1);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("每小时最多注册 3 次"), "{message}");
    assert!(message.contains("分钟后再试"), "{message}");
    let retry: u64 = retry.expect("a Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(
        env.state
            .users
            .find_by_phone("13100000004")
            .await
            .unwrap()
            .is_none(),
        "a refused registration creates no user"
    );
    // Another address is not held back; an IPv6 client is counted by its /64.
    assert_eq!(
        register_from(&env, "198.51.100.20", "13100000004").await.0,
        200
    );
    for (i, from) in ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7:ffff::3"]
        .into_iter()
        .enumerate()
    {
        let phone = format!("1310000010{i}");
        assert_eq!(register_from(&env, from, &phone).await.0, 200);
    }
    assert_eq!(
        register_from(&env, "2001:db8:7:7::9", "13100000109")
            .await
            .0,
        429
    );
    // The next hour, the first address may register again.
    env.state.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        register_from(&env, "203.0.113.10", "13100000005").await.0,
        200
    );
}

async fn logins_beyond_an_addresss_bound_per_minute_are_refused_before_any_check(env: TestEnv) {
    let phone = "13100000200";
    assert_eq!(register_from(&env, "192.0.2.1", phone).await.0, 200);
    at_the_start_of_an_hour(&env);
    for _ in 0..3 {
        assert_eq!(
            login_from(&env, "203.0.113.30", phone, "wrong-password")
                .await
                .0,
            401
        );
    }
    let (status, body, retry) = login_from(&env, "203.0.113.30", phone, "bounded-password").await;
    assert_eq!(status, 429, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("每分钟最多登录 3 次"), "{message}");
    let retry: u64 = retry.expect("a Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The refused login was never checked: the phone has 3 failures, not 4, so from another
    // address two more wrong guesses are checked before the lockout (5) refuses the third.
    let from_b: Vec<u16> = {
        let mut v = vec![];
        for _ in 0..3 {
            v.push(
                login_from(&env, "198.51.100.40", phone, "wrong-password")
                    .await
                    .0,
            );
        }
        v
    };
    assert_eq!(from_b, [401, 401, 429]);
    // The next minute the first address may log in again (into the lockout, as anyone would).
    env.state.clock.advance(Duration::from_secs(60));
    let (status, body, _) = login_from(&env, "203.0.113.30", phone, "bounded-password").await;
    assert_eq!(status, 429);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("too many failed login attempts"),
        "{body}"
    );
    env.state.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        login_from(&env, "203.0.113.30", phone, "bounded-password")
            .await
            .0,
        200
    );
}

async fn a_bound_of_zero_bounds_nothing(env: TestEnv) {
    for i in 0..12 {
        let phone = format!("131000003{i:02}");
        assert_eq!(register_from(&env, "203.0.113.50", &phone).await.0, 200);
    }
    for _ in 0..35 {
        assert_eq!(
            login_from(&env, "203.0.113.50", "13100000300", "bounded-password")
                .await
                .0,
            200
        );
    }
    assert_eq!(
        read(
            register(
                &env.state,
                post(
                    "/api/v1/users/register",
                    Encoding::Json,
                    &[("phone", "13100000399"), ("password", "no-address-at-all")],
                    None,
                ),
            )
            .await
        ),
        (
            200,
            json!({"code": 0, "message": "Registration successful"})
        )
    );
}

const NO_BOUNDS: [(&str, &str); 2] = [
    ("EMO_REGISTER_PER_IP_PER_HOUR", "0"),
    ("EMO_LOGIN_PER_IP_PER_MINUTE", "0"),
];

mod local {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registrations_beyond_an_addresss_hourly_bound_are_refused_and_store_nothing() {
        let env = TestEnv::local(&BOUNDS).await;
        super::registrations_beyond_an_addresss_hourly_bound_are_refused_and_store_nothing(env)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_beyond_an_addresss_bound_per_minute_are_refused_before_any_check() {
        let env = TestEnv::local(&BOUNDS).await;
        super::logins_beyond_an_addresss_bound_per_minute_are_refused_before_any_check(env).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bound_of_zero_bounds_nothing() {
        super::a_bound_of_zero_bounds_nothing(TestEnv::local(&NO_BOUNDS).await).await;
    }
}

mod aws {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registrations_beyond_an_addresss_hourly_bound_are_refused_and_store_nothing() {
        let Some(env) = TestEnv::aws(&BOUNDS).await else {
            return;
        };
        super::registrations_beyond_an_addresss_hourly_bound_are_refused_and_store_nothing(env)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_beyond_an_addresss_bound_per_minute_are_refused_before_any_check() {
        let Some(env) = TestEnv::aws(&BOUNDS).await else {
            return;
        };
        super::logins_beyond_an_addresss_bound_per_minute_are_refused_before_any_check(env).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bound_of_zero_bounds_nothing() {
        let Some(env) = TestEnv::aws(&NO_BOUNDS).await else {
            return;
        };
        super::a_bound_of_zero_bounds_nothing(env).await;
    }
}
