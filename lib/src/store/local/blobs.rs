//! [`LocalBlobStore`]: the embedded backend's blobs, a folder whose links are HMAC-signed and
//! served by `emo-local` at [`BLOB_ROUTE`].

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{BlobStore, StoreError};

/// [`BlobStore`] as a folder. URLs point at the local server's `/blobs/<key>` and carry an expiry
/// and an HMAC-SHA256 signature over key and expiry, so they work for a set time and cannot be
/// forged or extended.
#[derive(Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    signing_key: Vec<u8>,
    /// `EMO_PUBLIC_URL`: where links start; by default the host the request came to.
    public_url: Option<String>,
}

/// Where the local server serves blobs.
pub const BLOB_ROUTE: &str = "/blobs/";

/// Where links start when neither `EMO_PUBLIC_URL` nor a request names a host: `emo-local`'s
/// default address (a function under `cargo lambda watch` serves no blobs itself).
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:3000";

tokio::task_local! {
    static REQUEST_BASE: String;
}

/// Runs `f` (a request's handler) with `base` (`http://host:port` the request came to) as where
/// the links it mints start, unless `EMO_PUBLIC_URL` says otherwise. `emo-local` wraps every
/// request in it, so a link works from wherever the API was reached.
pub async fn with_request_base<F: Future>(base: String, f: F) -> F::Output {
    REQUEST_BASE.scope(base, f).await
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl LocalBlobStore {
    pub fn new(root: PathBuf, signing_key: &[u8], public_url: Option<String>) -> Self {
        Self {
            root,
            signing_key: signing_key.to_vec(),
            public_url,
        }
    }

    /// The file of `key`, refusing keys that would leave the folder.
    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        let rel = Path::new(key);
        anyhow::ensure!(
            !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_))),
            "invalid blob key {key:?}"
        );
        Ok(self.root.join(rel))
    }

    /// HMAC-SHA256 over the key and the expiry.
    fn mac(&self, key: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    fn signature(&self, key: &str, expires: u64) -> String {
        hex::encode(self.mac(key, expires).finalize().into_bytes())
    }

    /// Whether a URL's `expires` and `signature` are ours for `key` and not yet past.
    pub fn verify(&self, key: &str, expires: u64, signature: &str) -> bool {
        let Ok(sig) = hex::decode(signature) else {
            return false;
        };
        // verify_slice compares in constant time.
        self.mac(key, expires).verify_slice(&sig).is_ok() && expires >= system_now()
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let dir = path.parent().context("blob path has no folder")?;
            std::fs::create_dir_all(dir)?;
            // Write aside and rename, so a reader never sees half a file.
            let tmp = dir.join(format!(".{}.tmp", hex::encode(rand::random::<[u8; 6]>())));
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })
        .await
        .context("blob write task panicked")??;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let (from, to) = (self.path(from)?, self.path(to)?);
        Ok(
            tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
                let dir = to.parent().context("blob path has no folder")?;
                std::fs::create_dir_all(dir)?;
                // Copied aside and renamed, as a put writes.
                let tmp = dir.join(format!(".{}.tmp", hex::encode(rand::random::<[u8; 6]>())));
                match std::fs::copy(&from, &tmp) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let _ = std::fs::remove_file(&tmp);
                        return Ok(false);
                    }
                    Err(e) => return Err(e.into()),
                }
                std::fs::rename(&tmp, &to)?;
                Ok(true)
            })
            .await
            .context("blob copy task panicked")??,
        )
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("reading blob {key}"))
                .into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("deleting blob {key}"))
                .into()),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        self.path(key)?;
        let public_base = match &self.public_url {
            Some(url) => url.clone(),
            None => REQUEST_BASE
                .try_with(String::clone)
                .unwrap_or_else(|_| DEFAULT_PUBLIC_URL.to_owned()),
        };
        let expires = system_now() + ttl.as_secs();
        let sig = self.signature(key, expires);
        Ok(format!(
            "{}{BLOB_ROUTE}{key}?expires={expires}&signature={sig}",
            public_base.trim_end_matches('/')
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_folder() {
        let s = LocalBlobStore::new("/tmp/blobs".into(), b"k", None);
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "./a"] {
            assert!(s.path(bad).is_err(), "{bad}");
        }
        assert!(s.path("gifs/job_1.gif").is_ok());
    }

    #[test]
    fn a_signature_holds_for_its_key_and_expiry_only() {
        let s = LocalBlobStore::new("/tmp/blobs".into(), b"key", None);
        let far = system_now() + 60;
        let sig = s.signature("gifs/a.gif", far);
        assert!(s.verify("gifs/a.gif", far, &sig));
        assert!(!s.verify("gifs/b.gif", far, &sig));
        assert!(!s.verify("gifs/a.gif", far + 1, &sig));
        assert!(!s.verify("gifs/a.gif", far, "00"));
        let past = system_now() - 1;
        assert!(!s.verify("gifs/a.gif", past, &s.signature("gifs/a.gif", past)));
        let other = LocalBlobStore::new("/tmp/blobs".into(), b"other", None);
        assert!(!other.verify("gifs/a.gif", far, &sig));
    }
}
