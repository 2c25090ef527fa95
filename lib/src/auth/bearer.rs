//! The bearer-token check shared by every protected endpoint.

use http::header::AUTHORIZATION;
use lambda_http::Request;

use crate::AppState;
use crate::store::User;

/// The one answer a client gets for any token problem, as the spec words it.
pub const INVALID_TOKEN: &str = "Invalid or expired JWT";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, expired, wrongly signed or revoked: the client needs a new token.
    #[error("Invalid or expired JWT")]
    Unauthorized,
    /// The user store failed; not the client's fault.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The user a request's `Authorization: Bearer <jwt>` belongs to.
///
/// A token is accepted only if it verifies and its user still exists with the same id and token
/// version, so a password change revokes every token issued before it.
pub async fn authenticate(state: &AppState, req: &Request) -> Result<User, AuthError> {
    let token = bearer_token(req).ok_or(AuthError::Unauthorized)?;
    let claims = match state.tokens.verify(token) {
        Some(claims) => claims,
        None => {
            // Perhaps signed with a key rotated in since this instance last read it.
            state.refresh_secrets(crate::secrets::MIN_REREAD).await;
            state.tokens.verify(token).ok_or(AuthError::Unauthorized)?
        }
    };
    let user = state
        .users
        .find_by_phone(&claims.phone)
        .await?
        .ok_or(AuthError::Unauthorized)?;
    if user.id != claims.id || user.token_version != claims.ver {
        return Err(AuthError::Unauthorized);
    }
    Ok(user)
}

fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
