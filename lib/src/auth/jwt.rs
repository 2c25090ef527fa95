//! HS256 tokens with the claims of the spec's sample token (`id`, `phone`, `exp`, `iss` = "emo"),
//! plus `iat` and `ver`, the user's token version when the token was issued.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

use crate::store::User;

pub const ISSUER: &str = "emo";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub id: i64,
    pub phone: String,
    pub exp: u64,
    pub iss: String,
    pub iat: u64,
    /// The user's token version at issue; a password change bumps it and so revokes this token.
    pub ver: u32,
}

/// Issues tokens with the current secret and verifies them with it or, during a rotation, with
/// the previous one, so tokens issued before a rotation keep working until they expire.
///
/// An empty secret is no key at all: such a `Tokens` issues nothing and verifies nothing (the
/// functions that never see a token, like the transcoder, are given no key).
pub struct Tokens {
    keys: RwLock<Option<Arc<Keys>>>,
    validation: Validation,
    ttl_secs: u64,
}

struct Keys {
    encoding: EncodingKey,
    /// The current key first.
    decoding: Vec<DecodingKey>,
}

impl Keys {
    fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        let mut decoding = vec![DecodingKey::from_secret(current)];
        decoding.extend(previous.map(DecodingKey::from_secret));
        Self {
            encoding: EncodingKey::from_secret(current),
            decoding,
        }
    }
}

impl Tokens {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 0;
        Self {
            keys: RwLock::new((!secret.is_empty()).then(|| Arc::new(Keys::new(secret, None)))),
            validation,
            ttl_secs,
        }
    }

    /// Signs with `current` from now on; verifies with `current` and `previous`.
    pub fn rotate(&self, current: &[u8], previous: Option<&[u8]>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) =
            (!current.is_empty()).then(|| Arc::new(Keys::new(current, previous)));
    }

    fn keys(&self) -> Option<Arc<Keys>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A token for `user`, valid from `now` for the configured lifetime.
    pub fn issue(&self, user: &User, now: u64) -> anyhow::Result<String> {
        let claims = Claims {
            id: user.id,
            phone: user.phone.clone(),
            exp: now + self.ttl_secs,
            iss: ISSUER.into(),
            iat: now,
            ver: user.token_version,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it to forge expired or odd tokens with the real key).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let keys = self.keys().ok_or_else(|| {
            anyhow::anyhow!("no JWT key is configured (EMO_JWT_SECRET or EMO_JWT_SECRET_ID)")
        })?;
        Ok(encode(
            &Header::new(Algorithm::HS256),
            claims,
            &keys.encoding,
        )?)
    }

    /// The claims of a token that is well-formed, HS256-signed with our key, issued by "emo" and
    /// not expired; `None` for anything else. Revocation is checked by the caller against the store.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.keys()?
            .decoding
            .iter()
            .find_map(|key| decode::<Claims>(token, key, &self.validation).ok())
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn user() -> User {
        User {
            id: 1,
            phone: "13800000000".into(),
            password_hash: String::new(),
            token_version: 3,
            created_at: 0,
            openid: None,
            unionid: None,
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_token_carries_the_spec_claims_in_order() {
        let t = Tokens::new(&[7; 32], 3600);
        let token = t.issue(&user(), now()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.starts_with(r#"{"id":1,"phone":"13800000000","exp":"#),
            "{text}"
        );
        assert!(text.contains(r#""iss":"emo""#));
        let claims = t.verify(&token).unwrap();
        assert_eq!((claims.id, claims.ver), (1, 3));
    }

    #[test]
    fn expired_foreign_or_mangled_tokens_are_refused() {
        let t = Tokens::new(&[7; 32], 3600);
        let expired = t.issue(&user(), now() - 7200).unwrap();
        assert!(t.verify(&expired).is_none());
        let other = Tokens::new(&[8; 32], 3600).issue(&user(), now()).unwrap();
        assert!(t.verify(&other).is_none());
        let good = t.issue(&user(), now()).unwrap();
        let mut mangled = good.clone();
        mangled.pop();
        mangled.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(t.verify(&mangled).is_none());
        assert!(t.verify("not a token").is_none());
        let mut foreign_issuer = t.verify(&good).unwrap();
        foreign_issuer.iss = "someone-else".into();
        assert!(t.verify(&t.sign(&foreign_issuer).unwrap()).is_none());
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_until_the_next_one_and_new_tokens_use_the_new_key() {
        let t = Tokens::new(&[1; 32], 3600);
        let first = t.issue(&user(), now()).unwrap();
        t.rotate(&[2; 32], Some(&[1; 32]));
        let second = t.issue(&user(), now()).unwrap();
        assert!(
            t.verify(&first).is_some(),
            "the previous key still verifies"
        );
        assert!(t.verify(&second).is_some());
        assert!(
            Tokens::new(&[1; 32], 3600).verify(&second).is_none(),
            "new tokens are signed with the new key"
        );
        t.rotate(&[3; 32], Some(&[2; 32]));
        assert!(t.verify(&first).is_none(), "two rotations later it is gone");
        assert!(t.verify(&second).is_some());
    }

    #[test]
    fn without_a_key_nothing_is_issued_or_verified() {
        let t = Tokens::new(b"", 3600);
        assert!(t.issue(&user(), now()).is_err());
        let token = Tokens::new(&[1; 32], 3600).issue(&user(), now()).unwrap();
        assert!(t.verify(&token).is_none());
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let t = Tokens::new(&[7; 32], 3600);
        let good = t.issue(&user(), now()).unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(t.verify(&format!("{header}.{payload}.")).is_none());
    }
}
