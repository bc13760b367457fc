//! The records contract: the rules every `Records` adapter must keep, written
//! against the trait only. Each rule works in partitions of its own, so rules
//! can run in parallel against one shared backend (one DynamoDB table).

use std::sync::Arc;

use podops_core::domain::Version;
use podops_core::ports::{Clock, Key, ListQuery, Record, Records, StoreError, StoredText, SystemClock, WriteOp};
use serde_json::json;

/// Instantiates every rule below as a `#[tokio::test]` (multi-threaded; the
/// calling crate needs `tokio` with the `macros` and `rt-multi-thread` features).
/// `$factory` is an async expression evaluated once per test, yielding an
/// `Arc<dyn Records>`; it may hand every test the same backend.
#[macro_export]
macro_rules! records_contract_tests {
    ($factory:expr) => {
        $crate::records_contract_tests!(@rules $factory;
            get_returns_exactly_what_create_wrote,
            get_of_a_missing_key_is_none,
            text_reads_give_the_same_records_as_json_text,
            create_refuses_an_existing_key,
            concurrent_creates_exactly_one_wins,
            replace_with_the_current_version_writes,
            replace_with_a_stale_version_conflicts,
            replace_of_a_missing_key_conflicts,
            concurrent_replaces_exactly_one_wins,
            delete_with_the_current_version_removes_the_record,
            delete_with_a_stale_version_conflicts,
            delete_of_a_missing_key_conflicts,
            list_pages_through_everything_in_order_without_duplicates,
            list_orders_sort_keys_by_their_utf8_bytes,
            list_respects_prefix_and_reports_total,
            list_total_follows_every_write_at_once,
            list_prefix_is_not_a_pattern,
            list_stays_inside_its_partition,
            list_after_resumes_strictly_after_the_key,
            list_limit_zero_is_treated_as_one,
            list_of_an_empty_partition_is_an_empty_last_page,
            expired_records_are_absent_and_can_be_recreated,
            records_expiring_later_are_live,
            transact_is_all_or_nothing,
            transact_conflict_leaves_nothing_written,
            transact_refuses_more_than_25_operations,
            transact_refuses_two_operations_on_one_key,
            transact_of_nothing_succeeds,
        );
    };
    (@rules $factory:expr; $($rule:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $rule() {
                $crate::contract::records::$rule($factory.await).await;
            }
        )*
    };
}

/// A partition no other rule or test run uses.
fn partition(rule: &str) -> String {
    format!("contract-{:016x}-{rule}", rand::random::<u64>())
}

fn record(partition: &str, sort: &str, version: u64, body: serde_json::Value) -> Record {
    Record { key: Key::new(partition, sort), version: Version(version), body, expires_at: None }
}

fn query(partition: &str, prefix: &str, after: Option<&str>, limit: usize) -> ListQuery {
    ListQuery { partition: partition.to_owned(), prefix: prefix.to_owned(), after: after.map(str::to_owned), limit }
}

async fn sort_keys(store: &dyn Records, query: &ListQuery) -> Vec<String> {
    let page = store.list(query).await.expect("list");
    page.records.into_iter().map(|record| record.key.sort).collect()
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(matches!(result, Err(StoreError::Conflict)), "{what}: expected Conflict, got {result:?}");
}

fn assert_invalid(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("invalid transaction"), "{what}: {message}"),
        other => panic!("{what}: expected Unavailable(invalid transaction ...), got {other:?}"),
    }
}

pub async fn get_returns_exactly_what_create_wrote(store: Arc<dyn Records>) {
    let p = partition("roundtrip");
    let body = json!({"title": "Épisode 1 — «ça marche»", "n": 9_007_199_254_740_993_u64, "tags": ["a", null], "x": 1.5});
    let mut written = record(&p, "episode#1", 1, body);
    written.expires_at = Some(SystemClock.now() + 3600);
    store.create(&written).await.expect("create");
    assert_eq!(store.get(&written.key).await.expect("get"), Some(written));
}

pub async fn text_reads_give_the_same_records_as_json_text(store: Arc<dyn Records>) {
    let p = partition("text");
    let mut written = Vec::new();
    for (i, sort) in ["ep#1", "ep#2", "ep#3"].into_iter().enumerate() {
        let body = json!({"title": format!("Épisode {i} — «ça»"), "n": 9_007_199_254_740_993_u64, "tags": ["a", null], "x": 1.5});
        let rec = record(&p, sort, i as u64 + 1, body);
        store.create(&rec).await.expect("create");
        written.push(rec);
    }
    let as_text = |rec: &Record| (rec.key.clone(), rec.version, rec.body.clone());
    let parsed = |text: StoredText| (text.key, text.version, serde_json::from_str::<serde_json::Value>(&text.body).expect("the text is JSON"));
    let one = store.get_text(&written[1].key).await.expect("get_text").expect("present");
    assert_eq!(parsed(one), as_text(&written[1]));
    assert_eq!(store.get_text(&Key::new(&p, "ep#9")).await.expect("get_text"), None);
    let several = store.get_texts(&[written[2].key.clone(), Key::new(&p, "ep#9"), written[0].key.clone()]).await.expect("get_texts");
    let several: Vec<_> = several.into_iter().map(|found| found.map(parsed)).collect();
    assert_eq!(several, [Some(as_text(&written[2])), None, Some(as_text(&written[0]))], "in the order asked, None where absent");
    let page = store.list_text(&query(&p, "ep#", None, 2)).await.expect("list_text");
    assert_eq!((page.next.as_deref(), page.total), (Some("ep#2"), 3));
    let got: Vec<_> = page.records.into_iter().map(parsed).collect();
    assert_eq!(got, written[..2].iter().map(as_text).collect::<Vec<_>>());
}

pub async fn get_of_a_missing_key_is_none(store: Arc<dyn Records>) {
    let p = partition("missing");
    assert_eq!(store.get(&Key::new(&p, "nothing")).await.expect("get"), None);
}

pub async fn create_refuses_an_existing_key(store: Arc<dyn Records>) {
    let p = partition("create-twice");
    let first = record(&p, "k", 1, json!({"who": "first"}));
    store.create(&first).await.expect("first create");
    assert_conflict(store.create(&record(&p, "k", 1, json!({"who": "second"}))).await, "second create");
    assert_eq!(store.get(&first.key).await.expect("get"), Some(first));
}

pub async fn concurrent_creates_exactly_one_wins(store: Arc<dyn Records>) {
    let p = partition("create-race");
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, rec) = (Arc::clone(&store), record(&p, "k", 1, json!({"writer": n})));
            tokio::spawn(async move { store.create(&rec).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Ok(()) => winners.push(n),
            result => assert_conflict(result, "losing create"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get(&Key::new(&p, "k")).await.expect("get").expect("stored");
    assert_eq!(stored.body, json!({"writer": winners[0]}));
}

pub async fn replace_with_the_current_version_writes(store: Arc<dyn Records>) {
    let p = partition("replace");
    store.create(&record(&p, "k", 1, json!({"v": 1}))).await.expect("create");
    let second = record(&p, "k", 2, json!({"v": 2}));
    store.replace(&second, Version(1)).await.expect("replace");
    assert_eq!(store.get(&second.key).await.expect("get"), Some(second));
}

pub async fn replace_with_a_stale_version_conflicts(store: Arc<dyn Records>) {
    let p = partition("replace-stale");
    store.create(&record(&p, "k", 1, json!({"v": 1}))).await.expect("create");
    let second = record(&p, "k", 2, json!({"v": 2}));
    store.replace(&second, Version(1)).await.expect("replace");
    assert_conflict(store.replace(&record(&p, "k", 2, json!({"v": "lost"})), Version(1)).await, "stale replace");
    assert_eq!(store.get(&second.key).await.expect("get"), Some(second));
}

pub async fn replace_of_a_missing_key_conflicts(store: Arc<dyn Records>) {
    let p = partition("replace-missing");
    assert_conflict(store.replace(&record(&p, "k", 2, json!({})), Version(1)).await, "replace of nothing");
    assert_eq!(store.get(&Key::new(&p, "k")).await.expect("get"), None);
}

pub async fn concurrent_replaces_exactly_one_wins(store: Arc<dyn Records>) {
    let p = partition("replace-race");
    store.create(&record(&p, "k", 1, json!({"writer": null}))).await.expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, rec) = (Arc::clone(&store), record(&p, "k", 2, json!({"writer": n})));
            tokio::spawn(async move { store.replace(&rec, Version(1)).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.expect("task") {
            Ok(()) => winners.push(n),
            result => assert_conflict(result, "losing replace"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get(&Key::new(&p, "k")).await.expect("get").expect("stored");
    assert_eq!((stored.version, stored.body), (Version(2), json!({"writer": winners[0]})));
}

pub async fn delete_with_the_current_version_removes_the_record(store: Arc<dyn Records>) {
    let p = partition("delete");
    store.create(&record(&p, "k", 1, json!({}))).await.expect("create");
    store.delete(&Key::new(&p, "k"), Version(1)).await.expect("delete");
    assert_eq!(store.get(&Key::new(&p, "k")).await.expect("get"), None);
    assert_eq!(store.list(&query(&p, "", None, 10)).await.expect("list").total, 0);
    // Gone for good: the key is free again.
    store.create(&record(&p, "k", 1, json!({"again": true}))).await.expect("create again");
}

pub async fn delete_with_a_stale_version_conflicts(store: Arc<dyn Records>) {
    let p = partition("delete-stale");
    store.create(&record(&p, "k", 1, json!({}))).await.expect("create");
    let second = record(&p, "k", 2, json!({"v": 2}));
    store.replace(&second, Version(1)).await.expect("replace");
    assert_conflict(store.delete(&second.key, Version(1)).await, "stale delete");
    assert_eq!(store.get(&second.key).await.expect("get"), Some(second));
}

pub async fn delete_of_a_missing_key_conflicts(store: Arc<dyn Records>) {
    let p = partition("delete-missing");
    assert_conflict(store.delete(&Key::new(&p, "k"), Version(1)).await, "delete of nothing");
}

pub async fn list_pages_through_everything_in_order_without_duplicates(store: Arc<dyn Records>) {
    let p = partition("paging");
    // Written out of order, so the order seen must come from the store.
    for n in (0..25).rev() {
        store.create(&record(&p, &format!("item#{n:02}"), 1, json!({"n": n}))).await.expect("create");
    }
    let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store.list(&query(&p, "item#", after.as_deref(), 7)).await.expect("list");
        pages += 1;
        assert_eq!(page.total, 25);
        assert!(page.records.len() <= 7);
        for rec in &page.records {
            assert_eq!(rec.body, json!({"n": rec.key.sort[5..].parse::<u64>().expect("number")}));
        }
        seen.extend(page.records.iter().map(|rec| rec.key.sort.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last(), "next is the page's last key");
                after = Some(next);
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|n| format!("item#{n:02}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 4);
}

pub async fn list_orders_sort_keys_by_their_utf8_bytes(store: Arc<dyn Records>) {
    let p = partition("byte-order");
    for sort in ["é", "b", "B", "a", "aa", "Z", "~", "\u{1F600}"] {
        store.create(&record(&p, sort, 1, json!({}))).await.expect("create");
    }
    assert_eq!(sort_keys(&*store, &query(&p, "", None, 100)).await, ["B", "Z", "a", "aa", "b", "~", "é", "\u{1F600}"]);
}

pub async fn list_respects_prefix_and_reports_total(store: Arc<dyn Records>) {
    let p = partition("prefix");
    for sort in ["ep#1", "ep#2", "ep#3", "ep", "eq#1", "ep$", "show#1", "épisode"] {
        store.create(&record(&p, sort, 1, json!({}))).await.expect("create");
    }
    let page = store.list(&query(&p, "ep#", None, 2)).await.expect("list");
    let keys: Vec<_> = page.records.iter().map(|rec| rec.key.sort.as_str()).collect();
    assert_eq!((keys, page.next.as_deref(), page.total), (vec!["ep#1", "ep#2"], Some("ep#2"), 3));
    assert_eq!(sort_keys(&*store, &query(&p, "ep", None, 100)).await, ["ep", "ep#1", "ep#2", "ep#3", "ep$"]);
    assert_eq!(store.list(&query(&p, "", None, 1)).await.expect("list").total, 8);
    assert_eq!(sort_keys(&*store, &query(&p, "é", None, 100)).await, ["épisode"]);
    let none = store.list(&query(&p, "x", None, 10)).await.expect("list");
    assert_eq!((none.records.len(), none.next, none.total), (0, None, 0));
}

pub async fn list_total_follows_every_write_at_once(store: Arc<dyn Records>) {
    let p = partition("total-follows");
    for sort in ["ep#1", "ep#2"] {
        store.create(&record(&p, sort, 1, json!({}))).await.expect("create");
    }
    // Read again and again, as a busy list is: a remembered total must not outlive a write.
    for _ in 0..3 {
        assert_eq!(store.list(&query(&p, "ep#", None, 1)).await.expect("list").total, 2);
    }
    store.create(&record(&p, "ep#3", 1, json!({}))).await.expect("create");
    assert_eq!(store.list(&query(&p, "ep#", None, 1)).await.expect("list").total, 3);
    assert_eq!(store.list_text(&query(&p, "ep#", None, 1)).await.expect("list").total, 3);
    store.delete(&Key::new(&p, "ep#1"), Version(1)).await.expect("delete");
    assert_eq!(store.list(&query(&p, "ep#", None, 1)).await.expect("list").total, 2);
}

pub async fn list_prefix_is_not_a_pattern(store: Arc<dyn Records>) {
    let p = partition("not-a-pattern");
    for sort in ["100%_done", "100%_x", "100% done", "1000", "100_done", "100%", "100\\%"] {
        store.create(&record(&p, sort, 1, json!({}))).await.expect("create");
    }
    assert_eq!(sort_keys(&*store, &query(&p, "100%_", None, 100)).await, ["100%_done", "100%_x"]);
    assert_eq!(sort_keys(&*store, &query(&p, "100%", None, 100)).await, ["100%", "100% done", "100%_done", "100%_x"]);
    assert_eq!(sort_keys(&*store, &query(&p, "100_", None, 100)).await, ["100_done"]);
    assert_eq!(store.list(&query(&p, "%", None, 100)).await.expect("list").total, 0);
    assert_eq!(store.list(&query(&p, "_", None, 100)).await.expect("list").total, 0);
}

pub async fn list_stays_inside_its_partition(store: Arc<dyn Records>) {
    let p = partition("inside");
    let neighbour = format!("{p}x");
    store.create(&record(&p, "a", 1, json!({}))).await.expect("create");
    store.create(&record(&neighbour, "a", 1, json!({}))).await.expect("create");
    store.create(&record(&neighbour, "b", 1, json!({}))).await.expect("create");
    let page = store.list(&query(&p, "", None, 10)).await.expect("list");
    assert_eq!(page.records.iter().map(|rec| rec.key.clone()).collect::<Vec<_>>(), [Key::new(&p, "a")]);
    assert_eq!((page.next, page.total), (None, 1));
}

pub async fn list_after_resumes_strictly_after_the_key(store: Arc<dyn Records>) {
    let p = partition("after");
    for sort in ["k1", "k2", "k3", "k5"] {
        store.create(&record(&p, sort, 1, json!({}))).await.expect("create");
    }
    assert_eq!(sort_keys(&*store, &query(&p, "k", Some("k2"), 10)).await, ["k3", "k5"]);
    // The key resumed from need not exist any more.
    assert_eq!(sort_keys(&*store, &query(&p, "k", Some("k4"), 10)).await, ["k5"]);
    let last = store.list(&query(&p, "k", Some("k5"), 10)).await.expect("list");
    assert_eq!((last.records.len(), last.next, last.total), (0, None, 4));
    // Before the prefix, `after` changes nothing.
    assert_eq!(sort_keys(&*store, &query(&p, "k", Some("a"), 10)).await, ["k1", "k2", "k3", "k5"]);
}

pub async fn list_limit_zero_is_treated_as_one(store: Arc<dyn Records>) {
    let p = partition("limit-zero");
    store.create(&record(&p, "a", 1, json!({}))).await.expect("create");
    store.create(&record(&p, "b", 1, json!({}))).await.expect("create");
    let page = store.list(&query(&p, "", None, 0)).await.expect("list");
    assert_eq!(page.records.iter().map(|rec| rec.key.sort.as_str()).collect::<Vec<_>>(), ["a"]);
    assert_eq!((page.next.as_deref(), page.total), (Some("a"), 2));
}

pub async fn list_of_an_empty_partition_is_an_empty_last_page(store: Arc<dyn Records>) {
    let p = partition("empty");
    let page = store.list(&query(&p, "", None, 10)).await.expect("list");
    assert_eq!((page.records.len(), page.next, page.total), (0, None, 0));
}

pub async fn expired_records_are_absent_and_can_be_recreated(store: Arc<dyn Records>) {
    let p = partition("expired");
    let mut old = record(&p, "session", 1, json!({"old": true}));
    old.expires_at = Some(SystemClock.now() - 10);
    store.create(&old).await.expect("create expired");
    store.create(&record(&p, "other", 1, json!({}))).await.expect("create live");
    assert_eq!(store.get(&old.key).await.expect("get"), None);
    let page = store.list(&query(&p, "", None, 10)).await.expect("list");
    assert_eq!((sort_keys(&*store, &query(&p, "", None, 10)).await, page.total), (vec!["other".to_owned()], 1));
    assert_conflict(store.replace(&record(&p, "session", 2, json!({})), Version(1)).await, "replace of expired");
    assert_conflict(store.delete(&old.key, Version(1)).await, "delete of expired");
    let new = record(&p, "session", 1, json!({"new": true}));
    store.create(&new).await.expect("create over expired");
    assert_eq!(store.get(&new.key).await.expect("get"), Some(new));
}

pub async fn records_expiring_later_are_live(store: Arc<dyn Records>) {
    let p = partition("expiring-later");
    let mut rec = record(&p, "k", 1, json!({}));
    rec.expires_at = Some(SystemClock.now() + 60);
    store.create(&rec).await.expect("create");
    assert_conflict(store.create(&record(&p, "k", 1, json!({}))).await, "create over live");
    assert_eq!(store.list(&query(&p, "", None, 10)).await.expect("list").total, 1);
    assert_eq!(store.get(&rec.key).await.expect("get"), Some(rec));
}

pub async fn transact_is_all_or_nothing(store: Arc<dyn Records>) {
    let p = partition("transact");
    store.create(&record(&p, "replaced", 1, json!({"v": 1}))).await.expect("create");
    store.create(&record(&p, "deleted", 1, json!({}))).await.expect("create");
    let created = record(&p, "created", 1, json!({"new": true}));
    let replaced = record(&p, "replaced", 2, json!({"v": 2}));
    store
        .transact(&[
            WriteOp::Create(created.clone()),
            WriteOp::Replace { record: replaced.clone(), expected: Version(1) },
            WriteOp::Delete { key: Key::new(&p, "deleted"), expected: Version(1) },
        ])
        .await
        .expect("transact");
    assert_eq!(store.get(&created.key).await.expect("get"), Some(created));
    assert_eq!(store.get(&replaced.key).await.expect("get"), Some(replaced));
    assert_eq!(store.get(&Key::new(&p, "deleted")).await.expect("get"), None);
}

pub async fn transact_conflict_leaves_nothing_written(store: Arc<dyn Records>) {
    let p = partition("transact-conflict");
    let kept = record(&p, "kept", 1, json!({"v": 1}));
    let existing = record(&p, "existing", 1, json!({}));
    store.create(&kept).await.expect("create");
    store.create(&existing).await.expect("create");
    // A failing create after good ops.
    let result = store
        .transact(&[
            WriteOp::Create(record(&p, "new", 1, json!({}))),
            WriteOp::Replace { record: record(&p, "kept", 2, json!({"v": 2})), expected: Version(1) },
            WriteOp::Create(record(&p, "existing", 1, json!({"clash": true}))),
        ])
        .await;
    assert_conflict(result, "create of an existing key inside a transaction");
    // A failing replace after good ops.
    let result = store
        .transact(&[
            WriteOp::Create(record(&p, "new", 1, json!({}))),
            WriteOp::Delete { key: existing.key.clone(), expected: Version(1) },
            WriteOp::Replace { record: record(&p, "kept", 2, json!({"v": 2})), expected: Version(7) },
        ])
        .await;
    assert_conflict(result, "stale replace inside a transaction");
    assert_eq!(store.get(&Key::new(&p, "new")).await.expect("get"), None);
    assert_eq!(store.get(&existing.key).await.expect("get"), Some(existing));
    assert_eq!(store.get(&kept.key).await.expect("get"), Some(kept));
}

pub async fn transact_refuses_more_than_25_operations(store: Arc<dyn Records>) {
    let p = partition("transact-26");
    let ops = |n: usize| -> Vec<WriteOp> {
        (0..n).map(|i| WriteOp::Create(record(&p, &format!("k{i:02}"), 1, json!({})))).collect()
    };
    assert_invalid(store.transact(&ops(26)).await, "26 operations");
    assert_eq!(store.list(&query(&p, "", None, 100)).await.expect("list").total, 0);
    store.transact(&ops(25)).await.expect("25 operations");
    assert_eq!(store.list(&query(&p, "", None, 100)).await.expect("list").total, 25);
}

pub async fn transact_refuses_two_operations_on_one_key(store: Arc<dyn Records>) {
    let p = partition("transact-dup");
    store.create(&record(&p, "k", 1, json!({}))).await.expect("create");
    let result = store
        .transact(&[
            WriteOp::Create(record(&p, "other", 1, json!({}))),
            WriteOp::Replace { record: record(&p, "k", 2, json!({})), expected: Version(1) },
            WriteOp::Delete { key: Key::new(&p, "k"), expected: Version(1) },
        ])
        .await;
    assert_invalid(result, "two operations on one key");
    assert_eq!(store.get(&Key::new(&p, "other")).await.expect("get"), None);
    assert_eq!(store.get(&Key::new(&p, "k")).await.expect("get").map(|rec| rec.version), Some(Version(1)));
}

pub async fn transact_of_nothing_succeeds(store: Arc<dyn Records>) {
    store.transact(&[]).await.expect("empty transaction");
}
