//! `GET /blobs/<key>?expires=…&signature=…`: the local backend's stand-in for S3 presigned GETs.
//! A link is served only while its signature holds and it has not expired; a blob deleted since
//! answers 404 at once.

use emo::AppState;
use emo::store::BlobStore;
use emo::store::local::{BLOB_ROUTE, LocalBlobStore};
use emo::web::response::{INTERNAL, video_error};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::{Body, Request, Response};

pub async fn get(state: &AppState, req: Request) -> Response<Body> {
    let Some(store) = local_blobs(state) else {
        return video_error(StatusCode::NOT_FOUND, "not found");
    };
    let key = req
        .uri()
        .path()
        .strip_prefix(BLOB_ROUTE)
        .unwrap_or_default();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(req.uri().query().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let expires = param("expires").and_then(|e| e.parse::<u64>().ok());
    let (Some(expires), Some(signature)) = (expires, param("signature")) else {
        return video_error(StatusCode::FORBIDDEN, "this link is not signed");
    };
    if !store.verify(key, expires, signature) {
        return video_error(
            StatusCode::FORBIDDEN,
            "this link has expired or is not valid",
        );
    }
    match store.get(key).await {
        Ok(Some(bytes)) => {
            let content_type = if key.ends_with(".gif") {
                "image/gif"
            } else if key.ends_with(".png") {
                "image/png"
            } else {
                "application/octet-stream"
            };
            Response::builder()
                .status(StatusCode::OK)
                .header(CONTENT_TYPE, content_type)
                .header(CACHE_CONTROL, "private, max-age=3600")
                .body(Body::Binary(bytes))
                .expect("static headers always build")
        }
        Ok(None) => video_error(StatusCode::NOT_FOUND, "not found"),
        Err(e) => {
            tracing::error!(key, error = %anyhow::Error::from(e), "blob read failed");
            video_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
    }
}

/// The blob store when it is the local folder (on aws, S3 serves the links itself).
fn local_blobs(state: &AppState) -> Option<&LocalBlobStore> {
    state.blobs.as_any().downcast_ref::<LocalBlobStore>()
}
