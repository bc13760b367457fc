//! What this process knows of a multipart upload beyond its files: which put
//! may still write each part, and the object's sha256 over the parts stored
//! so far from the start, computed in the background while later parts
//! arrive. Knowing less is never wrong, only slower: after a restart, or once
//! a part behind the hash is sent again, completion hashes the whole object.

use std::{
    collections::{BTreeMap, HashMap},
    fs, io,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

/// Bytes hashed per turn of the lock: other parts wait at most this long to record.
const HASH_CHUNK: usize = 4 << 20;

/// A part's write permit: the slot holds the number of the put allowed to
/// write; a writer holding an older number stops before its next batch.
pub(super) type Fence = (Arc<Mutex<u64>>, u64);

pub(super) struct Running {
    part_size: u64,
    slots: Mutex<HashMap<u32, Arc<Mutex<u64>>>>,
    progress: Mutex<Progress>,
}

struct Progress {
    /// Parts whose bytes are all in the data file (those with a record), by number: their size.
    stored: BTreeMap<u32, u64>,
    /// The sha256 of the object's first `upto` bytes, while known.
    hash: Option<(Sha256, u64)>,
    /// Set by completion and abort: no part may start any more.
    closing: bool,
    /// A background hash is running; another one would only wait for it.
    chasing: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Running {
    /// `fresh`: started by this process, so nothing is stored yet and the hash starts at byte 0.
    pub(super) fn new(part_size: u64, fresh: bool) -> Self {
        let hash = fresh.then(|| (Sha256::new(), 0));
        Self {
            part_size,
            slots: Mutex::default(),
            progress: Mutex::new(Progress { stored: BTreeMap::new(), hash, closing: false, chasing: false }),
        }
    }

    fn offset(&self, number: u32) -> u64 {
        u64::from(number - 1) * self.part_size
    }

    fn slot(&self, number: u32) -> Arc<Mutex<u64>> {
        Arc::clone(lock(&self.slots).entry(number).or_default())
    }

    /// A put of part `number` begins: the previous put of it (if still
    /// writing) is stopped, and the part counts as absent until `finish`.
    /// Blocks while an older writer's batch is on its way to the file. None:
    /// the upload is being completed or aborted.
    pub(super) fn begin(&self, number: u32) -> Option<Fence> {
        let slot = self.slot(number);
        let mine = {
            let mut current = lock(&slot);
            *current += 1;
            *current
        };
        let mut progress = lock(&self.progress);
        if progress.closing {
            return None;
        }
        progress.stored.remove(&number);
        if progress.hash.as_ref().is_some_and(|(_, upto)| *upto > self.offset(number)) {
            // The hash has read bytes that are about to change.
            progress.hash = None;
        }
        Some((slot, mine))
    }

    /// Part `number` is whole in the data file: `record` (run while no newer
    /// put of the part can start writing) makes it stored.
    pub(super) fn finish(&self, number: u32, size: u64, fence: &Fence, record: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        while_permitted(fence, || {
            record()?;
            lock(&self.progress).stored.insert(number, size);
            Ok(())
        })
    }

    /// Hashes the stored parts that follow the hashed prefix, a chunk per
    /// turn of the lock, until a gap (a part still on its way) or the end.
    pub(super) fn chase(&self, data: &Path) -> io::Result<()> {
        {
            let mut progress = lock(&self.progress);
            if progress.chasing || progress.hash.is_none() {
                return Ok(());
            }
            progress.chasing = true;
        }
        let result = self.chase_while_allowed(data);
        lock(&self.progress).chasing = false;
        result
    }

    fn chase_while_allowed(&self, data: &Path) -> io::Result<()> {
        let file = fs::File::open(data)?;
        let mut buf = Vec::new();
        loop {
            let mut progress = lock(&self.progress);
            let Some(len) = self.next_chunk(&progress) else { return Ok(()) };
            let Some((sha, upto)) = progress.hash.as_mut() else { return Ok(()) };
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, *upto)?;
            sha.update(&buf);
            *upto += len as u64;
        }
    }

    /// How many bytes after the hashed prefix are stored and unhashed, up to a chunk.
    fn next_chunk(&self, progress: &Progress) -> Option<usize> {
        if progress.closing {
            return None;
        }
        let (_, upto) = progress.hash.as_ref()?;
        let number = u32::try_from(upto / self.part_size + 1).ok()?;
        let within = upto - self.offset(number);
        let size = *progress.stored.get(&number)?;
        let left = size.checked_sub(within).filter(|left| *left > 0)?;
        Some(left.min(HASH_CHUNK as u64) as usize)
    }

    /// Closes the upload to new parts, stops the writers still running, and
    /// hands over the hash of the first bytes, if known.
    pub(super) fn close(&self) -> Option<(Sha256, u64)> {
        let hash = {
            let mut progress = lock(&self.progress);
            progress.closing = true;
            progress.hash.take()
        };
        let slots: Vec<_> = lock(&self.slots).values().cloned().collect();
        for slot in slots {
            // Waits for a batch in flight; the writer stops before its next.
            *lock(&slot) += 1;
        }
        hash
    }

    /// A completion that failed its checks: the upload goes on (hashing from scratch at the end).
    pub(super) fn reopen(&self) {
        lock(&self.progress).closing = false;
    }
}

/// Runs `step` (a batch written, the part recorded) only while `fence` is still the part's permit.
pub(super) fn while_permitted<T>(fence: &Fence, step: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let current = lock(&fence.0);
    if *current != fence.1 {
        return Err(superseded());
    }
    step()
}

fn superseded() -> io::Error {
    io::Error::other("a newer copy of this part is being written, or the upload is over")
}

/// Hashes `len` bytes of `file` from `from` (the part of the object the background hash did not reach).
pub(super) fn hash_range(file: &fs::File, sha: &mut Sha256, from: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0; HASH_CHUNK.min(usize::try_from(len).unwrap_or(HASH_CHUNK))];
    let mut at = from;
    let end = from + len;
    while at < end {
        let n = buf.len().min(usize::try_from(end - at).unwrap_or(usize::MAX));
        file.read_exact_at(&mut buf[..n], at)?;
        sha.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}
