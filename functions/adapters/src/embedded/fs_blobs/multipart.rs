//! Multipart uploads on a directory. Each upload is a directory of the parts
//! store, named by its random id: `manifest` (the target key as its body, the
//! final content type as its type) and one object per part (`00001`, …).
//! Parts are ordinary objects of that store, so a part is put, hashed and
//! published exactly like an object (temp file, rename): a cut-off part
//! leaves nothing, a part sent twice replaces the first. Completing streams
//! the parts in order into one put of the target key; then the directory goes.
//! Uploads untouched for a day are swept when the next one starts.

use std::{fs, time::{Duration, SystemTime}};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use tokio_util::io::ReaderStream;
use podops_core::ports::{BlobError, BlobKey, Blobs, ByteStream, MAX_PARTS, PartMeta};

use super::{FsBlobs, READ_CHUNK, blocking, is_absent, unavailable};

const MANIFEST: &str = "manifest";
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);

pub(super) struct Multipart<'a> {
    store: &'a FsBlobs,
}

impl FsBlobs {
    pub(super) fn multipart(&self) -> Result<Multipart<'_>, BlobError> {
        match &self.parts {
            Some(store) => Ok(Multipart { store }),
            None => Err(BlobError::Unavailable("this store holds parts; it takes no multipart uploads itself".into())),
        }
    }
}

/// 32 lowercase hex digits: what `start` hands out, and nothing that could leave the directory.
fn valid_id(upload_id: &str) -> bool {
    upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn key_in(upload_id: &str, name: &str) -> Result<BlobKey, BlobError> {
    if !valid_id(upload_id) {
        return Err(BlobError::NotFound);
    }
    BlobKey::parse(&format!("{upload_id}/{name}")).map_err(|_| BlobError::NotFound)
}

fn part_name(number: u32) -> String {
    format!("{number:05}")
}

impl Multipart<'_> {
    pub async fn start(&self, key: &BlobKey, content_type: &str) -> Result<String, BlobError> {
        self.sweep_stale().await;
        let upload_id = hex::encode(rand::random::<[u8; 16]>());
        let target = Bytes::from(key.as_str().to_owned());
        let body: ByteStream = Box::pin(stream::once(async { Ok(target) }));
        self.store.put(&key_in(&upload_id, MANIFEST)?, content_type, body, 1024).await?;
        Ok(upload_id)
    }

    /// The final content type, once the upload is known to exist and to belong to `key`.
    pub async fn content_type(&self, key: &BlobKey, upload_id: &str) -> Result<String, BlobError> {
        let manifest = self.store.get(&key_in(upload_id, MANIFEST)?, None).await?;
        let content_type = manifest.meta.content_type.clone();
        let target: Vec<Bytes> = manifest.body.try_collect().await.map_err(|e| unavailable("read manifest", e))?;
        if target.concat() != key.as_str().as_bytes() {
            return Err(BlobError::NotFound);
        }
        Ok(content_type)
    }

    pub async fn put_part(&self, key: &BlobKey, upload_id: &str, number: u32, body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(BlobError::NotFound);
        }
        self.content_type(key, upload_id).await?;
        let meta = self.store.put(&key_in(upload_id, &part_name(number))?, "application/octet-stream", body, max_size).await?;
        Ok(PartMeta { number, size: meta.size, etag: meta.sha256 })
    }

    pub async fn list(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError> {
        self.content_type(key, upload_id).await?;
        let dir = self.store.objects.join(upload_id);
        let numbers = blocking("list parts", move || {
            let mut numbers = Vec::new();
            for entry in fs::read_dir(dir)? {
                let name = entry?.file_name();
                // Part files are five digits; sidecars and the manifest are not.
                if let Some(n) = name.to_str().filter(|n| n.len() == 5).and_then(|n| n.parse::<u32>().ok()) {
                    numbers.push(n);
                }
            }
            numbers.sort_unstable();
            Ok(numbers)
        })
        .await?;
        let mut parts = Vec::with_capacity(numbers.len());
        for number in numbers {
            // A part replaced or removed meanwhile is simply not listed.
            if let Some(meta) = self.store.head(&key_in(upload_id, &part_name(number))?).await? {
                parts.push(PartMeta { number, size: meta.size, etag: meta.sha256 });
            }
        }
        Ok(parts)
    }

    /// The parts' bytes one after another, each checked against its listed tag first.
    pub async fn joined(&self, upload_id: &str, parts: &[PartMeta]) -> Result<ByteStream, BlobError> {
        let mut keys = Vec::with_capacity(parts.len());
        for part in parts {
            let key = key_in(upload_id, &part_name(part.number))?;
            match self.store.head(&key).await? {
                Some(meta) if meta.sha256 == part.etag && meta.size == part.size => keys.push(key),
                _ => return Err(BlobError::NotFound),
            }
        }
        // Opened one at a time as the put reads on; the stream owns its paths,
        // as a put's body must be 'static.
        let paths: Vec<_> = keys.iter().map(|key| self.store.data_path(key)).collect();
        let files = stream::iter(paths).then(|path| async move { tokio::fs::File::open(path).await });
        Ok(Box::pin(files.map_ok(|file| ReaderStream::with_capacity(file, READ_CHUNK)).try_flatten()))
    }

    pub async fn remove(&self, upload_id: &str) -> Result<(), BlobError> {
        if !valid_id(upload_id) {
            return Ok(());
        }
        let dir = self.store.objects.join(upload_id);
        blocking("remove upload", move || match fs::remove_dir_all(&dir) {
            Err(e) if !is_absent(&e) => Err(e),
            _ => Ok(()),
        })
        .await
    }

    /// Removes uploads whose manifest is older than a day: their URLs have
    /// long expired, so nobody can finish them.
    async fn sweep_stale(&self) {
        let root = self.store.objects.clone();
        let swept = blocking("sweep uploads", move || {
            let now = SystemTime::now();
            for entry in fs::read_dir(&root)? {
                let Ok(entry) = entry else { continue };
                let Some(name) = entry.file_name().to_str().filter(|n| valid_id(n)).map(str::to_owned) else { continue };
                let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else { continue };
                if now.duration_since(modified).is_ok_and(|age| age > STALE_UPLOAD_AGE) {
                    if let Err(e) = fs::remove_dir_all(root.join(&name)) {
                        tracing::warn!(upload = %name, error = %e, "could not remove an abandoned multipart upload");
                    }
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "sweeping abandoned multipart uploads failed");
        }
    }
}
