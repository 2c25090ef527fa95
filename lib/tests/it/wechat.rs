//! WeChat against its offline stand-in, on both backends: the WeChat login (made once, found
//! after, a used code refused), `wx_code` binding on register and login (one openid, one
//! account), and the shared access token (one fetch for many calls, fetched again on 40001).

use emo::wechat::{Scene, Verdict};
use emo_test_support::env::WeChatEnv;
use emo_test_support::http::post_json;
use emo_wechat_standin::Api;
use serde_json::json;

fn claims(env: &WeChatEnv, body: &serde_json::Value) -> emo::auth::Claims {
    let token = body["data"]["token"].as_str().expect("a token");
    env.state.tokens.verify(token).expect("a token Emo signed")
}

async fn a_wechat_login_makes_the_account_once_then_finds_it_and_a_used_code_is_refused(
    env: WeChatEnv,
) {
    let (status, first) = env.wechat_login("alice.1").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["code"], 0);
    assert_eq!(first["message"], "Login successful");
    let (status, again) = env.wechat_login("alice.2").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(claims(&env, &first).id, claims(&env, &again).id);
    let (status, bob) = env.wechat_login("bob.1").await;
    assert_eq!(status, 200);
    assert_ne!(claims(&env, &bob).id, claims(&env, &first).id);

    let (status, used) = env.wechat_login("alice.2").await;
    assert_eq!(status, 400, "{used}");
    assert_eq!(used["code"], 1);
    for (code, want) in [
        ("wx-bad-1", 400),
        ("wx-busy-1", 429),
        ("wx-risky-user-1", 403),
    ] {
        let (status, body) = env.wechat_login(code).await;
        assert_eq!(status, want, "{code}: {body}");
        assert_eq!(body["code"], 1, "{code}");
    }
    // A WeChat account has no password to log in with.
    let user = env
        .state
        .users
        .find_by_openid(&env.wechat.openid_for("alice.9"))
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_wechat_only() && user.password_hash.is_empty());
}

async fn wx_code_binds_a_phone_account_and_a_clash_changes_nothing(env: WeChatEnv) {
    let register = |phone: &str, code: &str| {
        post_json(
            "/api/v1/users/register",
            &json!({"phone": phone, "password": "wechat-test-pw", "wx_code": code}),
            None,
        )
    };
    let login = |phone: &str, code: Option<&str>| {
        let mut body = json!({"phone": phone, "password": "wechat-test-pw"});
        if let Some(c) = code {
            body["wx_code"] = json!(c);
        }
        post_json("/api/v1/users/login", &body, None)
    };
    let (status, body) = env.call(register("13900000001", "carol.1")).await;
    assert_eq!(status, 200, "{body}");
    let (_, by_phone) = env.call(login("13900000001", None)).await;
    let (status, by_wechat) = env.wechat_login("carol.2").await;
    assert_eq!(status, 200, "{by_wechat}");
    assert_eq!(claims(&env, &by_phone).id, claims(&env, &by_wechat).id);

    // The same WeChat for another phone: refused, and that phone is not registered.
    let (status, body) = env.call(register("13900000002", "carol.3")).await;
    assert_eq!(
        (status, body),
        (409, json!({"code": 1, "message": "该微信已绑定其他账号"}))
    );
    let (status, _) = env.call(login("13900000002", None)).await;
    assert_eq!(status, 401);
    // A refused code registers nothing either.
    let (status, _) = env.call(register("13900000003", "wx-used-1")).await;
    assert_eq!(status, 400);
    let (status, _) = env.call(login("13900000003", None)).await;
    assert_eq!(status, 401);

    // Login with wx_code binds an unbound account; a bad code fails the login.
    let (status, _) = env
        .call(post_json(
            "/api/v1/users/register",
            &json!({"phone": "13900000004", "password": "wechat-test-pw"}),
            None,
        ))
        .await;
    assert_eq!(status, 200);
    let (status, body) = env.call(login("13900000004", Some("wx-bad-2"))).await;
    assert_eq!(status, 400, "{body}");
    let (status, bound) = env.call(login("13900000004", Some("dave.1"))).await;
    assert_eq!(status, 200, "{bound}");
    let (_, by_wechat) = env.wechat_login("dave.2").await;
    assert_eq!(claims(&env, &bound).id, claims(&env, &by_wechat).id);
    // Bound to another WeChat already: refused.
    let (status, body) = env.call(login("13900000004", Some("erin.1"))).await;
    assert_eq!(status, 409, "{body}");
}

async fn the_access_token_is_fetched_once_for_many_calls_and_again_once_on_40001(env: WeChatEnv) {
    let (status, _) = env.wechat_login("frank.1").await;
    assert_eq!(status, 200);
    let openid = env.wechat.openid_for("frank.1");
    let wechat = env.state.wechat.clone().expect("WeChat is configured");
    let calls = (0..8).map(|i| {
        let (wechat, openid) = (wechat.clone(), openid.clone());
        tokio::spawn(async move {
            wechat
                .check_text(&openid, Scene::Profile, &format!("a happy cat {i}"))
                .await
        })
    });
    for call in futures_util::future::join_all(calls).await {
        assert_eq!(call.unwrap().unwrap(), Verdict::Pass);
    }
    assert_eq!(env.wechat.tokens_issued(), 1);
    assert_eq!(env.wechat.calls(Api::StableToken), 1);

    env.wechat.expire_token();
    let verdict = wechat
        .check_text(&openid, Scene::Profile, "a cat [wx:risky]")
        .await
        .unwrap();
    assert_eq!(verdict, Verdict::Risky);
    assert_eq!(env.wechat.tokens_issued(), 2);
    assert_eq!(env.wechat.force_refreshes(), 0);
    assert_eq!(env.wechat.calls(Api::MsgSecCheck), 10);
}

emo_test_support::on_both_backends!(
    WeChatEnv;
    a_wechat_login_makes_the_account_once_then_finds_it_and_a_used_code_is_refused,
    wx_code_binds_a_phone_account_and_a_clash_changes_nothing,
    the_access_token_is_fetched_once_for_many_calls_and_again_once_on_40001,
);
