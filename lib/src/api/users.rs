//! Section 2.1 of the spec: register, login, change-password, and what bounds them: requests per
//! client address (`EMO_REGISTER_PER_IP_PER_HOUR`, `EMO_LOGIN_PER_IP_PER_MINUTE`), counted
//! before any password is hashed, and the per-phone lockout, whose every password check is
//! reserved in the store before it is made. Plus WeChat: `wechat-login` (a `wx.login` code finds
//! or makes the account bound to its openid) and the optional `wx_code` of register and login,
//! which binds the code's openid to the phone account.
//!
//! One openid, one account. Binding an openid another account has, or binding to an account
//! that has another openid, is refused with 409 and changes nothing (so a user who logged in with
//! WeChat first, then registers a phone with `wx_code`, keeps the WeChat account and is told so).
//! A `wx_code` is exchanged before anything is written, and a code WeChat refuses fails the
//! request with nothing written: for register the account is not made; for login no token is
//! issued, because the mini-program asked for the binding and a login that quietly skipped it
//! would leave an account that cannot create stickers with no word why.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::AppState;
use crate::auth::{authenticate, bearer::INVALID_TOKEN};
use crate::domain::{Password, Phone};
use crate::store::{ClientBound, LoginCheck, StoreError};
use crate::web::client::{client_addr, client_key};
use crate::web::response::{user_ok, user_ok_with};
use crate::web::{ApiError, Envelope, Form};

fn respond(endpoint: &'static str, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    crate::web::respond(Envelope::Users, endpoint, result)
}

/// `POST /api/v1/users/register` with `phone` and `password`.
pub async fn register(state: &AppState, req: Request) -> Response<Body> {
    respond("register", register_inner(state, &req).await)
}

async fn register_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let form = Form::parse(req).await?;
    let phone = Phone::parse(form.required("phone")?)?;
    let password = Password::parse(form.required("password")?)?;
    let wx_code = wx_code(&form)?;
    let max = state.auth.clients.register_per_hour;
    within_client_bound(state, req, ClientBound::Register, max).await?;
    let session = match wx_code {
        Some(code) => Some(exchange(state, code).await?),
        None => None,
    };
    let hash = state.passwords.hash(&password).await?;
    let now = state.clock.now();
    let user = match &session {
        None => state.users.create(&phone, &hash, now).await?,
        Some(s) => {
            state
                .users
                .create_bound(phone.as_str(), &hash, &s.openid, s.unionid.as_deref(), now)
                .await?
        }
    };
    tracing::info!(
        user_id = user.id,
        wechat = session.is_some(),
        "user registered"
    );
    Ok(user_ok("Registration successful"))
}

/// The optional `wx_code` field: absent or empty is none.
fn wx_code(form: &Form) -> Result<Option<&str>, ApiError> {
    match form.optional("wx_code").map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) if c.len() > 128 => Err(ApiError::BadRequest(
            "wx_code 无效：请传 wx.login 返回的 code".into(),
        )),
        Some(c) => Ok(Some(c)),
    }
}

/// The openid a `wx.login` code stands for, or the answer that says why not.
async fn exchange(state: &AppState, code: &str) -> Result<crate::wechat::Session, ApiError> {
    let Some(wechat) = &state.wechat else {
        return Err(ApiError::Unavailable("微信登录未配置".into()));
    };
    wechat.code_to_session(code).await.map_err(|e| {
        let (status, message) = e.login_refusal();
        if e.is_misconfiguration() || status == http::StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "WeChat could not exchange a login code");
        } else {
            tracing::info!(error = %e, "WeChat refused a login code");
        }
        ApiError::Status(status, message.to_owned())
    })
}

/// `POST /api/v1/users/wechat-login` with `code` (from `wx.login`); answers exactly as login
/// does, `data.token` a JWT of the account bound to the code's openid, made on first login.
pub async fn wechat_login(state: &AppState, req: Request) -> Response<Body> {
    respond("wechat-login", wechat_login_inner(state, &req).await)
}

async fn wechat_login_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let form = Form::parse(req).await?;
    let code = form.required("code")?.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(ApiError::BadRequest(
            "code 无效：请传 wx.login 返回的 code".into(),
        ));
    }
    let max = state.auth.clients.login_per_minute;
    within_client_bound(state, req, ClientBound::Login, max).await?;
    let session = exchange(state, code).await?;
    let user = match state.users.find_by_openid(&session.openid).await? {
        Some(user) => user,
        None => {
            let key = crate::store::wechat_account_key();
            let made = state
                .users
                .create_bound(
                    &key,
                    "",
                    &session.openid,
                    session.unionid.as_deref(),
                    state.clock.now(),
                )
                .await;
            match made {
                Ok(user) => {
                    tracing::info!(user_id = user.id, "account made by a WeChat login");
                    user
                }
                // Another login of the same user made it first.
                Err(StoreError::OpenidTaken) => state
                    .users
                    .find_by_openid(&session.openid)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the openid is taken by no account"))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    state.refresh_secrets_if_due().await;
    let token = state.tokens.issue(&user, state.clock.now())?;
    Ok(user_ok_with("Login successful", json!({ "token": token })))
}

/// Counts this request against its client address's `bound`, or refuses it with a 429 saying
/// when to try again. A bound of 0 is none; a request with no known address (see
/// [`crate::web::client`]) is not counted.
async fn within_client_bound(
    state: &AppState,
    req: &Request,
    bound: ClientBound,
    max: u32,
) -> Result<(), ApiError> {
    let Some(addr) = client_addr(req).filter(|_| max > 0) else {
        return Ok(());
    };
    let key = client_key(addr);
    let now = state.clock.now();
    if state
        .clients
        .take_client_request(bound, &key, now, max)
        .await?
    {
        return Ok(());
    }
    let wait = bound.window_end(now).saturating_sub(now).max(1);
    tracing::info!(client = %key, bound = bound.name(), max, "client over its bound");
    let message = match bound {
        ClientBound::Register => format!(
            "注册过于频繁：同一网络每小时最多注册 {max} 次，请 {} 分钟后再试",
            wait.div_ceil(60)
        ),
        ClientBound::Login => {
            format!("登录过于频繁：同一网络每分钟最多登录 {max} 次，请 {wait} 秒后再试")
        }
    };
    Err(ApiError::TooManyUntil {
        message,
        retry_after: wait,
    })
}

/// `POST /api/v1/users/login` with `phone` and `password`; answers a JWT in `data.token`.
pub async fn login(state: &AppState, req: Request) -> Response<Body> {
    respond("login", login_inner(state, &req).await)
}

const WRONG_CREDENTIALS: &str = "invalid phone or password";

async fn login_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let form = Form::parse(req).await?;
    let phone = Phone::parse(form.required("phone")?)?;
    let password = Password::parse(form.required("password")?)?;
    let wx_code = wx_code(&form)?;
    let max = state.auth.clients.login_per_minute;
    within_client_bound(state, req, ClientBound::Login, max).await?;
    let policy = state.auth.lockout;
    // Exchanged before the lockout records are touched: a refused code writes nothing.
    let session = match wx_code {
        Some(code) => Some(exchange(state, code).await?),
        None => None,
    };

    // The check is reserved before the password is verified, so however many guesses arrive at
    // once, no more are verified than the lockout allows; a right guess is no way round a lock.
    let now = state.clock.now();
    if let LoginCheck::Refused { until } =
        state.users.begin_login_check(&phone, now, policy).await?
    {
        return Err(locked(until, now));
    }

    let user = state.users.find_by_phone(phone.as_str()).await?;
    let matched = state
        .passwords
        .verify(
            password.expose(),
            // An account made by a WeChat login has no password to match.
            user.as_ref()
                .map(|u| u.password_hash.as_str())
                .filter(|h| !h.is_empty()),
        )
        .await?;
    let user = match user {
        Some(user) if matched => user,
        _ => {
            // Known and unknown phones are counted alike: a lockout says nothing about existence.
            let now = state.clock.now();
            let after = state
                .users
                .record_login_failure(&phone, now, policy)
                .await?;
            tracing::info!(phone = ?phone, locked = after.is_locked(now), "login failed");
            return Err(ApiError::Unauthorized(WRONG_CREDENTIALS));
        }
    };
    // Checked again, atomically with clearing the failures, right before the token is issued.
    let now = state.clock.now();
    if let LoginCheck::Refused { until } = state.users.record_login_success(&phone, now).await? {
        tracing::info!(
            user_id = user.id,
            "right password, but the phone was locked meanwhile"
        );
        return Err(locked(until, now));
    }
    let user = match session {
        None => user,
        Some(s) => {
            let bound = state
                .users
                .bind_openid(&user.phone, &s.openid, s.unionid.as_deref())
                .await?;
            tracing::info!(user_id = bound.id, "openid bound at login");
            bound
        }
    };
    state.refresh_secrets_if_due().await;
    let token = state.tokens.issue(&user, state.clock.now())?;
    Ok(user_ok_with("Login successful", json!({ "token": token })))
}

fn locked(until: u64, now: u64) -> ApiError {
    let wait = until.saturating_sub(now).max(1);
    let minutes = wait.div_ceil(60);
    ApiError::TooManyUntil {
        message: format!(
            "too many failed login attempts for this phone; try again in {minutes} minute{}",
            if minutes == 1 { "" } else { "s" }
        ),
        retry_after: wait,
    }
}

/// `POST /api/v1/users/change-password` with `newPassword`, authenticated.
///
/// Every token issued before the change stops working; the response carries a fresh one in
/// `data.token` so the client stays signed in. The change is written only if the user's token
/// version is still the one the request was authenticated with: when another change came first
/// (the password was changed meanwhile with another token), this request's token is revoked and
/// it is refused as such, with nothing written.
pub async fn change_password(state: &AppState, req: Request) -> Response<Body> {
    respond("change-password", change_password_inner(state, &req).await)
}

async fn change_password_inner(
    state: &AppState,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let mut user = authenticate(state, req).await?;
    let form = Form::parse(req).await?;
    let password = Password::parse(form.required("newPassword")?)?;
    let hash = state.passwords.hash(&password).await?;
    user.token_version = match state
        .users
        .change_password(&user.phone, &hash, user.token_version)
        .await
    {
        Ok(v) => v,
        // Deleted, or its password changed, between the token check and now: the token no
        // longer names the user as it is.
        Err(e @ (StoreError::NoSuchUser | StoreError::TokenVersionChanged)) => {
            tracing::info!(user_id = user.id, reason = %e, "password change refused");
            return Err(ApiError::Unauthorized(INVALID_TOKEN));
        }
        Err(e) => return Err(e.into()),
    };
    user.password_hash = hash;
    state.refresh_secrets_if_due().await;
    let token = state.tokens.issue(&user, state.clock.now())?;
    tracing::info!(user_id = user.id, "password changed");
    Ok(user_ok_with(
        "Password changed successfully",
        json!({ "token": token }),
    ))
}
