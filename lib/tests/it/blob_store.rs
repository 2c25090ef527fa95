//! The `BlobStore` contract, run against every adapter: `local` (a folder) and `aws` (S3 on the
//! emulator). URLs differ by nature: the aws ones are fetched over HTTP from the emulator, which
//! checks presigned signatures and expiry; the local ones are checked against
//! `LocalBlobStore::verify` (the local server that serves them has its own tests).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use emo::store::BlobStore;
use emo::store::aws::S3BlobStore;
use emo::store::local::{LocalBlobStore, with_request_base};
use reqwest::{StatusCode, Url};

use crate::harness::{emulator, unique_name};

const GIF: &str = "gifs/job_0123456789abcdef01234567.gif";

fn local_blobs() -> (LocalBlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::new(dir.path().join("blobs"), b"test-blob-signing-key", None);
    (store, dir)
}

/// `unique_name` with a lowercase prefix is already a valid bucket name (lowercase letters, digits
/// and hyphens, at most 63 characters); this keeps it so if either ever changes.
fn bucket_name() -> String {
    let name = unique_name("emo-blobs");
    assert!(
        (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "not a valid S3 bucket name: {name}"
    );
    name
}

async fn aws_blobs() -> Option<Arc<dyn BlobStore>> {
    let conf = emulator().await?;
    let client = S3BlobStore::client(&conf);
    let bucket = bucket_name();
    S3BlobStore::create_bucket(&client, &bucket).await.unwrap();
    Some(Arc::new(S3BlobStore::new(client, bucket)))
}

/// Every byte value, and more than one network buffer's worth.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn a_put_blob_reads_back_byte_for_byte(blobs: Arc<dyn BlobStore>) {
    let input = "inputs/job_0123456789abcdef01234567.png";
    let big = payload(1 << 20);
    blobs.put(input, big.clone(), "image/png").await.unwrap();
    blobs
        .put(GIF, b"GIF89a".to_vec(), "image/gif")
        .await
        .unwrap();
    assert_eq!(blobs.get(input).await.unwrap(), Some(big));
    assert_eq!(
        blobs.get(GIF).await.unwrap().as_deref(),
        Some(&b"GIF89a"[..])
    );
}

async fn putting_a_key_again_replaces_its_bytes(blobs: Arc<dyn BlobStore>) {
    blobs
        .put(GIF, b"first".to_vec(), "image/gif")
        .await
        .unwrap();
    blobs
        .put(GIF, b"second".to_vec(), "image/gif")
        .await
        .unwrap();
    assert_eq!(
        blobs.get(GIF).await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
}

async fn getting_a_missing_blob_finds_nothing(blobs: Arc<dyn BlobStore>) {
    assert_eq!(blobs.get(GIF).await.unwrap(), None);
    // A sibling of a stored key is still missing.
    blobs.put(GIF, b"x".to_vec(), "image/gif").await.unwrap();
    assert_eq!(blobs.get("gifs/job_other.gif").await.unwrap(), None);
}

async fn a_deleted_blob_is_gone_and_deleting_a_missing_one_is_fine(blobs: Arc<dyn BlobStore>) {
    blobs.put(GIF, b"x".to_vec(), "image/gif").await.unwrap();
    blobs
        .put("gifs/keep.gif", b"kept".to_vec(), "image/gif")
        .await
        .unwrap();
    blobs.delete(GIF).await.unwrap();
    assert_eq!(blobs.get(GIF).await.unwrap(), None);
    assert_eq!(
        blobs.get("gifs/keep.gif").await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    blobs.delete(GIF).await.unwrap();
    blobs.delete("never/stored.gif").await.unwrap();
}

async fn a_copy_holds_the_same_bytes_and_a_missing_source_copies_nothing(
    blobs: Arc<dyn BlobStore>,
) {
    let from = "inputs/job_0123456789abcdef01234567.png";
    let to = "inputs/job_76543210fedcba9876543210.png";
    let big = payload(1 << 20);
    blobs.put(from, big.clone(), "image/png").await.unwrap();
    assert!(blobs.copy(from, to).await.unwrap());
    assert_eq!(blobs.get(to).await.unwrap(), Some(big.clone()));
    // The copy is its own: removing the original leaves it.
    blobs.delete(from).await.unwrap();
    assert_eq!(blobs.get(to).await.unwrap(), Some(big));
    let nowhere = "inputs/job_000000000000000000000000.png";
    assert!(!blobs.copy(from, nowhere).await.unwrap());
    assert_eq!(blobs.get(nowhere).await.unwrap(), None);
}

/// The `expires` and `signature` query parameters of a local URL.
fn local_params(url: &Url) -> (u64, String) {
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("{url} has no {name}"))
            .1
            .into_owned()
    };
    (get("expires").parse().unwrap(), get("signature"))
}

async fn a_url_names_the_public_base_and_a_signature_that_verifies(blobs: LocalBlobStore) {
    blobs
        .put(GIF, b"GIF89a".to_vec(), "image/gif")
        .await
        .unwrap();
    for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
        let raw = with_request_base(base.into(), blobs.url(GIF, Duration::from_secs(600)))
            .await
            .unwrap();
        let prefix = format!("http://127.0.0.1:8080/blobs/{GIF}?");
        assert!(
            raw.starts_with(&prefix),
            "{raw} does not start with {prefix}"
        );
        let (expires, signature) = local_params(&Url::parse(&raw).unwrap());
        let t = now();
        assert!(
            (t + 598..=t + 600).contains(&expires),
            "expires {expires}, now {t}"
        );
        assert!(blobs.verify(GIF, expires, &signature), "{raw}");
    }
    // EMO_PUBLIC_URL, when set, wins over the host the request came to.
    let dir = tempfile::tempdir().unwrap();
    let public = LocalBlobStore::new(
        dir.path().join("blobs"),
        b"test-blob-signing-key",
        Some("https://stickers.example".into()),
    );
    let raw = with_request_base(
        "http://127.0.0.1:8080".into(),
        public.url(GIF, Duration::from_secs(600)),
    )
    .await
    .unwrap();
    assert!(
        raw.starts_with(&format!("https://stickers.example/blobs/{GIF}?")),
        "{raw}"
    );
}

async fn a_url_with_a_changed_signature_or_key_or_expiry_is_refused(blobs: LocalBlobStore) {
    let raw = blobs.url(GIF, Duration::from_secs(600)).await.unwrap();
    let (expires, signature) = local_params(&Url::parse(&raw).unwrap());
    assert!(blobs.verify(GIF, expires, &signature));
    assert!(!blobs.verify(GIF, expires, &tamper(&signature)));
    assert!(!blobs.verify("gifs/job_other.gif", expires, &signature));
    assert!(!blobs.verify(GIF, expires + 3600, &signature));
    assert!(!blobs.verify(GIF, expires, ""));
}

async fn a_url_stops_verifying_after_its_ttl(blobs: LocalBlobStore) {
    let raw = blobs.url(GIF, Duration::from_secs(1)).await.unwrap();
    let (expires, signature) = local_params(&Url::parse(&raw).unwrap());
    assert!(blobs.verify(GIF, expires, &signature));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(!blobs.verify(GIF, expires, &signature));
}

/// The same hex string with its last digit changed.
fn tamper(hex_sig: &str) -> String {
    let mut s = hex_sig.to_owned();
    let last = s.pop().expect("a signature is not empty");
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// `url` with its `X-Amz-Signature` query parameter changed.
fn tamper_presigned(raw: &str) -> String {
    let mut url = Url::parse(raw).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "X-Amz-Signature" {
                tamper(&v)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    assert!(
        pairs.iter().any(|(k, _)| k == "X-Amz-Signature"),
        "not a presigned URL: {raw}"
    );
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

async fn a_presigned_url_fetches_the_bytes_over_http(blobs: Arc<dyn BlobStore>) {
    let gif = payload(300_000);
    blobs.put(GIF, gif.clone(), "image/gif").await.unwrap();
    // The aws adapter ignores the public base: the URL points at S3 itself.
    let url = with_request_base(
        "http://unused.invalid".into(),
        blobs.url(GIF, Duration::from_secs(600)),
    )
    .await
    .unwrap();
    assert!(!url.starts_with("http://unused.invalid"), "{url}");
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "image/gif",
        "the mini-program shows what the content type says"
    );
    assert_eq!(resp.bytes().await.unwrap().to_vec(), gif);
    // Minted afresh each call; an earlier one keeps working.
    let again = blobs.url(GIF, Duration::from_secs(600)).await.unwrap();
    assert_eq!(reqwest::get(&again).await.unwrap().status(), StatusCode::OK);
}

async fn a_tampered_or_expired_presigned_url_is_refused(blobs: Arc<dyn BlobStore>) {
    blobs
        .put(GIF, b"GIF89a".to_vec(), "image/gif")
        .await
        .unwrap();
    // X-Amz-Date is in whole seconds, so a 2 s URL lives between 1 and 2 s.
    let short = blobs.url(GIF, Duration::from_secs(2)).await.unwrap();
    assert_eq!(reqwest::get(&short).await.unwrap().status(), StatusCode::OK);

    let url = blobs.url(GIF, Duration::from_secs(600)).await.unwrap();
    let tampered = tamper_presigned(&url);
    assert_ne!(tampered, url);
    let resp = reqwest::get(&tampered).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{tampered}");

    // The signature covers the key: it cannot fetch a neighbour.
    blobs
        .put("gifs/other.gif", b"secret".to_vec(), "image/gif")
        .await
        .unwrap();
    let moved = url.replacen(GIF, "gifs/other.gif", 1);
    assert_ne!(moved, url);
    assert_eq!(
        reqwest::get(&moved).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "{moved}"
    );
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = reqwest::get(&short).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "expired: {short}");
}

macro_rules! contract {
    (
        both: [$($case:ident),* $(,)?],
        local: [$($local_case:ident),* $(,)?],
        aws: [$($aws_case:ident),* $(,)?] $(,)?
    ) => {
        mod local {
            use std::sync::Arc;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (blobs, _dir) = super::local_blobs();
                    super::$case(Arc::new(blobs)).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $local_case() {
                    let (blobs, _dir) = super::local_blobs();
                    super::$local_case(blobs).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(blobs) = super::aws_blobs().await else { return };
                    super::$case(blobs).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $aws_case() {
                    let Some(blobs) = super::aws_blobs().await else { return };
                    super::$aws_case(blobs).await;
                }
            )*
        }
    };
}

contract!(
    both: [
        a_put_blob_reads_back_byte_for_byte,
        putting_a_key_again_replaces_its_bytes,
        getting_a_missing_blob_finds_nothing,
        a_deleted_blob_is_gone_and_deleting_a_missing_one_is_fine,
        a_copy_holds_the_same_bytes_and_a_missing_source_copies_nothing,
    ],
    local: [
        a_url_names_the_public_base_and_a_signature_that_verifies,
        a_url_with_a_changed_signature_or_key_or_expiry_is_refused,
        a_url_stops_verifying_after_its_ttl,
    ],
    aws: [
        a_presigned_url_fetches_the_bytes_over_http,
        a_tampered_or_expired_presigned_url_is_refused,
    ],
);
