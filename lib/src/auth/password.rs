//! argon2id hashing and verification, always on tokio's blocking pool: one hash at production cost
//! takes tens of milliseconds of CPU, which would stall every other request on an async thread.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::OnceCell;

use crate::auth::Argon2Cost;
use crate::domain::Password;

/// Hashes and verifies passwords at the configured cost.
pub struct Passwords {
    argon: Argon2<'static>,
    /// Hash of a random password at the same cost, verified against when the phone is unknown so
    /// that "no such user" takes as long as "wrong password". Made on first need, not at cold start.
    dummy: OnceCell<Arc<str>>,
}

impl Passwords {
    /// Fails when argon2 refuses the cost (settings validation catches this first).
    pub fn new(cost: Argon2Cost) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        Ok(Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            dummy: OnceCell::new(),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let argon = self.argon.clone();
        let pw = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(pw.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))
        })
        .await
        .context("argon2 task panicked")?
    }

    /// Whether `password` matches `stored`; with no stored hash it spends the same time on a dummy
    /// and answers false. A stored hash that cannot be parsed is an error, not a mismatch.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let (stored, real): (Arc<str>, bool) = match stored {
            Some(s) => (Arc::from(s), true),
            None => (self.dummy_hash().await?, false),
        };
        let argon = self.argon.clone();
        let pw = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let parsed = PasswordHash::new(&stored)
                .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            // Verification uses the cost recorded in the hash, so raising the cost later still
            // verifies old hashes.
            Ok(argon.verify_password(pw.as_bytes(), &parsed).is_ok())
        })
        .await
        .context("argon2 task panicked")??;
        Ok(matched && real)
    }

    async fn dummy_hash(&self) -> anyhow::Result<Arc<str>> {
        self.dummy
            .get_or_try_init(|| async {
                let random: [u8; 16] = rand::random();
                let pw: String = random.iter().map(|b| format!("{b:02x}")).collect();
                let pw = Password::parse(&pw).map_err(anyhow::Error::msg)?;
                Ok::<_, anyhow::Error>(Arc::from(self.hash(&pw).await?))
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Cost = Argon2Cost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_and_no_other() {
        let p = Passwords::new(CHEAP).unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let h = p.hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
        assert!(p.verify("correct horse", Some(&h)).await.unwrap());
        assert!(!p.verify("correct horsf", Some(&h)).await.unwrap());
        assert!(!h.contains("correct"));
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let p = Passwords::new(CHEAP).unwrap();
        let pw = Password::parse("same password").unwrap();
        assert_ne!(p.hash(&pw).await.unwrap(), p.hash(&pw).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let p = Passwords::new(CHEAP).unwrap();
        assert!(!p.verify("anything at all", None).await.unwrap());
    }

    #[tokio::test]
    async fn production_cost_is_owasps_argon2id() {
        let p = Passwords::new(Argon2Cost::OWASP).unwrap();
        let h = p
            .hash(&Password::parse("production!").unwrap())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // A hash made at another cost still verifies: the cost is read from the hash.
        let cheap = Passwords::new(CHEAP).unwrap();
        assert!(cheap.verify("production!", Some(&h)).await.unwrap());
    }
}
