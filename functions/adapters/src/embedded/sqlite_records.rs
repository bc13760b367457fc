//! The records port on SQLite: versioned JSON documents with conditional
//! writes, expiry, prefix listing and small all-or-nothing transactions.


use async_trait::async_trait;
use podops_core::domain::Version;
use podops_core::ports::{Key, ListQuery, Page, Record, Records, StoreError, StoredText, TextPage, WriteOp};
use rusqlite::{Connection, TransactionBehavior, params};

use std::sync::Arc;

use super::sqlite::{CachedCount, DbError, Reader, SqliteDb, unix_secs};

/// DynamoDB's classic transaction limit, kept so both backends accept the same writes.

#[derive(Clone, Debug)]
pub struct SqliteRecords {
    db: SqliteDb,
}

impl SqliteRecords {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// A record encoded for SQLite, owned so it can move to a blocking thread.
struct Row {
    partition: String,
    sort: String,
    version: i64,
    body: String,
    expires_at: Option<i64>,
}

enum Write {
    Create(Row),
    Replace { row: Row, expected: i64 },
    Delete { partition: String, sort: String, expected: i64 },
}

impl Write {
    fn encode(op: &WriteOp) -> Result<Write, StoreError> {
        Ok(match op {
            WriteOp::Create(record) => Write::Create(Row::encode(record)?),
            WriteOp::Replace { record, expected } => {
                Write::Replace { row: Row::encode(record)?, expected: version_to_sql(*expected)? }
            }
            WriteOp::Delete { key, expected } => Write::Delete {
                partition: key.partition.clone(),
                sort: key.sort.clone(),
                expected: version_to_sql(*expected)?,
            },
        })
    }

    /// Applies the write if its condition holds; `false` when it does not.
    fn apply(&self, conn: &Connection, now: i64) -> rusqlite::Result<bool> {
        let changed = match self {
            // The upsert's WHERE makes an expired record count as absent.
            Write::Create(row) => conn
                .prepare_cached(
                    "INSERT INTO records (partition, sort, version, body, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (partition, sort) DO UPDATE SET
                         version = excluded.version, body = excluded.body, expires_at = excluded.expires_at
                     WHERE records.expires_at IS NOT NULL AND records.expires_at < ?6",
                )?
                .execute(params![row.partition, row.sort, row.version, row.body, row.expires_at, now])?,
            Write::Replace { row, expected } => conn
                .prepare_cached(
                    "UPDATE records SET version = ?3, body = ?4, expires_at = ?5
                     WHERE partition = ?1 AND sort = ?2 AND version = ?6
                       AND (expires_at IS NULL OR expires_at >= ?7)",
                )?
                .execute(params![row.partition, row.sort, row.version, row.body, row.expires_at, expected, now])?,
            Write::Delete { partition, sort, expected } => conn
                .prepare_cached(
                    "DELETE FROM records WHERE partition = ?1 AND sort = ?2 AND version = ?3
                       AND (expires_at IS NULL OR expires_at >= ?4)",
                )?
                .execute(params![partition, sort, expected, now])?,
        };
        Ok(changed == 1)
    }
}

impl Row {
    fn encode(record: &Record) -> Result<Row, StoreError> {
        let body = serde_json::to_string(&record.body)
            .map_err(|err| StoreError::Corrupt(format!("record body is not serialisable: {err}")))?;
        Ok(Row {
            partition: record.key.partition.clone(),
            sort: record.key.sort.clone(),
            version: version_to_sql(record.version)?,
            body,
            expires_at: record.expires_at,
        })
    }
}

fn version_to_sql(version: Version) -> Result<i64, StoreError> {
    i64::try_from(version.0).map_err(|_| StoreError::Corrupt(format!("version {version} does not fit SQLite")))
}

/// One live row by its key, from the reader's snapshot.
fn point_row<T>(reader: &mut Reader, key: Key, now: i64, make: Decode<T>) -> Result<Option<T>, DbError<StoreError>> {
    let found = reader.row(&key, now)?;
    found.map(|(version, body, expires_at)| make(key, version, body, expires_at)).transpose()
}

/// A page query with its bounds worked out once.
struct PageQuery {
    query: ListQuery,
    limit: usize,
    fetch: i64,
    upper: Option<String>,
    start_op: &'static str,
    start: String,
    below: &'static str,
}

impl PageQuery {
    fn new(query: &ListQuery) -> Self {
        let query = query.clone();
        let limit = query.limit.max(1);
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let upper = prefix_upper_bound(&query.prefix);
        // One lower bound only, so SQLite can seek the primary key to it:
        // `after` replaces the prefix as the start when it lies beyond it.
        let (start_op, start) = match &query.after {
            Some(after) if *after >= query.prefix => (">", after.clone()),
            _ => (">=", query.prefix.clone()),
        };
        // Both shapes bind the same parameters; the second just has no upper bound.
        let below = if upper.is_some() { "AND sort < ?4" } else { "AND ?4 IS NULL" };
        Self { query, limit, fetch, upper, start_op, start, below }
    }

    /// What the count counts, as the reader's count cache names it.
    fn counted(&self) -> String {
        format!("{}\u{0}{}", self.query.partition, self.query.prefix)
    }

    /// The page and the total from one snapshot. Without `may_count`, None
    /// when the total is not remembered (nothing long is done).
    fn run<T>(&self, reader: &mut Reader, make: Decode<T>, may_count: bool) -> Result<Option<(Vec<T>, Option<String>, u64)>, DbError<StoreError>> {
        let now = unix_secs();
        // Every read runs in the reader's snapshot: the page, its data version
        // and the total come from one.
        let Reader { conn, counts, .. } = reader;
        let (records, next) = self.rows(conn, now, make)?;
        let data_version: i64 = conn.prepare_cached("PRAGMA data_version")?.query_row([], |row| row.get(0))?;
        let counted = self.counted();
        let total = match counts.remembered(&counted, data_version, now) {
            Some(total) => total,
            None if !may_count => return Ok(None),
            None => {
                let total = self.count(conn, now)?;
                counts.remember(counted, CachedCount { data_version, second: now, count: total });
                total
            }
        };
        Ok(Some((records, next, u64::try_from(total).unwrap_or(0))))
    }

    fn rows<T>(&self, conn: &Connection, now: i64, make: Decode<T>) -> Result<(Vec<T>, Option<String>), DbError<StoreError>> {
        let (start_op, below, limit) = (self.start_op, self.below, self.limit);
        let mut records = Vec::with_capacity(limit.min(1000));
        let mut last_sort = None;
        let mut page = conn.prepare_cached(&format!(
            "SELECT sort, version, body, expires_at FROM records
             WHERE partition = ?1 AND sort {start_op} ?2 {below}
               AND (expires_at IS NULL OR expires_at >= ?3)
             ORDER BY sort LIMIT ?5"
        ))?;
        let mut rows = page.query(params![self.query.partition, self.start, now, self.upper, self.fetch])?;
        while let Some(row) = rows.next()? {
            if records.len() == limit {
                // The row past the page: only that there is one matters.
                return Ok((records, last_sort));
            }
            let key = Key::new(self.query.partition.clone(), row.get::<_, String>(0)?);
            last_sort = Some(key.sort.clone());
            records.push(make(key, row.get(1)?, row.get(2)?, row.get(3)?)?);
        }
        Ok((records, None))
    }

    fn count(&self, conn: &Connection, now: i64) -> Result<i64, DbError<StoreError>> {
        let below = self.below;
        Ok(conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM records
                 WHERE partition = ?1 AND sort >= ?2 {below}
                   AND (expires_at IS NULL OR expires_at >= ?3)"
            ))?
            .query_row(params![self.query.partition, self.query.prefix, now, self.upper], |row| row.get(0))?)
    }
}

/// Makes a row (key, version, body, expiry) into what a read answers.
type Decode<T> = fn(Key, i64, String, Option<i64>) -> Result<T, DbError<StoreError>>;

fn corrupt(key: &Key, what: String) -> DbError<StoreError> {
    DbError::Port(StoreError::Corrupt(format!("{}/{}: {what}", key.partition, key.sort)))
}

fn version_from_sql(key: &Key, version: i64) -> Result<Version, DbError<StoreError>> {
    u64::try_from(version).map(Version).map_err(|_| corrupt(key, format!("negative version {version}")))
}

fn decode(key: Key, version: i64, body: String, expires_at: Option<i64>) -> Result<Record, DbError<StoreError>> {
    let version = version_from_sql(&key, version)?;
    let body = serde_json::from_str(&body).map_err(|err| corrupt(&key, format!("body is not JSON: {err}")))?;
    Ok(Record { key, version, body, expires_at })
}

fn as_text(key: Key, version: i64, body: String, _expires_at: Option<i64>) -> Result<StoredText, DbError<StoreError>> {
    Ok(StoredText { version: version_from_sql(&key, version)?, key, body })
}

/// The smallest string above every string starting with `prefix`, or `None`
/// when there is none. SQLite compares TEXT as UTF-8 bytes, which orders like
/// code points, so `prefix <= sort < bound` is exactly "starts with prefix" —
/// without LIKE, whose `%` and `_` would turn user text into a pattern.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The surrogate block is not chars; its neighbours are adjacent in UTF-8.
        let next = if last == '\u{D7FF}' { Some('\u{E000}') } else { char::from_u32(last as u32 + 1) };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl SqliteRecords {
    /// One row by its key, made into `T` by `make` (on the reading thread).
    async fn point<T: Send + 'static>(&self, key: &Key, make: Decode<T>) -> Result<Option<T>, StoreError> {
        let key = key.clone();
        self.db
            .read_point(move |reader| point_row(reader, key, unix_secs(), make))
            .await
    }

    /// One page and the total, each row made into `T` by `make`. Here, on
    /// the calling task, when this connection counted the same rows since the
    /// database last changed (the page itself is at most `limit` rows); else
    /// on a blocking thread, since a count walks every row of the prefix.
    async fn page<T: Send + 'static>(&self, query: &ListQuery, make: Decode<T>) -> Result<(Vec<T>, Option<String>, u64), StoreError> {
        let page = Arc::new(PageQuery::new(query));
        let here = Arc::clone(&page);
        if let Some(found) = self.db.read_here_if_quick(move |reader| here.run(reader, make, false)).await? {
            return Ok(found);
        }
        let found = self.db.read(move |reader| page.run(reader, make, true)).await?;
        found.ok_or_else(|| StoreError::Unavailable("a page read found no count".into()))
    }

    async fn write_one(&self, write: Write) -> Result<(), StoreError> {
        let applied: Result<bool, StoreError> = self.db.write(move |conn| Ok(write.apply(conn, unix_secs())?)).await;
        if applied? { Ok(()) } else { Err(StoreError::Conflict) }
    }
}

#[async_trait]
impl Records for SqliteRecords {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.point(key, decode).await
    }

    async fn get_text(&self, key: &Key) -> Result<Option<StoredText>, StoreError> {
        self.point(key, as_text).await
    }

    async fn get_texts(&self, keys: &[Key]) -> Result<Vec<Option<StoredText>>, StoreError> {
        let keys = keys.to_vec();
        self.db
            .read_point(move |reader| {
                // Every read runs in the reader's snapshot: both rows come from one.
                let now = unix_secs();
                keys.into_iter().map(|key| point_row(reader, key, now, as_text)).collect()
            })
            .await
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.write_one(Write::Create(Row::encode(record)?)).await
    }

    async fn replace(&self, record: &Record, expected: Version) -> Result<(), StoreError> {
        self.write_one(Write::Replace { row: Row::encode(record)?, expected: version_to_sql(expected)? }).await
    }

    async fn delete(&self, key: &Key, expected: Version) -> Result<(), StoreError> {
        let expected = version_to_sql(expected)?;
        self.write_one(Write::Delete { partition: key.partition.clone(), sort: key.sort.clone(), expected }).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let (records, next, total) = self.page(query, decode).await?;
        Ok(Page { records, next, total })
    }

    async fn list_text(&self, query: &ListQuery) -> Result<TextPage, StoreError> {
        let (records, next, total) = self.page(query, as_text).await?;
        Ok(TextPage { records, next, total })
    }

    /// All writes in one `BEGIN IMMEDIATE` transaction, or none. See
    /// `check_transaction` for what is refused up front and how.
    async fn transact(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        podops_core::ports::check_transaction(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let writes = ops.iter().map(Write::encode).collect::<Result<Vec<_>, _>>()?;
        let applied: Result<bool, StoreError> = self
            .db
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = unix_secs();
                for write in &writes {
                    if !write.apply(&tx, now)? {
                        // Dropping the transaction rolls back what came before.
                        return Ok(false);
                    }
                }
                tx.commit()?;
                Ok(true)
            })
            .await;
        if applied? { Ok(()) } else { Err(StoreError::Conflict) }
    }
}
