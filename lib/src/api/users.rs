//! Section 2.1 of the spec: register, login, change-password, and what bounds them: requests per
//! client address (`EMO_REGISTER_PER_IP_PER_HOUR`, `EMO_LOGIN_PER_IP_PER_MINUTE`), counted
//! before any password is hashed, and the per-phone lockout, whose every password check is
//! reserved in the store before it is made.

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
    let max = state.auth.clients.register_per_hour;
    within_client_bound(state, req, ClientBound::Register, max).await?;
    let hash = state.passwords.hash(&password).await?;
    let user = state.users.create(&phone, &hash, state.clock.now()).await?;
    tracing::info!(user_id = user.id, "user registered");
    Ok(user_ok("Registration successful"))
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
    let max = state.auth.clients.login_per_minute;
    within_client_bound(state, req, ClientBound::Login, max).await?;
    let policy = state.auth.lockout;

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
            user.as_ref().map(|u| u.password_hash.as_str()),
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
