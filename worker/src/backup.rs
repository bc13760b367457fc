//! The `backup` and `restore` jobs. A backup streams the production's records
//! and media objects into one tar file in the scratch directory (each object
//! hashed as it is copied), writes the manifest last, and stores the archive.
//! A restore downloads an archive, indexes it, checks the manifest and the
//! records, streams each object from its place in the file into the store
//! (the store's sha256 compared with the manifest's), and only then has the
//! core write the records: a refused archive leaves no record behind, and
//! the objects it had written are removed.

use std::{collections::HashMap, io::SeekFrom, path::Path};

use futures::StreamExt;
use podops_core::{
    domain::{
        backup::{object_path, rehome, ArchivedFile, ArchivedObject, Manifest, FORMAT, MANIFEST_PATH, RECORDS_PATH},
        Job,
    },
    ports::{BlobError, BlobKey},
    service::{backup_object, Podops, ServiceError},
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::{tasks::Failure, Worker};

const BLOCK: u64 = 512;
/// Largest manifest and records file a restore reads into memory.
const MAX_MANIFEST: u64 = 64 << 20;
const MAX_RECORDS: u64 = 1 << 30;

fn scratch_io(e: std::io::Error) -> Failure {
    Failure { code: "job.scratch".into(), detail: e.to_string(), transient: true }
}

/// A tar file written as the bytes come (headers from the `tar` crate).
struct TarWriter {
    file: tokio::fs::File,
    mtime: u64,
}

impl TarWriter {
    async fn header(&mut self, path: &str, size: u64) -> std::io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_path(path)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.file.write_all(header.as_bytes()).await
    }

    async fn pad(&mut self, size: u64) -> std::io::Result<()> {
        let rest = size % BLOCK;
        if rest != 0 {
            self.file.write_all(&vec![0u8; (BLOCK - rest) as usize]).await?;
        }
        Ok(())
    }

    async fn entry(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.header(path, bytes.len() as u64).await?;
        self.file.write_all(bytes).await?;
        self.pad(bytes.len() as u64).await
    }

    async fn finish(mut self) -> std::io::Result<()> {
        self.file.write_all(&[0u8; 2 * BLOCK as usize]).await?;
        self.file.flush().await
    }
}

/// Where each regular file of the archive starts, and its size.
fn index_archive(path: &Path) -> Result<HashMap<String, (u64, u64)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    let mut index = HashMap::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type() == tar::EntryType::Regular {
            let name = entry.path().map_err(|e| e.to_string())?.to_string_lossy().into_owned();
            index.insert(name, (entry.raw_file_position(), entry.size()));
        }
    }
    if index.contains_key(MANIFEST_PATH) {
        Ok(index)
    } else {
        Err(format!("no {MANIFEST_PATH} in the archive"))
    }
}

async fn read_entry(path: &Path, (offset, size): (u64, u64), limit: u64) -> Result<Option<Vec<u8>>, Failure> {
    if size > limit {
        return Ok(None);
    }
    let mut file = tokio::fs::File::open(path).await.map_err(scratch_io)?;
    file.seek(SeekFrom::Start(offset)).await.map_err(scratch_io)?;
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size).read_to_end(&mut bytes).await.map_err(scratch_io)?;
    Ok(Some(bytes))
}

impl Worker {
    pub(crate) async fn backup(&self, job: &Job) -> Result<(), Failure> {
        let Some(backup) = self.podops.backup_of(job).await? else { return Ok(()) };
        if backup.state == "done" || backup.state == "failed" {
            return Ok(());
        }
        self.podops.backup_running(job).await?;
        let contents = match self.podops.backup_contents(job).await {
            Ok(c) => c,
            Err(ServiceError::ProductionNotFound(_)) => {
                self.podops.fail_backup(job, "production.not_found", "the production was deleted").await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let dir = self.scratch()?;
        let path = dir.path().join("backup.tar");
        let file = tokio::fs::File::create(&path).await.map_err(scratch_io)?;
        let mut tar = TarWriter { file, mtime: u64::try_from(backup.created).unwrap_or(0) };
        tar.entry(RECORDS_PATH, &contents.records).await.map_err(scratch_io)?;
        let mut objects = Vec::with_capacity(contents.objects.len());
        for (n, key) in contents.objects.iter().enumerate() {
            let blob = match self.podops.blobs.get(key, None).await {
                Ok(b) => b,
                Err(BlobError::NotFound) => {
                    self.podops.fail_backup(job, "backup.object_missing", &format!("{key} is gone from the store")).await?;
                    return Ok(());
                }
                Err(e) => return Err(Failure::store(e)),
            };
            let entry = object_path(n);
            tar.header(&entry, blob.meta.size).await.map_err(scratch_io)?;
            let (mut hash, mut written) = (Sha256::new(), 0u64);
            let mut body = blob.body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Failure::store)?;
                hash.update(&chunk);
                written += chunk.len() as u64;
                tar.file.write_all(&chunk).await.map_err(scratch_io)?;
            }
            if written != blob.meta.size {
                return Err(Failure::store(format!("{key}: read {written} of {} bytes", blob.meta.size)));
            }
            tar.pad(written).await.map_err(scratch_io)?;
            objects.push(ArchivedObject { path: entry, key: key.to_string(), size: written, sha256: hex::encode(hash.finalize()), content_type: blob.meta.content_type });
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            production: contents.production,
            created: backup.created,
            records: ArchivedFile { path: RECORDS_PATH.into(), size: contents.records.len() as u64, sha256: hex::encode(Sha256::digest(&contents.records)) },
            record_count: contents.record_count,
            objects,
            secrets_to_set: contents.secrets_to_set,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Failure::store(e.to_string()))?;
        tar.entry(MANIFEST_PATH, &manifest_bytes).await.map_err(scratch_io)?;
        tar.finish().await.map_err(scratch_io)?;
        let file = tokio::fs::File::open(&path).await.map_err(scratch_io)?;
        let key = backup_object(&job.production, &job.asset)?;
        let stored = self.podops.blobs.put(&key, "application/x-tar", Box::pin(ReaderStream::with_capacity(file, 1 << 20)), u64::MAX).await.map_err(Failure::store)?;
        self.podops.finish_backup(job, stored.size, &stored.sha256, manifest.record_count, manifest.objects.len() as u64).await?;
        Ok(())
    }

    pub(crate) async fn restore(&self, job: &Job) -> Result<(), Failure> {
        let Some(restore) = self.podops.restore_of(job).await? else { return Ok(()) };
        if restore.state == "done" || restore.state == "failed" {
            return Ok(());
        }
        self.podops.restore_running(job).await?;
        let archive = Podops::restore_object(&restore)?;
        let dir = self.scratch()?;
        let path = dir.path().join("archive.tar");
        match self.download(&archive, &path).await {
            Err(f) if f.code == "media.missing" => {
                self.podops.fail_restore(job, "backup.archive_missing", "nothing was uploaded to the archive's URL").await?;
                return Ok(());
            }
            other => other?,
        }
        let indexed = path.clone();
        let index = match tokio::task::spawn_blocking(move || index_archive(&indexed)).await.map_err(|e| Failure::store(e.to_string()))? {
            Ok(i) => i,
            Err(why) => return self.refuse_restore(job, "backup.not_an_archive", &format!("not a PodOps backup: {why}")).await,
        };
        let manifest = match read_entry(&path, index[MANIFEST_PATH], MAX_MANIFEST).await?.map(|b| serde_json::from_slice::<Manifest>(&b)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => return self.refuse_restore(job, "backup.manifest", &format!("the manifest does not read: {e}")).await,
            None => return self.refuse_restore(job, "backup.manifest", "the manifest is too large").await,
        };
        let Some(&records_at) = index.get(&manifest.records.path) else {
            return self.refuse_restore(job, "backup.manifest", "the records file the manifest names is not in the archive").await;
        };
        let Some(records) = read_entry(&path, records_at, MAX_RECORDS).await? else {
            return self.refuse_restore(job, "backup.manifest", "the records file is too large").await;
        };
        let Some(target) = self.podops.plan_restore(job, &manifest, &records).await? else { return self.drop_upload(job).await };
        let from = &manifest.production.guid;
        let (mut written, mut bytes) = (Vec::<BlobKey>::new(), 0u64);
        for object in &manifest.objects {
            let problem = match (index.get(&object.path), BlobKey::parse(&rehome(&object.key, from, &target))) {
                (Some(&(offset, size)), Ok(key)) => {
                    let mut file = tokio::fs::File::open(&path).await.map_err(scratch_io)?;
                    file.seek(SeekFrom::Start(offset)).await.map_err(scratch_io)?;
                    let body = Box::pin(ReaderStream::with_capacity(file.take(size), 1 << 20));
                    let stored = self.podops.blobs.put(&key, &object.content_type, body, size).await.map_err(Failure::store)?;
                    written.push(key);
                    bytes += size;
                    (stored.sha256 != object.sha256 || stored.size != object.size)
                        .then(|| ("backup.checksum", format!("{} does not match its sha256 in the manifest", object.key)))
                }
                (None, _) => Some(("backup.object_missing", format!("{} is not in the archive", object.key))),
                (_, Err(_)) => Some(("backup.manifest", format!("{} is not an object key", object.key))),
            };
            if let Some((code, message)) = problem {
                for key in &written {
                    let _ = self.podops.blobs.delete(key).await;
                }
                return self.refuse_restore(job, code, &message).await;
            }
        }
        self.podops.apply_restore(job, &manifest, &records, &target, bytes).await?;
        if archive.as_str().starts_with("backups/uploads/") {
            // Restored: the uploaded copy has done its work.
            let _ = self.podops.blobs.delete(&archive).await;
        }
        Ok(())
    }

    /// The restore failed for good: an uploaded archive is removed (it will not be read again).
    async fn refuse_restore(&self, job: &Job, code: &str, message: &str) -> Result<(), Failure> {
        self.podops.fail_restore(job, code, message).await?;
        self.drop_upload(job).await
    }

    async fn drop_upload(&self, job: &Job) -> Result<(), Failure> {
        if let Some(restore) = self.podops.restore_of(job).await? {
            let archive = Podops::restore_object(&restore)?;
            if archive.as_str().starts_with("backups/uploads/") {
                let _ = self.podops.blobs.delete(&archive).await;
            }
        }
        Ok(())
    }
}
