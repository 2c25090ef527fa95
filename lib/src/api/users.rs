//! Section 2.1 of the spec: register, login, change-password.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::AppState;
use crate::auth::{authenticate, bearer::INVALID_TOKEN};
use crate::domain::{Password, Phone};
use crate::store::StoreError;
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
    let hash = state.passwords.hash(&password).await?;
    let user = state.users.create(&phone, &hash, state.clock.now()).await?;
    tracing::info!(user_id = user.id, "user registered");
    Ok(user_ok("Registration successful"))
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
    let policy = state.auth.lockout;

    let now = state.clock.now();
    let attempts = state.users.login_attempts(&phone).await?;
    if attempts.is_locked(now) {
        // Refused before the password is even checked, so a right guess is no way round it.
        return Err(locked(attempts.locked_until, now));
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
            let after = state
                .users
                .record_login_failure(&phone, state.clock.now(), policy)
                .await?;
            tracing::info!(phone = ?phone, locked = after.locked_until > now, "login failed");
            return Err(ApiError::Unauthorized(WRONG_CREDENTIALS));
        }
    };
    if attempts.failures > 0 {
        state.users.clear_login_failures(&phone).await?;
    }
    state.refresh_secrets_if_due().await;
    let token = state.tokens.issue(&user, state.clock.now())?;
    Ok(user_ok_with("Login successful", json!({ "token": token })))
}

fn locked(until: u64, now: u64) -> ApiError {
    let minutes = until.saturating_sub(now).div_ceil(60).max(1);
    ApiError::TooMany(format!(
        "too many failed login attempts for this phone; try again in {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    ))
}

/// `POST /api/v1/users/change-password` with `newPassword`, authenticated.
///
/// Every token issued before the change stops working; the response carries a fresh one in
/// `data.token` so the client stays signed in.
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
    user.token_version = match state.users.change_password(&user.phone, &hash).await {
        Ok(v) => v,
        // Deleted between the token check and now: the token no longer names a user.
        Err(StoreError::NoSuchUser) => return Err(ApiError::Unauthorized(INVALID_TOKEN)),
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
