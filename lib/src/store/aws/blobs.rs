use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::sdk_err;
use crate::store::{BlobStore, StoreError};

/// [`BlobStore`] on a private S3 bucket; URLs are presigned GETs.
#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// An S3 client for `conf`; path-style addressing whenever a custom endpoint (an emulator)
    /// is configured, since `<bucket>.127.0.0.1` does not resolve.
    pub fn client(conf: &aws_config::SdkConfig) -> Client {
        let mut b = aws_sdk_s3::config::Builder::from(conf);
        if conf.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        Client::from_conf(b.build())
    }

    /// Creates the bucket (for tests and local emulators).
    pub async fn create_bucket(client: &Client, bucket: &str) -> anyhow::Result<()> {
        client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| sdk_err("CreateBucket", e))?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_err("PutObject", e))?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        // Keys are ours (`inputs/<job>.<ext>`): nothing in them needs escaping in the source.
        let res = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{from}", self.bucket))
            .key(to)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                // A missing source is NoSuchKey (404) to a role that may list the prefix.
                if e.code() == Some("NoSuchKey") {
                    Ok(false)
                } else {
                    Err(sdk_err("CopyObject", e).into())
                }
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| sdk_err("GetObject body", e))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) => {
                let e = e.into_service_error();
                if e.is_no_such_key() {
                    Ok(None)
                } else {
                    Err(sdk_err("GetObject", e).into())
                }
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_err("DeleteObject", e))?;
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    async fn url(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|e| sdk_err("presigning config", e))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| sdk_err("presign GetObject", e))?;
        Ok(req.uri().to_owned())
    }
}
