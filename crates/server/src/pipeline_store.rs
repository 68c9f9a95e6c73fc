//! Where a pipeline's files are published: a directory under the server's pipeline
//! root (`fs-raw`, `fs-schema`), or an S3 bucket (`s3-raw`, `aws`) through the
//! `object_store` crate.
//!
//! A partition's files are first written in full to a local work directory: beside
//! their final names for a directory, so that publishing is one rename each, or under
//! `<root>/.staging/<project>/<hash of the pipeline's name>` for a bucket. A bucket's
//! file is then uploaded under its final key: in one PUT up to 16 MB, else as a
//! multipart upload, whose parts are the temporary object S3 keeps out of sight until
//! the upload is completed. Either way the key shows the old object or the new one,
//! whole (no copy step: S3 refuses to copy objects over 5 GB). A crash leaves at most a
//! staged file, which the next attempt writes over, or an incomplete upload, aborted
//! when the upload fails and otherwise cleared by the bucket's lifecycle rule for
//! incomplete uploads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use sextant_metadata::Pipeline;
use sextant_model::pipeline_bucket::{S3Bucket, S3Encryption};
use tokio::io::AsyncReadExt as _;

use crate::pipeline_tables::Files;
use crate::secrets::SecretBox;
use crate::state::AppState;

/// Files up to this size are uploaded in one request; larger ones in parts of it.
const PART_BYTES: usize = 16 << 20;

/// A creation's check of a bucket: the default backoff, but one retry within ten
/// seconds, so a wrong endpoint is told at once rather than after the default three
/// minutes of retries.
const CHECKING: RetryConfig = RetryConfig {
    backoff: object_store::BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(15),
        base: 2.0,
    },
    max_retries: 1,
    retry_timeout: Duration::from_secs(10),
};

/// Parts of one file uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Where one pipeline's files go.
pub enum Destination {
    /// `<root>/<prefix>/<project>`.
    Directory(PathBuf),
    /// `<prefix>/<project>` in a bucket, staged in a local directory first.
    Bucket { store: Arc<dyn ObjectStore>, base: Key, staging: PathBuf },
}

impl Destination {
    /// The destination of `pipeline`.
    pub fn of(state: &AppState, pipeline: &Pipeline) -> Result<Destination, String> {
        let spec = &pipeline.spec;
        match &spec.bucket {
            None => Ok(Destination::Directory(state.pipelines.destination(&spec.prefix, pipeline.project_id))),
            Some(bucket) => Ok(Destination::Bucket {
                store: bucket_store(bucket, &state.secrets, RetryConfig::default())?,
                base: base_key(&spec.prefix, pipeline.project_id.0)?,
                staging: state.pipelines.staging(pipeline.project_id, &pipeline.name),
            }),
        }
    }

    /// Where a partition's files are written before they are published.
    pub fn work_dir(&self) -> &Path {
        match self {
            Destination::Directory(dir) => dir,
            Destination::Bucket { staging, .. } => staging,
        }
    }

    /// Publishes each written file under its final name, then removes what the
    /// publication no longer has and the scratch files.
    pub async fn publish(&self, files: &Files) -> Result<(), String> {
        match self {
            Destination::Directory(dir) => {
                let dir = dir.clone();
                let (written, stale) = (files.written.clone(), files.stale.clone());
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    for (temporary, target) in &written {
                        let target = dir.join(target);
                        std::fs::rename(temporary, &target)?;
                        if let Some(parent) = target.parent() {
                            sync_dir(parent);
                        }
                    }
                    for gone in &stale {
                        let _ = std::fs::remove_file(dir.join(gone));
                    }
                    Ok(())
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot publish the files: {e}"))?;
            }
            Destination::Bucket { store, base, .. } => {
                for (local, target) in &files.written {
                    upload(store.as_ref(), local, &child(base, target)?).await?;
                    let _ = tokio::fs::remove_file(local).await;
                }
                for gone in &files.stale {
                    match store.delete(&child(base, gone)?).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(format!("cannot remove {gone}: {e}")),
                    }
                }
            }
        }
        for path in &files.scratch {
            let _ = tokio::fs::remove_file(path).await;
        }
        Ok(())
    }
}

/// Checks at creation that the bucket allows what publishing does: one small object
/// written, listed and removed under the pipeline's directory, with few retries, so
/// that a wrong endpoint, bucket or key, or a key missing a permission, is told at
/// once rather than in the pipeline's first failed partition.
pub async fn check_bucket(secrets: &SecretBox, bucket: &S3Bucket, prefix: &str, project: i64) -> Result<(), String> {
    let store = bucket_store(bucket, secrets, CHECKING)?;
    let base = base_key(prefix, project)?;
    let key = child(&base, ".sextant-check")?;
    let put = store.put(&key, PutPayload::from_static(b"sextant")).await;
    put.map_err(|e| format!("cannot write to the bucket: {e}"))?;
    let listed = store.list_with_delimiter(Some(&base)).await;
    listed.map_err(|e| format!("cannot list the bucket: {e}"))?;
    store.delete(&key).await.map_err(|e| format!("cannot delete from the bucket: {e}"))?;
    Ok(())
}

/// Checks at a warehouse source's creation that the bucket can be listed under `prefix`.
pub async fn check_listing(secrets: &SecretBox, bucket: &S3Bucket, prefix: &str) -> Result<(), String> {
    let store = bucket_store(bucket, secrets, CHECKING)?;
    let base = (!prefix.is_empty()).then(|| Key::from(prefix));
    store.list_with_delimiter(base.as_ref()).await.map_err(|e| format!("cannot list the bucket: {e}"))?;
    Ok(())
}

/// A client of `bucket`: its endpoint with path-style requests, its key pair (the
/// secret unsealed) or else the server's own AWS credentials, and its encryption.
pub(crate) fn bucket_store(
    bucket: &S3Bucket,
    secrets: &SecretBox,
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>, String> {
    let mut builder = match (&bucket.access_key_id, &bucket.secret_access_key) {
        (Some(id), Some(sealed)) => {
            let secret = secrets.unseal(sealed).map_err(|e| e.to_string())?;
            AmazonS3Builder::new().with_access_key_id(id).with_secret_access_key(secret)
        }
        _ => AmazonS3Builder::from_env(),
    };
    builder = builder.with_bucket_name(&bucket.bucket).with_region(&bucket.region).with_retry(retry);
    if let Some(endpoint) = &bucket.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    // The crate names this key only by its string form.
    let sse: AmazonS3ConfigKey = "aws_server_side_encryption".parse().map_err(|e| format!("{e}"))?;
    builder = match (bucket.encryption, &bucket.kms_key_id) {
        (S3Encryption::None, _) => builder,
        (S3Encryption::Aes, _) => builder.with_config(sse, "AES256"),
        (S3Encryption::Kms, Some(key)) => builder.with_sse_kms_encryption(key),
        (S3Encryption::Kms, None) => builder.with_config(sse, "aws:kms"),
    };
    let store = builder.build().map_err(|e| format!("cannot use the bucket: {e}"))?;
    Ok(Arc::new(store))
}

/// `<prefix>/<project>` as a key.
fn base_key(prefix: &str, project: i64) -> Result<Key, String> {
    let path = if prefix.is_empty() { project.to_string() } else { format!("{prefix}/{project}") };
    Key::parse(&path).map_err(|e| format!("`{path}` is not a key: {e}"))
}

/// `relative` (`/`-separated) under `base`.
fn child(base: &Key, relative: &str) -> Result<Key, String> {
    Key::parse(format!("{base}/{relative}")).map_err(|e| format!("`{relative}` is not a key: {e}"))
}

/// Uploads a local file to `key`: in one request when small, else in parts.
async fn upload(store: &dyn ObjectStore, local: &Path, key: &Key) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot upload {}: {e}", key);
    let mut file = tokio::fs::File::open(local).await.map_err(|e| failed(&e))?;
    let size = file.metadata().await.map_err(|e| failed(&e))?.len();
    if size <= PART_BYTES as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes).await.map_err(|e| failed(&e))?;
        store.put(key, PutPayload::from(bytes)).await.map_err(|e| failed(&e))?;
        return Ok(());
    }
    let upload = store.put_multipart(key).await.map_err(|e| failed(&e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(failed(&e));
            }
        };
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(failed(&e));
        }
        writer.write(&buffer[..n]);
    }
    writer.finish().await.map_err(|e| failed(&e))?;
    Ok(())
}

/// Makes a rename durable (best effort where directories cannot be opened).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_prefix_and_project() {
        let base = base_key("mixpanel/raw", 7).unwrap();
        let key = child(&base, "2026/12/01/full_day/export.json.gz").unwrap();
        assert_eq!(key.as_ref(), "mixpanel/raw/7/2026/12/01/full_day/export.json.gz");
        assert_eq!(base_key("", 7).unwrap().as_ref(), "7");
    }
}
