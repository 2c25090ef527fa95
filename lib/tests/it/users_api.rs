//! Section 2.1 of the spec through the handlers, on both backends, for every body encoding, and
//! with the API Gateway fixtures in `events/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use emo::api::users::{change_password, login, register};
use emo::auth::{Claims, LockoutPolicy};
use emo::domain::{Password, Phone};
use emo::store::{LoginAttempts, LoginCheck, StoreError, User, UserStore};
use serde_json::{Value, json};

use crate::harness::{ENCODINGS, Encoding, TestEnv, post, raw_post, read};

const REGISTER: &str = "/api/v1/users/register";
const LOGIN: &str = "/api/v1/users/login";
const CHANGE: &str = "/api/v1/users/change-password";

async fn do_register(env: &TestEnv, enc: Encoding, phone: &str, pw: &str) -> (u16, Value) {
    read(
        register(
            &env.state,
            post(REGISTER, enc, &[("phone", phone), ("password", pw)], None),
        )
        .await,
    )
}

async fn do_login(env: &TestEnv, enc: Encoding, phone: &str, pw: &str) -> (u16, Value) {
    read(
        login(
            &env.state,
            post(LOGIN, enc, &[("phone", phone), ("password", pw)], None),
        )
        .await,
    )
}

async fn do_change(env: &TestEnv, enc: Encoding, token: Option<&str>, pw: &str) -> (u16, Value) {
    read(change_password(&env.state, post(CHANGE, enc, &[("newPassword", pw)], token)).await)
}

fn token_of(body: &Value) -> String {
    body["data"]["token"]
        .as_str()
        .expect("a token in data.token")
        .to_owned()
}

fn invalid_jwt() -> (u16, Value) {
    (401, json!({"code": 1, "message": "Invalid or expired JWT"}))
}

async fn register_login_change_password_then_only_the_new_token_works(env: TestEnv) {
    for (i, enc) in ENCODINGS.into_iter().enumerate() {
        let phone = format!("1380000000{i}");
        assert_eq!(
            do_register(&env, enc, &phone, "first-password").await,
            (
                200,
                json!({"code": 0, "message": "Registration successful"})
            ),
            "{enc:?}"
        );
        let (status, body) = do_login(&env, enc, &phone, "first-password").await;
        assert_eq!(
            (status, &body["code"], &body["message"]),
            (200, &json!(0), &json!("Login successful"))
        );
        let old = token_of(&body);
        let claims = env.state.tokens.verify(&old).expect("the token verifies");
        assert_eq!(
            (claims.phone.as_str(), claims.iss.as_str()),
            (phone.as_str(), "emo")
        );

        let (status, body) = do_change(&env, enc, Some(&old), "second-password").await;
        assert_eq!(
            (status, &body["code"], &body["message"]),
            (200, &json!(0), &json!("Password changed successfully"))
        );
        let fresh = token_of(&body);

        assert_eq!(
            do_change(&env, enc, Some(&old), "third-password").await,
            invalid_jwt(),
            "{enc:?}"
        );
        assert_eq!(
            do_change(&env, enc, Some(&fresh), "third-password").await.0,
            200
        );
        assert_eq!(
            do_change(&env, enc, Some(&fresh), "fourth-password").await,
            invalid_jwt()
        );

        assert_eq!(
            do_login(&env, enc, &phone, "second-password").await,
            (
                401,
                json!({"code": 1, "message": "invalid phone or password"})
            )
        );
        assert_eq!(do_login(&env, enc, &phone, "third-password").await.0, 200);
    }
}

async fn a_phone_registers_once_even_when_two_requests_race(env: TestEnv) {
    assert_eq!(
        do_register(&env, Encoding::Json, "13900000000", "password-1")
            .await
            .0,
        200
    );
    assert_eq!(
        do_register(&env, Encoding::Multipart, "13900000000", "password-2").await,
        (
            400,
            json!({"code": 1, "message": "user with this phone number already exists"})
        )
    );
    let racers = (0..4).map(|i| {
        let env = &env;
        async move {
            do_register(
                env,
                Encoding::Urlencoded,
                "13900000001",
                &format!("password-{i}"),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(racers).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let dup = results
        .iter()
        .filter(|r| r.1["message"] == "user with this phone number already exists" && r.0 == 400)
        .count();
    assert_eq!((ok, dup), (1, 3), "{results:?}");
}

async fn bad_input_gets_a_400_with_a_clear_message(env: TestEnv) {
    let long = "x".repeat(10_000);
    for enc in ENCODINGS {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("phone", "13800000000123"), ("password", "long-enough")],
                "Invalid phone number format",
            ),
            (
                &[("phone", "1380000000a"), ("password", "long-enough")],
                "Invalid phone number format",
            ),
            (
                &[("phone", "13800000000"), ("password", "7chars!")],
                "Password must be at least 8 characters",
            ),
            (
                &[("phone", "13800000000"), ("password", long.as_str())],
                "Password must be at most 128 characters",
            ),
            (&[("password", "long-enough")], "phone is required"),
            (&[("phone", "13800000000")], "password is required"),
        ];
        for (fields, message) in cases {
            let expected = (400, json!({"code": 1, "message": message}));
            let r = read(register(&env.state, post(REGISTER, enc, fields, None)).await);
            assert_eq!(r, expected, "register {enc:?} {fields:?}");
            let r = read(login(&env.state, post(LOGIN, enc, fields, None)).await);
            assert_eq!(r, expected, "login {enc:?} {fields:?}");
        }
    }
    // Nothing was created by any of that.
    assert!(
        env.state
            .users
            .find_by_phone("13800000000")
            .await
            .unwrap()
            .is_none()
    );

    for (ct, body) in [
        (Some("application/json"), b"{\"phone\": ".to_vec()),
        (
            Some("multipart/form-data; boundary=zz"),
            b"--zz\r\nbroken".to_vec(),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            vec![0xff, 0x00, 0xfe],
        ),
        (
            Some("application/xml"),
            b"<phone>13800000000</phone>".to_vec(),
        ),
    ] {
        let (status, body) = read(register(&env.state, raw_post(REGISTER, ct, body, None)).await);
        assert_eq!((status, &body["code"]), (400, &json!(1)), "{ct:?} {body}");
        assert!(body["message"].as_str().unwrap().len() > 10, "{body}");
    }

    let (status, token) = {
        do_register(&env, Encoding::Json, "13800000009", "password-ok").await;
        let (s, b) = do_login(&env, Encoding::Json, "13800000009", "password-ok").await;
        (s, token_of(&b))
    };
    assert_eq!(status, 200);
    for enc in ENCODINGS {
        assert_eq!(
            do_change(&env, enc, Some(&token), "short").await,
            (
                400,
                json!({"code": 1, "message": "Password must be at least 8 characters"})
            )
        );
        let r = read(change_password(&env.state, post(CHANGE, enc, &[], Some(&token))).await);
        assert_eq!(
            r,
            (
                400,
                json!({"code": 1, "message": "newPassword is required"})
            )
        );
    }
    // A refused change leaves the old password and the token valid.
    assert_eq!(
        do_login(&env, Encoding::Json, "13800000009", "password-ok")
            .await
            .0,
        200
    );
    assert_eq!(
        do_change(&env, Encoding::Json, Some(&token), "password-new")
            .await
            .0,
        200
    );
}

async fn every_kind_of_bad_token_gets_401(env: TestEnv) {
    do_register(&env, Encoding::Json, "13700000000", "password-1").await;
    let (_, body) = do_login(&env, Encoding::Json, "13700000000", "password-1").await;
    let good = token_of(&body);
    let claims = env.state.tokens.verify(&good).unwrap();
    let now = env.state.clock.now();
    let expired = env
        .state
        .tokens
        .sign(&Claims {
            exp: now - 1,
            iat: now - 100,
            ..claims.clone()
        })
        .unwrap();
    let foreign = emo::auth::Tokens::new(b"another-secret-another-secret-another!", 3600)
        .sign(&claims)
        .unwrap();
    let wrong_id = env
        .state
        .tokens
        .sign(&Claims {
            id: claims.id + 1000,
            ..claims.clone()
        })
        .unwrap();
    let unknown_user = env
        .state
        .tokens
        .sign(&Claims {
            phone: "13700000001".into(),
            ..claims.clone()
        })
        .unwrap();
    let mut tampered = good.clone();
    tampered.insert(good.find('.').unwrap() + 3, 'x');

    for token in [
        None,
        Some(""),
        Some("garbage"),
        Some(expired.as_str()),
        Some(foreign.as_str()),
        Some(wrong_id.as_str()),
        Some(unknown_user.as_str()),
        Some(tampered.as_str()),
    ] {
        assert_eq!(
            do_change(&env, Encoding::Json, token, "password-2").await,
            invalid_jwt(),
            "{token:?}"
        );
    }
    // Other schemes and a bare token are refused too; "bearer" in any case is fine.
    for header in [
        format!("Basic {good}"),
        good.clone(),
        format!("Token {good}"),
    ] {
        let mut req = post(
            CHANGE,
            Encoding::Json,
            &[("newPassword", "password-2")],
            None,
        );
        req.headers_mut()
            .insert("authorization", header.parse().unwrap());
        assert_eq!(read(change_password(&env.state, req).await), invalid_jwt());
    }
    let mut req = post(
        CHANGE,
        Encoding::Json,
        &[("newPassword", "password-2")],
        None,
    );
    req.headers_mut()
        .insert("authorization", format!("bearer {good}").parse().unwrap());
    assert_eq!(read(change_password(&env.state, req).await).0, 200);
}

async fn five_failed_logins_lock_the_phone_for_fifteen_minutes(env: TestEnv) {
    do_register(&env, Encoding::Json, "13600000000", "right-password").await;
    for _ in 0..5 {
        assert_eq!(
            do_login(&env, Encoding::Json, "13600000000", "wrong-password")
                .await
                .0,
            401
        );
    }
    let (status, body) = do_login(&env, Encoding::Json, "13600000000", "right-password").await;
    assert_eq!((status, &body["code"]), (429, &json!(1)), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("15 minutes"),
        "{body}"
    );

    env.state.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(
        do_login(&env, Encoding::Json, "13600000000", "right-password")
            .await
            .0,
        429
    );
    env.state.clock.advance(Duration::from_secs(60));
    assert_eq!(
        do_login(&env, Encoding::Json, "13600000000", "right-password")
            .await
            .0,
        200
    );

    // A success resets the count: four more failures do not lock.
    for _ in 0..4 {
        assert_eq!(
            do_login(&env, Encoding::Json, "13600000000", "wrong-password")
                .await
                .0,
            401
        );
    }
    assert_eq!(
        do_login(&env, Encoding::Json, "13600000000", "right-password")
            .await
            .0,
        200
    );

    // An unregistered phone locks the same way, so a 429 tells nothing about who is registered.
    for _ in 0..5 {
        assert_eq!(
            do_login(&env, Encoding::Json, "13600000001", "wrong-password").await,
            (
                401,
                json!({"code": 1, "message": "invalid phone or password"})
            )
        );
    }
    assert_eq!(
        do_login(&env, Encoding::Json, "13600000001", "wrong-password")
            .await
            .0,
        429
    );
}

async fn forty_wrong_guesses_at_once_get_no_more_checks_than_five_in_a_row(env: TestEnv) {
    let phone = "13600000100";
    do_register(&env, Encoding::Json, phone, "right-password").await;
    let guesses = (0..40).map(|i| {
        let env = &env;
        async move { do_login(env, Encoding::Json, phone, &format!("wrong-guess-{i}")).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    let locked = answers
        .iter()
        .filter(|(status, body)| {
            *status == 429
                && body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("too many failed login attempts for this phone")
        })
        .count();
    // No more guesses were checked than the lockout allows in a row; all others were refused.
    assert_eq!((checked, locked), (5, 35), "{answers:?}");
    let (status, body) = do_login(&env, Encoding::Json, phone, "right-password").await;
    assert_eq!((status, &body["code"]), (429, &json!(1)), "{body}");
}

/// The users store, except that the first password change finds it changed already: just before
/// it is written, the same user's password is changed to `other_hash`, as the owner's change with
/// another token, landing while this request hashed its new password, would.
struct ChangedMeanwhile {
    inner: Arc<dyn UserStore>,
    other_hash: String,
    done: AtomicBool,
}

#[async_trait]
impl UserStore for ChangedMeanwhile {
    async fn create(&self, phone: &Phone, hash: &str, now: u64) -> Result<User, StoreError> {
        self.inner.create(phone, hash, now).await
    }
    async fn find_by_phone(&self, phone: &str) -> Result<Option<User>, StoreError> {
        self.inner.find_by_phone(phone).await
    }
    async fn find_by_openid(&self, openid: &str) -> Result<Option<User>, StoreError> {
        self.inner.find_by_openid(openid).await
    }
    async fn create_bound(
        &self,
        key: &str,
        hash: &str,
        openid: &str,
        unionid: Option<&str>,
        now: u64,
    ) -> Result<User, StoreError> {
        self.inner
            .create_bound(key, hash, openid, unionid, now)
            .await
    }
    async fn bind_openid(
        &self,
        phone: &str,
        openid: &str,
        unionid: Option<&str>,
    ) -> Result<User, StoreError> {
        self.inner.bind_openid(phone, openid, unionid).await
    }
    async fn change_password(
        &self,
        phone: &str,
        hash: &str,
        token_version: u32,
    ) -> Result<u32, StoreError> {
        if !self.done.swap(true, Ordering::SeqCst) {
            self.inner
                .change_password(phone, &self.other_hash, token_version)
                .await?;
        }
        self.inner.change_password(phone, hash, token_version).await
    }
    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError> {
        self.inner.login_attempts(phone).await
    }
    async fn begin_login_check(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginCheck, StoreError> {
        self.inner.begin_login_check(phone, now, policy).await
    }
    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        self.inner.record_login_failure(phone, now, policy).await
    }
    async fn record_login_success(
        &self,
        phone: &Phone,
        now: u64,
    ) -> Result<LoginCheck, StoreError> {
        self.inner.record_login_success(phone, now).await
    }
}

async fn a_password_change_beaten_by_another_is_refused_like_a_revoked_token(mut env: TestEnv) {
    let phone = "13600000200";
    do_register(&env, Encoding::Json, phone, "first-password").await;
    let (_, body) = do_login(&env, Encoding::Json, phone, "first-password").await;
    let token = token_of(&body);
    let other_hash = env
        .state
        .passwords
        .hash(&Password::parse("owners-other-password").unwrap())
        .await
        .unwrap();
    let state = Arc::get_mut(&mut env.state).expect("the test holds the only state");
    state.users = Arc::new(ChangedMeanwhile {
        inner: state.users.clone(),
        other_hash,
        done: AtomicBool::new(false),
    });

    assert_eq!(
        do_change(&env, Encoding::Multipart, Some(&token), "late-password").await,
        invalid_jwt()
    );
    // Nothing of the refused change was written: the other change stands, and the token is revoked.
    assert_eq!(
        do_login(&env, Encoding::Json, phone, "late-password")
            .await
            .0,
        401
    );
    assert_eq!(
        do_login(&env, Encoding::Json, phone, "owners-other-password")
            .await
            .0,
        200
    );
    assert_eq!(
        do_change(&env, Encoding::Json, Some(&token), "third-password").await,
        invalid_jwt()
    );
}

async fn of_changes_made_at_once_with_one_token_exactly_one_is_made(env: TestEnv) {
    let phone = "13600000300";
    do_register(&env, Encoding::Json, phone, "first-password").await;
    let (_, body) = do_login(&env, Encoding::Json, phone, "first-password").await;
    let token = token_of(&body);
    let changes = (0..4).map(|i| {
        let (env, token) = (&env, &token);
        async move {
            let pw = format!("new-password-{i}");
            (do_change(env, Encoding::Json, Some(token), &pw).await, pw)
        }
    });
    let answers = futures_util::future::join_all(changes).await;
    let made: Vec<&String> = answers
        .iter()
        .filter(|(a, _)| a.0 == 200)
        .map(|(_, pw)| pw)
        .collect();
    assert_eq!(made.len(), 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(a, _)| a.0 == 200 || *a == invalid_jwt()),
        "{answers:?}"
    );
    assert_eq!(do_login(&env, Encoding::Json, phone, made[0]).await.0, 200);
}

async fn the_event_fixtures_get_the_answers_they_describe(env: TestEnv) {
    let event = |name: &str| emo_test_support::event(name, "");

    assert_eq!(
        read(register(&env.state, event("users-register.json")).await).0,
        200
    );
    assert_eq!(
        read(register(&env.state, event("users-register.json")).await),
        (
            400,
            json!({"code": 1, "message": "user with this phone number already exists"})
        )
    );
    assert_eq!(
        read(register(&env.state, event("users-register-invalid-phone.json")).await),
        (
            400,
            json!({"code": 1, "message": "Invalid phone number format"})
        )
    );
    assert_eq!(
        read(login(&env.state, event("users-login-wrong-password.json")).await),
        (
            401,
            json!({"code": 1, "message": "invalid phone or password"})
        )
    );
    let (status, body) = read(login(&env.state, event("users-login.json")).await);
    assert_eq!(status, 200);
    let token = token_of(&body);
    assert_eq!(
        read(change_password(&env.state, event("users-change-password-no-token.json")).await),
        invalid_jwt()
    );
    // The fixture carries a placeholder for the token a login returns, as the README explains.
    let req = emo_test_support::event("users-change-password.json", &token);
    assert_eq!(
        read(change_password(&env.state, req).await).1["message"],
        "Password changed successfully"
    );
}

emo_test_support::on_both_backends!(
    TestEnv;
    register_login_change_password_then_only_the_new_token_works,
    a_phone_registers_once_even_when_two_requests_race,
    bad_input_gets_a_400_with_a_clear_message,
    every_kind_of_bad_token_gets_401,
    five_failed_logins_lock_the_phone_for_fifteen_minutes,
    forty_wrong_guesses_at_once_get_no_more_checks_than_five_in_a_row,
    a_password_change_beaten_by_another_is_refused_like_a_revoked_token,
    of_changes_made_at_once_with_one_token_exactly_one_is_made,
    the_event_fixtures_get_the_answers_they_describe,
);
