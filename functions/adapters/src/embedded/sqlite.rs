//! The embedded SQLite database: one file holding records and the job queue,
//! one writer connection plus a small pool of readers, all used off the async runtime.

use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, PoisonError, Weak,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use podops_core::ports::{Key, QueueError, StoreError};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::{Notify, Semaphore};

/// Bump together with a new `if found < N` step in `migrate`.
const SCHEMA_VERSION: i64 = 1;

/// Enough for a 2-core host to keep every core busy on reads while writes wait
/// only on each other; more connections would only add page-cache copies.
const READERS: usize = 4;

/// Another process (a CLI run, a second server) may hold the write lock briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a reader answers from one read transaction before it takes a
/// fresh one: the most a read can lag behind a commit made by another process
/// (a separate `podops worker`). A commit by this process ends every reuse at
/// once, so a client always reads what it wrote here. Taking a snapshot costs
/// SQLite's file lock and its process-wide mutex: 14 % of a `GET` when every
/// read took its own.
const SNAPSHOT_REUSE: Duration = Duration::from_millis(1);

/// How often snapshots left open by readers idle in the pool are ended, so
/// they never keep the WAL from being checkpointed and restarted.
const IDLE_SNAPSHOT_SWEEP: Duration = Duration::from_millis(20);

/// Every statement the adapters issue fits, so hot paths never re-prepare.
const STATEMENT_CACHE: usize = 64;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS records (
    partition  TEXT    NOT NULL,
    sort       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (partition, sort)
) WITHOUT ROWID;

-- seq is the rowid: new rows always get a larger one than every existing row,
-- which is all that send order needs.
CREATE TABLE IF NOT EXISTS messages (
    seq           INTEGER PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    queue         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT,
    dead          INTEGER NOT NULL DEFAULT 0
);

-- Ordered by seq rather than visible_at: a receive then stops after `max`
-- visible rows instead of sorting a whole backlog; only in-flight rows at the
-- head are skipped.
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, dead, seq);
";

/// A pooled read-only connection, with what it remembers between reads.
#[derive(Debug)]
pub(crate) struct Reader {
    pub conn: Connection,
    /// Counts this connection computed, by what was counted: valid while the
    /// database is unchanged (`PRAGMA data_version`, per connection) within
    /// the same second (expiry moves with the clock, not with commits).
    pub counts: Counts,
    /// The read transaction kept open between reads while young (see `SNAPSHOT_REUSE`).
    snapshot: Option<Snapshot>,
    /// Rows read by key in the current snapshot, which cannot change while it
    /// lasts: the production every request of a show authorizes against is
    /// read from SQLite once per snapshot, not once per request.
    rows: std::collections::HashMap<Key, Option<StoredRow>>,
}

/// A row as stored: version, body, expiry.
pub(crate) type StoredRow = (i64, String, Option<i64>);

/// At most this many rows are remembered per snapshot.
const ROWS_REMEMBERED: usize = 256;

#[derive(Debug)]
struct Snapshot {
    began: Instant,
    /// This process's commits when it began.
    commits: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counts(std::collections::HashMap<String, CachedCount>);

#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedCount {
    pub data_version: i64,
    pub second: i64,
    pub count: i64,
}

/// At most this many counts are remembered per connection; then it starts afresh.
const COUNTS_REMEMBERED: usize = 1024;

impl Reader {
    fn open(path: &Path) -> rusqlite::Result<Reader> {
        Ok(Reader { conn: open_reader(path)?, counts: Counts::default(), snapshot: None, rows: Default::default() })
    }

    /// Opens a read transaction unless the one open is young and no commit of
    /// this process came after it. Every read runs inside one.
    fn ready(&mut self, commits: u64) -> rusqlite::Result<()> {
        if let Some(open) = &self.snapshot {
            if open.commits == commits && open.began.elapsed() < SNAPSHOT_REUSE && !self.conn.is_autocommit() {
                return Ok(());
            }
            self.end()?;
        }
        self.conn.prepare_cached("BEGIN")?.execute([])?;
        self.snapshot = Some(Snapshot { began: Instant::now(), commits });
        Ok(())
    }

    /// The live row at `key`, read once per snapshot.
    pub fn row(&mut self, key: &Key, now: i64) -> rusqlite::Result<Option<StoredRow>> {
        let live = |row: &StoredRow| row.2.is_none_or(|expires| expires >= now);
        if let Some(found) = self.rows.get(key) {
            // The second may have turned since: an expired row is absent.
            return Ok(found.clone().filter(live));
        }
        let found = self
            .conn
            .prepare_cached("SELECT version, body, expires_at FROM records WHERE partition = ?1 AND sort = ?2")?
            .query_row(rusqlite::params![key.partition, key.sort], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?;
        if self.rows.len() >= ROWS_REMEMBERED {
            self.rows.clear();
        }
        self.rows.insert(key.clone(), found.clone());
        Ok(found.filter(live))
    }

    /// Ends the read transaction, if one is open.
    fn end(&mut self) -> rusqlite::Result<()> {
        self.snapshot = None;
        self.rows.clear();
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }

    /// Runs `work` in this reader's snapshot; after a failure the snapshot is
    /// dropped, so the next read starts clean.
    fn run<T, E>(&mut self, commits: u64, work: impl FnOnce(&mut Reader) -> Result<T, DbError<E>>) -> Result<T, DbError<E>> {
        self.ready(commits)?;
        let result = work(self);
        if result.is_err() {
            if let Err(e) = self.end() {
                tracing::warn!(error = %e, "ending a failed read transaction failed");
            }
        }
        result
    }
}

impl Counts {
    /// The count remembered under `what`, if nothing changed since.
    pub fn remembered(&self, what: &str, data_version: i64, second: i64) -> Option<i64> {
        self.0.get(what).filter(|c| c.data_version == data_version && c.second == second).map(|c| c.count)
    }

    pub fn remember(&mut self, what: String, count: CachedCount) {
        if self.0.len() >= COUNTS_REMEMBERED {
            self.0.clear();
        }
        self.0.insert(what, count);
    }
}

/// The database file, shared by `SqliteRecords` and every `SqliteJobs` on it.
/// Cloning is cheap and every clone uses the same connections.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Reader>>,
    /// Commits made through `writer`: a reader's snapshot from before one is not reused.
    commits: AtomicU64,
    /// One permit per reader connection, so a burst of reads queues without
    /// holding threads instead of opening more connections.
    reader_permits: Arc<Semaphore>,
    /// Wakes long-polling receivers in this process when a message is sent.
    message_sent: Notify,
}

impl SqliteDb {
    /// Opens (or creates) the database file and brings its schema up to date.
    /// Blocks briefly: call it at start-up, not on a request path.
    pub fn open(path: &Path) -> Result<SqliteDb, StoreError> {
        let mut writer = Connection::open(path)
            .map_err(|err| StoreError::Unavailable(format!("{}: {err}", path.display())))?;
        configure(&writer).map_err(StoreError::from_sql)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(StoreError::from_sql)?;
        // Without WAL, readers would block the writer and the pool would be pointless.
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{}: cannot use WAL (journal_mode is {mode})",
                path.display()
            )));
        }
        // Safe with WAL: a power cut can lose the last commits, never corrupt the file.
        writer.pragma_update(None, "synchronous", "NORMAL").map_err(StoreError::from_sql)?;
        migrate(&mut writer).map_err(DbError::into_port)?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::with_capacity(READERS)),
            commits: AtomicU64::new(0),
            reader_permits: Arc::new(Semaphore::new(READERS)),
            message_sent: Notify::new(),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("sqlite-idle-snapshots".into())
            .spawn(move || end_idle_snapshots(&weak))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the snapshot sweeper: {e}")))?;
        Ok(SqliteDb { inner })
    }

    fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Acquire)
    }

    /// A point read (one row by its key) on a read-only connection. With a
    /// pooled connection at hand it runs here, on the calling task: reading a
    /// row from the page cache takes microseconds, less than the hop to a
    /// blocking thread (measured in BENCHMARKS.md). Scans and counts, and
    /// opening a connection, go to a blocking thread (`read`).
    pub(crate) async fn read_point<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: PortError,
        F: FnOnce(&mut Reader) -> Result<T, DbError<E>> + Send + 'static,
    {
        let permit = self.reader_permit::<E>().await?;
        match self.pooled() {
            Some(reader) => self.run_here(reader, work),
            None => {
                drop(permit);
                self.read(work).await
            }
        }
    }

    /// Runs `work` here, on the calling task, when a pooled connection is at
    /// hand; `work` answers None when what it found needs longer work (which
    /// the caller then sends to `read`). None as well without a pooled connection.
    pub(crate) async fn read_here_if_quick<T, E, F>(&self, work: F) -> Result<Option<T>, E>
    where
        E: PortError,
        F: FnOnce(&mut Reader) -> Result<Option<T>, DbError<E>>,
    {
        let _permit = self.reader_permit::<E>().await?;
        match self.pooled() {
            Some(reader) => self.run_here(reader, work),
            None => Ok(None),
        }
    }

    /// A pooled reader, if one is idle (the caller holds a permit).
    fn pooled(&self) -> Option<Reader> {
        self.inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Runs `work` on `reader` on the calling task, then puts the reader back.
    fn run_here<T, E: PortError>(&self, mut reader: Reader, work: impl FnOnce(&mut Reader) -> Result<T, DbError<E>>) -> Result<T, E> {
        let result = reader.run(self.commits(), work);
        self.inner.readers.lock().unwrap_or_else(PoisonError::into_inner).push(reader);
        result.map_err(DbError::into_port)
    }

    /// Runs `work` on a read-only connection on a blocking thread. Reads run
    /// concurrently with each other and with the writer.
    pub(crate) async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: PortError,
        F: FnOnce(&mut Reader) -> Result<T, DbError<E>> + Send + 'static,
    {
        let permit = self.reader_permit::<E>().await?;
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            // The permit travels with the connection: if the caller gives up
            // early, the pool still never holds more than READERS connections.
            let _permit = permit;
            let pooled = inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut reader = match pooled {
                Some(reader) => reader,
                None => Reader::open(&inner.path)?,
            };
            let result = reader.run(inner.commits.load(Ordering::Acquire), work);
            inner.readers.lock().unwrap_or_else(PoisonError::into_inner).push(reader);
            result
        })
        .await
    }

    /// One of the `READERS` places: never more connections than that at once.
    async fn reader_permit<E: PortError>(&self) -> Result<tokio::sync::OwnedSemaphorePermit, E> {
        Arc::clone(&self.inner.reader_permits).acquire_owned().await.map_err(|_| E::unavailable("reader pool closed".to_owned()))
    }

    /// Runs `work` on the one writer connection on a blocking thread.
    pub(crate) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: PortError,
        F: FnOnce(&mut Connection) -> Result<T, DbError<E>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            // A panic mid-write poisons the lock, but the Transaction guard has
            // rolled back by then, so the connection is still sound.
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let result = work(&mut conn);
            // Counted whether or not it committed: a reader only takes a fresh snapshot too many.
            inner.commits.fetch_add(1, Ordering::Release);
            result
        })
        .await
    }

    pub(crate) fn message_sent(&self) -> &Notify {
        &self.inner.message_sent
    }
}

/// Ends the snapshots of readers idle in the pool once they are too old to
/// reuse; stops when the database is dropped.
fn end_idle_snapshots(inner: &Weak<Inner>) {
    loop {
        std::thread::sleep(IDLE_SNAPSHOT_SWEEP);
        let Some(inner) = inner.upgrade() else { return };
        let mut readers = inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
        for reader in readers.iter_mut() {
            if reader.snapshot.as_ref().is_some_and(|open| open.began.elapsed() >= SNAPSHOT_REUSE) {
                if let Err(e) = reader.end() {
                    tracing::warn!(error = %e, "ending an idle read transaction failed");
                }
            }
        }
    }
}

async fn run_blocking<T, E, F>(work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: PortError,
    F: FnOnce() -> Result<T, DbError<E>> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(DbError::into_port),
        Err(err) => Err(E::unavailable(format!("sqlite task failed: {err}"))),
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the planner's stability guarantee SQLite re-plans a cached
    // statement whenever a bound value might change its plan, and `LIMIT ?`
    // counts: every page query was parsed and planned again (4 % of a list).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), DbError<StoreError>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::Port(StoreError::Unavailable(format!(
            "database schema version {found} is newer than this build's {SCHEMA_VERSION}"
        ))));
    }
    // Idempotent, so a half-created file from a crashed first start is finished here.
    tx.execute_batch(SCHEMA_V1)?;
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// What work on a connection can fail with: SQLite itself, or the port's own
/// error (a failed condition). Two variants because `?` must work on both.
pub(crate) enum DbError<E> {
    Sql(rusqlite::Error),
    Port(E),
}

impl<E> From<rusqlite::Error> for DbError<E> {
    fn from(err: rusqlite::Error) -> Self {
        DbError::Sql(err)
    }
}

impl<E: PortError> DbError<E> {
    fn into_port(self) -> E {
        match self {
            DbError::Sql(err) => E::from_sql(err),
            DbError::Port(err) => err,
        }
    }
}

/// A port error SQLite failures can be reported as.
pub(crate) trait PortError: Sized + Send + 'static {
    fn from_sql(err: rusqlite::Error) -> Self;
    fn unavailable(message: String) -> Self;
}

impl PortError for StoreError {
    fn from_sql(err: rusqlite::Error) -> Self {
        let corrupt = matches!(
            err.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        ) || matches!(
            err,
            rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
        );
        if corrupt { StoreError::Corrupt(err.to_string()) } else { StoreError::Unavailable(err.to_string()) }
    }

    fn unavailable(message: String) -> Self {
        StoreError::Unavailable(message)
    }
}

impl PortError for QueueError {
    fn from_sql(err: rusqlite::Error) -> Self {
        QueueError::Unavailable(err.to_string())
    }

    fn unavailable(message: String) -> Self {
        QueueError::Unavailable(message)
    }
}

/// UNIX seconds, the unit of `Record::expires_at`.
pub(crate) fn unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// UNIX milliseconds, the unit of message visibility.
pub(crate) fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A duration as milliseconds to add to `unix_millis()`, saturating instead of wrapping.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
