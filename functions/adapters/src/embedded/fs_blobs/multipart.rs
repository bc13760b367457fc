//! Multipart uploads on a directory, assembled in place. Each upload is a
//! directory `.uploads/<id>/` (the id is random):
//! - `manifest.json`: the target key, its content type and the part size;
//! - `data`: the object being assembled. Part n is written at offset
//!   (n − 1) × part size as it arrives, in any order, so completing writes
//!   nothing again: it renames `data` over the key;
//! - `NNNNN.json`: part n's record (size, tag), written once all its bytes
//!   are in `data`. A part without a record is not stored: a cut-off part
//!   leaves none, and a part sent again loses its record when the new copy
//!   starts (the client sends it whole again).
//!
//! The object's sha256 is computed while the parts arrive (see `running`),
//! so completing hashes only what is left. Uploads untouched for a day are
//! swept when the next one starts.

use std::{
    fs,
    io::{self, Seek, SeekFrom},
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use futures::StreamExt;
use podops_core::ports::{BlobError, BlobKey, BlobMeta, ByteStream, PartMeta, MAX_PARTS};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::{NamedTempFile, TempPath};

use super::{
    BatchWriter, FsBlobs, Publish, Sidecar, blocking, file_id, is_absent, unavailable,
    running::{Running, hash_range},
};

const MANIFEST: &str = "manifest.json";
const DATA: &str = "data";
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);

/// The uploads in progress under one store.
pub(super) struct Uploads {
    dir: PathBuf,
    running: Mutex<std::collections::HashMap<String, Arc<Running>>>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    key: String,
    content_type: String,
    part_size: u64,
}

#[derive(Serialize, Deserialize)]
struct PartRecord {
    size: u64,
    etag: String,
}

/// 32 lowercase hex digits: what `start` hands out, and nothing that could leave the directory.
fn valid_id(upload_id: &str) -> bool {
    upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn record_name(number: u32) -> String {
    format!("{number:05}.json")
}

impl Uploads {
    pub(super) fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self { dir, running: Mutex::default() })
    }

    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf, BlobError> {
        if valid_id(upload_id) { Ok(self.dir.join(upload_id)) } else { Err(BlobError::NotFound) }
    }

    /// This process's state of the upload; after a restart, a fresh one that knows no hash.
    fn running(&self, upload_id: &str, part_size: u64) -> Arc<Running> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(running.entry(upload_id.to_owned()).or_insert_with(|| Arc::new(Running::new(part_size, false))))
    }

    /// The state of an upload this process just started: its hash begins at byte 0.
    fn started(&self, upload_id: &str, part_size: u64) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).insert(upload_id.to_owned(), Arc::new(Running::new(part_size, true)));
    }

    fn forget(&self, upload_id: &str) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(upload_id);
    }

    /// The upload's manifest, once the upload is known to exist and to belong to `key`.
    async fn manifest(&self, key: &BlobKey, upload_id: &str) -> Result<Manifest, BlobError> {
        let path = self.upload_dir(upload_id)?.join(MANIFEST);
        let manifest = blocking("read upload manifest", move || match fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice::<Manifest>(&bytes).ok()),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        manifest.filter(|m| m.key == key.as_str() && m.part_size > 0).ok_or(BlobError::NotFound)
    }
}

impl FsBlobs {
    pub(super) async fn multipart_start(&self, key: &BlobKey, content_type: &str, part_size: u64) -> Result<String, BlobError> {
        if part_size == 0 {
            return Err(BlobError::Unavailable("a multipart upload needs a part size".into()));
        }
        self.sweep_stale_uploads().await;
        let upload_id = hex::encode(rand::random::<[u8; 16]>());
        let dir = self.uploads.upload_dir(&upload_id)?;
        let manifest = serde_json::to_vec(&Manifest { key: key.as_str().to_owned(), content_type: content_type.to_owned(), part_size })
            .map_err(|e| BlobError::Unavailable(format!("upload manifest: {e}")))?;
        let fsync = self.fsync;
        blocking("start upload", move || {
            fs::create_dir_all(&dir)?;
            fs::File::create(dir.join(DATA))?;
            write_small(&dir, MANIFEST, &manifest, fsync)
        })
        .await?;
        self.uploads.started(&upload_id, part_size);
        Ok(upload_id)
    }

    pub(super) async fn multipart_put_part(&self, key: &BlobKey, upload_id: &str, number: u32, mut body: ByteStream, max_size: u64) -> Result<PartMeta, BlobError> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(BlobError::NotFound);
        }
        let manifest = self.uploads.manifest(key, upload_id).await?;
        let limit = max_size.min(manifest.part_size);
        let offset = u64::from(number - 1) * manifest.part_size;
        let dir = self.uploads.upload_dir(upload_id)?;
        let running = self.uploads.running(upload_id, manifest.part_size);

        let (file, fence) = {
            let (running, data) = (Arc::clone(&running), dir.join(DATA));
            blocking("open upload", move || {
                let Some(fence) = running.begin(number) else { return Ok(None) };
                let mut file = fs::OpenOptions::new().write(true).open(data)?;
                file.seek(SeekFrom::Start(offset))?;
                Ok(Some((file, fence)))
            })
            .await?
            .ok_or(BlobError::NotFound)?
        };
        let mut out = BatchWriter::fenced(file, fence.clone());
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Body)?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            out.write(chunk).await.map_err(|e| unavailable("write part", e))?;
        }
        out.finish(self.fsync).await.map_err(|e| unavailable("write part", e))?;

        let etag = hex::encode(rand::random::<[u8; 16]>());
        let record = serde_json::to_vec(&PartRecord { size, etag: etag.clone() }).map_err(|e| BlobError::Unavailable(format!("part record: {e}")))?;
        let fsync = self.fsync;
        blocking("record part", move || {
            running.finish(number, size, &fence, || write_small(&dir, &record_name(number), &record, fsync))?;
            // The hash goes on in the background; the client has its answer.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = running.chase(&dir.join(DATA)) {
                    tracing::warn!(error = %e, "hashing an upload's parts failed; completion will hash it whole");
                }
            });
            Ok(())
        })
        .await?;
        Ok(PartMeta { number, size, etag })
    }

    pub(super) async fn multipart_list(&self, key: &BlobKey, upload_id: &str) -> Result<Vec<PartMeta>, BlobError> {
        self.uploads.manifest(key, upload_id).await?;
        let dir = self.uploads.upload_dir(upload_id)?;
        blocking("list parts", move || read_records(&dir)).await
    }

    /// Checks `parts` against the records (1..=n, every one but the last of
    /// the part size), finishes the hash, and publishes `data` at `key`.
    pub(super) async fn multipart_complete(&self, key: &BlobKey, upload_id: &str, parts: &[PartMeta]) -> Result<BlobMeta, BlobError> {
        let manifest = self.uploads.manifest(key, upload_id).await?;
        let dir = self.uploads.upload_dir(upload_id)?;
        let running = self.uploads.running(upload_id, manifest.part_size);
        let parts = parts.to_vec();
        let (objects_path, tmp, fsync, lock) = (self.data_path(key), self.tmp.clone(), self.fsync, Arc::clone(&self.publish));
        let content_type = manifest.content_type.clone();
        let published = blocking("complete upload", move || {
            let hashed = running.close();
            let size = match joined_size(&read_records(&dir)?, &parts, manifest.part_size) {
                Some(size) => size,
                None => {
                    running.reopen();
                    return Ok(None);
                }
            };
            let data = dir.join(DATA);
            let file = fs::OpenOptions::new().read(true).write(true).open(&data)?;
            // A part sent again shorter (the last) leaves the longer copy's tail.
            if file.metadata()?.len() != size {
                file.set_len(size)?;
            }
            let (mut sha, from) = match hashed {
                Some((sha, upto)) if upto <= size => (sha, upto),
                _ => (Sha256::new(), 0),
            };
            hash_range(&file, &mut sha, from, size - from)?;
            if fsync {
                file.sync_data()?;
            }
            let id = file_id(&file.metadata()?);
            let sidecar = Sidecar { size, sha256: hex::encode(sha.finalize()), content_type };
            let meta = BlobMeta { size, sha256: sidecar.sha256.clone(), content_type: sidecar.content_type.clone() };
            let publish = Publish { data: objects_path, temp: TempPath::try_from_path(data)?, id, sidecar, tmp, fsync, lock };
            let result = publish.run();
            // Published, or refused for good (the key names a folder): either way the upload is over.
            if let Err(e) = remove_upload(&dir) {
                tracing::warn!(upload = %dir.display(), error = %e, "could not remove a finished upload's directory");
            }
            result.map(|()| Some(meta))
        })
        .await;
        match published {
            Ok(None) => Err(BlobError::NotFound),
            Ok(Some(meta)) => {
                self.uploads.forget(upload_id);
                Ok(meta)
            }
            Err(e) => {
                self.uploads.forget(upload_id);
                Err(e)
            }
        }
    }

    pub(super) async fn multipart_abort(&self, key: &BlobKey, upload_id: &str) -> Result<(), BlobError> {
        let manifest = match self.uploads.manifest(key, upload_id).await {
            Ok(manifest) => manifest,
            Err(BlobError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let running = self.uploads.running(upload_id, manifest.part_size);
        let dir = self.uploads.upload_dir(upload_id)?;
        blocking("remove upload", move || {
            running.close();
            remove_upload(&dir)
        })
        .await?;
        self.uploads.forget(upload_id);
        Ok(())
    }

    /// Removes uploads whose directory is older than a day: their URLs have
    /// long expired, so nobody can finish them.
    async fn sweep_stale_uploads(&self) {
        let root = self.uploads.dir.clone();
        let swept = blocking("sweep uploads", move || {
            let now = SystemTime::now();
            let mut swept = Vec::new();
            for entry in fs::read_dir(&root)? {
                let Ok(entry) = entry else { continue };
                let Some(name) = entry.file_name().to_str().filter(|n| valid_id(n)).map(str::to_owned) else { continue };
                let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else { continue };
                if now.duration_since(modified).is_ok_and(|age| age > STALE_UPLOAD_AGE) {
                    match remove_upload(&root.join(&name)) {
                        Ok(()) => swept.push(name),
                        Err(e) => tracing::warn!(upload = %name, error = %e, "could not remove an abandoned multipart upload"),
                    }
                }
            }
            Ok(swept)
        })
        .await;
        match swept {
            Ok(swept) => swept.iter().for_each(|id| self.uploads.forget(id)),
            Err(e) => tracing::warn!(error = %e, "sweeping abandoned multipart uploads failed"),
        }
    }
}

/// The object's size when `parts` are exactly the stored parts 1..=n, each
/// with its current tag, every one but the last of `part_size`; else None.
fn joined_size(stored: &[PartMeta], parts: &[PartMeta], part_size: u64) -> Option<u64> {
    let (last, full) = parts.split_last()?;
    let numbered = parts.iter().zip(1..).all(|(part, n)| part.number == n);
    let current = parts.iter().all(|part| stored.iter().any(|s| s == part));
    let layout = full.iter().all(|part| part.size == part_size) && last.size <= part_size;
    (numbered && current && layout).then(|| u64::from(last.number - 1) * part_size + last.size)
}

fn read_records(dir: &std::path::Path) -> io::Result<Vec<PartMeta>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed meanwhile: completed or aborted.
        Err(e) if is_absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut parts = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(number) = name.to_str().and_then(|n| n.strip_suffix(".json")).filter(|n| n.len() == 5).and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        // A record replaced or removed meanwhile is simply not listed.
        let Ok(bytes) = fs::read(dir.join(&name)) else { continue };
        if let Ok(record) = serde_json::from_slice::<PartRecord>(&bytes) {
            parts.push(PartMeta { number, size: record.size, etag: record.etag });
        }
    }
    parts.sort_unstable_by_key(|p| p.number);
    Ok(parts)
}

/// Writes a small file whole or not at all (temp file, rename).
fn write_small(dir: &std::path::Path, name: &str, bytes: &[u8], fsync: bool) -> io::Result<()> {
    let mut file = NamedTempFile::with_prefix_in(".new-", dir)?;
    io::Write::write_all(&mut file, bytes)?;
    if fsync {
        file.as_file().sync_data()?;
    }
    file.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

fn remove_upload(dir: &std::path::Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if !is_absent(&e) => Err(e),
        _ => Ok(()),
    }
}
