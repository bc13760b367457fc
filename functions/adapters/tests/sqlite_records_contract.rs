//! The records contract on SQLite, plus what only the file-backed store has to
//! keep: durability across reopening, WAL mode, the schema version.

use std::path::Path;
use std::{fs, time::Duration};
use std::sync::Arc;

use async_trait::async_trait;
use podops_adapters::embedded::{SqliteDb, SqliteRecords};
use podops_core::domain::Version;
use podops_core::ports::{Key, ListQuery, Page, Record, Records, StoreError, StoredText, TextPage, WriteOp};
use serde_json::json;
use tempfile::TempDir;

/// The store plus the directory its file lives in, removed when the test's
/// last handle goes.
struct InTempDir {
    records: SqliteRecords,
    _dir: TempDir,
}

#[async_trait]
impl Records for InTempDir {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.records.get(key).await
    }
    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.records.create(record).await
    }
    async fn replace(&self, record: &Record, expected: Version) -> Result<(), StoreError> {
        self.records.replace(record, expected).await
    }
    async fn delete(&self, key: &Key, expected: Version) -> Result<(), StoreError> {
        self.records.delete(key, expected).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.records.list(query).await
    }
    async fn get_text(&self, key: &Key) -> Result<Option<StoredText>, StoreError> {
        self.records.get_text(key).await
    }
    async fn list_text(&self, query: &ListQuery) -> Result<TextPage, StoreError> {
        self.records.list_text(query).await
    }
    async fn get_texts(&self, keys: &[Key]) -> Result<Vec<Option<StoredText>>, StoreError> {
        self.records.get_texts(keys).await
    }
    async fn transact(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        self.records.transact(ops).await
    }
}

async fn fresh_store() -> Arc<dyn Records> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqliteDb::open(&dir.path().join("podops.db")).expect("open");
    Arc::new(InTempDir { records: SqliteRecords::new(db), _dir: dir })
}

podops_adapters::records_contract_tests!(fresh_store());

fn db_file(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("podops.db")
}

fn record(sort: &str, body: serde_json::Value) -> Record {
    Record { key: Key::new("show#1", sort), version: Version::FIRST, body, expires_at: None }
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

#[tokio::test]
async fn records_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = record("episode#1", json!({"title": "Pilot"}));
    {
        let store = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open"));
        store.create(&written).await.expect("create");
    }
    let store = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("reopen"));
    assert_eq!(store.get(&written.key).await.expect("get"), Some(written));
}

#[tokio::test]
async fn the_file_is_in_wal_mode_with_schema_version_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _db = SqliteDb::open(&db_file(&dir)).expect("open");
    let conn = raw(&db_file(&dir));
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version");
    assert_eq!((mode.as_str(), version), ("wal", 1));
}

#[tokio::test]
async fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(SqliteDb::open(&db_file(&dir)).expect("open"));
    raw(&db_file(&dir)).pragma_update(None, "user_version", 2).expect("bump version");
    match SqliteDb::open(&db_file(&dir)) {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("schema version 2"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open"));
    let written = record("episode#1", json!({}));
    store.create(&written).await.expect("create");
    raw(&db_file(&dir)).execute("UPDATE records SET body = '{not json'", []).expect("damage");
    assert!(matches!(store.get(&written.key).await, Err(StoreError::Corrupt(_))));
    let everything = ListQuery { partition: "show#1".into(), prefix: String::new(), after: None, limit: 10 };
    assert!(matches!(store.list(&everything).await, Err(StoreError::Corrupt(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_alongside_writes_on_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open")));
    store.create(&record("counter", json!({"n": 0}))).await.expect("create");
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 1..=50_u64 {
                let next = Record { version: Version(n + 1), ..record("counter", json!({"n": n})) };
                store.replace(&next, Version(n)).await.expect("replace");
            }
        })
    };
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut last = 0;
                for _ in 0..50 {
                    let got = store.get(&Key::new("show#1", "counter")).await.expect("get").expect("present");
                    let n = got.body["n"].as_u64().expect("n");
                    // Every read sees a committed state, and never goes back in time.
                    assert_eq!(got.version, Version(n + 1));
                    assert!(n >= last, "went from {last} back to {n}");
                    last = n;
                }
            })
        })
        .collect();
    writer.await.expect("writer");
    for reader in readers {
        reader.await.expect("reader");
    }
    let end = store.get(&Key::new("show#1", "counter")).await.expect("get").expect("present");
    assert_eq!((end.version, end.body), (Version(51), json!({"n": 50})));
}

#[tokio::test]
async fn prefixes_ending_in_the_edges_of_unicode_still_match_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open"));
    let keys = ["a\u{10FFFF}", "a\u{10FFFF}x", "b", "x\u{D7FF}1", "x\u{E000}", "\u{10FFFF}\u{10FFFF}"];
    for sort in keys {
        store.create(&record(sort, json!({}))).await.expect("create");
    }
    for (prefix, expected) in [
        ("a\u{10FFFF}", vec!["a\u{10FFFF}", "a\u{10FFFF}x"]),
        ("x\u{D7FF}", vec!["x\u{D7FF}1"]),
        ("\u{10FFFF}", vec!["\u{10FFFF}\u{10FFFF}"]),
    ] {
        let query = ListQuery { partition: "show#1".into(), prefix: prefix.into(), after: None, limit: 10 };
        let page = store.list(&query).await.expect("list");
        let sorts: Vec<&str> = page.records.iter().map(|rec| rec.key.sort.as_str()).collect();
        assert_eq!((sorts, page.total), (expected.clone(), expected.len() as u64), "prefix {prefix:?}");
    }
}

#[tokio::test]
async fn a_list_total_follows_writes_another_process_makes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reading = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open"));
    let writing = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open again"));
    let page = |n| ListQuery { partition: "show#1".into(), prefix: "episode#".into(), after: None, limit: n };
    writing.create(&record("episode#1", json!({}))).await.expect("create");
    for _ in 0..3 {
        assert_eq!(reading.list(&page(1)).await.expect("list").total, 1);
    }
    writing.create(&record("episode#2", json!({}))).await.expect("create");
    // Another process's commit is seen within a reader's snapshot reuse (1 ms).
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(reading.list(&page(1)).await.expect("list").total, 2, "the other connection's commit is seen");
    raw(&db_file(&dir)).execute("DELETE FROM records WHERE sort = 'episode#1'", []).expect("delete");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(reading.list_text(&page(5)).await.expect("list").total, 1);
}

/// Readers keep a read transaction open between reads for a moment; one left
/// idle in the pool must not keep the WAL from being checkpointed and reset.
#[tokio::test]
async fn idle_readers_never_pin_the_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteRecords::new(SqliteDb::open(&db_file(&dir)).expect("open"));
    for i in 0..50 {
        store.create(&record(&format!("episode#{i:02}"), json!({"n": i}))).await.expect("create");
        store.get(&Key::new("show#1", format!("episode#{i:02}"))).await.expect("get");
        store.list(&ListQuery { partition: "show#1".into(), prefix: "episode#".into(), after: None, limit: 10 }).await.expect("list");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (busy, _, _): (i64, i64, i64) =
        raw(&db_file(&dir)).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("checkpoint");
    assert_eq!(busy, 0, "no reader holds a snapshot once idle");
    assert_eq!(fs::metadata(dir.path().join("podops.db-wal")).expect("wal").len(), 0, "the WAL was reset");
}
