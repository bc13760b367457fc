//! The records port on one DynamoDB table: items keyed by `pk`/`sk` (strings),
//! holding `version` (N), `body` (S, the JSON text) and `expires_at` (N, the
//! table's TTL attribute). Conditions do the optimistic locking; expiry is
//! checked on every read and write because DynamoDB's TTL deletes lazily (up
//! to days late). Reads are strongly consistent, as SQLite's are.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem};
use podops_core::domain::Version;
use podops_core::ports::{Clock, Key, ListQuery, Page, Record, Records, StoreError, SystemClock, WriteOp};

type Item = HashMap<String, AttributeValue>;

/// DynamoDB's classic TransactWriteItems limit (it allows 100 now); both
/// backends refuse the same transactions.

#[derive(Clone, Debug)]
pub struct DynamoRecords {
    client: Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

/// A condition or filter expression with its placeholders. Attribute names
/// always go through `#` placeholders, so no reserved word can break one.
struct Expr {
    text: &'static str,
    names: HashMap<String, String>,
    values: Item,
}

impl Expr {
    fn new(text: &'static str, now: i64) -> Self {
        let names = [("#pk", "pk"), ("#v", "version"), ("#e", "expires_at")]
            .into_iter()
            .filter(|(placeholder, _)| text.contains(placeholder))
            .map(|(placeholder, name)| (placeholder.to_owned(), name.to_owned()))
            .collect();
        let mut values = Item::new();
        if text.contains(":now") {
            values.insert(":now".into(), number(now));
        }
        Self { text, names, values }
    }

    fn value(mut self, name: &str, value: AttributeValue) -> Self {
        self.values.insert(name.into(), value);
        self
    }

    /// Absent, or present but expired: what the port treats as absent.
    fn absent(now: i64) -> Self {
        Expr::new("attribute_not_exists(#pk) OR #e < :now", now)
    }

    fn live_at(expected: Version, now: i64) -> Self {
        Expr::new("#v = :expected AND (attribute_not_exists(#e) OR #e >= :now)", now).value(":expected", number(expected.0))
    }

    fn values(&self) -> Option<Item> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

const LIVE_FILTER: &str = "attribute_not_exists(#e) OR #e >= :now";

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn key_item(key: &Key) -> Item {
    Item::from([("pk".into(), AttributeValue::S(key.partition.clone())), ("sk".into(), AttributeValue::S(key.sort.clone()))])
}

fn encode(record: &Record) -> Result<Item, StoreError> {
    let body = serde_json::to_string(&record.body)
        .map_err(|err| StoreError::Corrupt(format!("record body is not serialisable: {err}")))?;
    let mut item = key_item(&record.key);
    item.insert("version".into(), number(record.version.0));
    item.insert("body".into(), AttributeValue::S(body));
    if let Some(expires_at) = record.expires_at {
        item.insert("expires_at".into(), number(expires_at));
    }
    Ok(item)
}

fn decode(item: &Item) -> Result<Record, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let (Some(partition), Some(sort)) = (text("pk"), text("sk")) else {
        return Err(StoreError::Corrupt("an item without string pk/sk".into()));
    };
    let corrupt = |what: String| StoreError::Corrupt(format!("{partition}/{sort}: {what}"));
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| corrupt("no numeric version".into()))?;
    let body = text("body").ok_or_else(|| corrupt("no string body".into()))?;
    let body = serde_json::from_str(body).map_err(|err| corrupt(format!("body is not JSON: {err}")))?;
    let expires_at = match item.get("expires_at") {
        None => None,
        Some(v) => Some(v.as_n().ok().and_then(|n| n.parse().ok()).ok_or_else(|| corrupt("expires_at is not a number".into()))?),
    };
    Ok(Record { key: Key::new(partition.clone(), sort.clone()), version: Version(version), body, expires_at })
}

fn unavailable<E>(op: &str, err: SdkError<E>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Unavailable(format!("DynamoDB {op}: {}", DisplayErrorContext(&err)))
}

/// A failed write: a failed condition (or a concurrent transaction holding the
/// item) is the port's `Conflict`, anything else is `Unavailable`.
fn write_error<E>(op: &str, err: SdkError<E>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    match err.as_service_error().and_then(|e| e.code()) {
        Some("ConditionalCheckFailedException" | "TransactionConflictException") => StoreError::Conflict,
        _ => unavailable(op, err),
    }
}

/// A cancelled transaction says why per item; a failed condition or a
/// concurrent writer on any item is a lost race, i.e. `Conflict`.
fn transaction_error(err: SdkError<TransactWriteItemsError>) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() {
        let lost_race = cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| matches!(reason.code(), Some("ConditionalCheckFailed" | "TransactionConflict")));
        if lost_race {
            return StoreError::Conflict;
        }
    }
    write_error("TransactWriteItems", err)
}

fn transact_item(op: &WriteOp, table: &str, now: i64) -> Result<TransactWriteItem, StoreError> {
    let invalid = |err: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(format!("invalid transaction item: {err}"));
    let put = |record: &Record, cond: Expr| -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(encode(record)?))
            .condition_expression(cond.text)
            .set_expression_attribute_names(Some(cond.names.clone()))
            .set_expression_attribute_values(cond.values())
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().put(put).build())
    };
    match op {
        WriteOp::Create(record) => put(record, Expr::absent(now)),
        WriteOp::Replace { record, expected } => put(record, Expr::live_at(*expected, now)),
        WriteOp::Delete { key, expected } => {
            let cond = Expr::live_at(*expected, now);
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_item(key)))
                .condition_expression(cond.text)
                .set_expression_attribute_names(Some(cond.names.clone()))
                .set_expression_attribute_values(cond.values())
                .build()
                .map_err(invalid)?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        }
    }
}

impl DynamoRecords {
    async fn put(&self, record: &Record, cond: Expr) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(record)?))
            .condition_expression(cond.text)
            .set_expression_attribute_names(Some(cond.names.clone()))
            .set_expression_attribute_values(cond.values())
            .send()
            .await
            .map(drop)
            .map_err(|err| write_error("PutItem", err))
    }

    /// The partition's key condition, with or without a prefix: DynamoDB
    /// rejects `begins_with` on an empty string.
    fn key_condition(&self, query: &ListQuery, now: i64) -> Expr {
        let text = if query.prefix.is_empty() { "#pk = :pk" } else { "#pk = :pk AND begins_with(sk, :prefix)" };
        let mut expr = Expr::new(text, now).value(":pk", AttributeValue::S(query.partition.clone()));
        if !query.prefix.is_empty() {
            expr = expr.value(":prefix", AttributeValue::S(query.prefix.clone()));
        }
        // The live filter shares the placeholders.
        expr.names.insert("#e".into(), "expires_at".into());
        expr.values.insert(":now".into(), number(now));
        expr
    }

    /// How many live records match, counted page by page (a COUNT query still
    /// stops at 1 MB of items read).
    async fn count(&self, query: &ListQuery, now: i64) -> Result<u64, StoreError> {
        let expr = self.key_condition(query, now);
        let (mut total, mut start) = (0_u64, None);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .select(Select::Count)
                .key_condition_expression(expr.text)
                .filter_expression(LIVE_FILTER)
                .set_expression_attribute_names(Some(expr.names.clone()))
                .set_expression_attribute_values(expr.values())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| unavailable("Query (count)", err))?;
            total += u64::try_from(out.count()).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(total),
            }
        }
    }

    /// Up to `limit + 1` live records after `start`: one more than the page,
    /// to know whether another page follows. `Limit` counts items before the
    /// expiry filter, so a page may take several queries.
    async fn page(&self, query: &ListQuery, start: Option<String>, limit: usize, now: i64) -> Result<Vec<Record>, StoreError> {
        let expr = self.key_condition(query, now);
        let mut start = start.map(|sort| key_item(&Key::new(query.partition.clone(), sort)));
        let mut records = Vec::new();
        loop {
            let wanted = i32::try_from(limit + 1 - records.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(expr.text)
                .filter_expression(LIVE_FILTER)
                .set_expression_attribute_names(Some(expr.names.clone()))
                .set_expression_attribute_values(expr.values())
                .set_exclusive_start_key(start)
                .limit(wanted)
                .send()
                .await
                .map_err(|err| unavailable("Query", err))?;
            for item in out.items() {
                records.push(decode(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if records.len() <= limit => start = Some(key),
                _ => return Ok(records),
            }
        }
    }
}

#[async_trait]
impl Records for DynamoRecords {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| unavailable("GetItem", err))?;
        let Some(item) = out.item() else { return Ok(None) };
        let record = decode(item)?;
        // TTL deletion lags: an expired item may still be stored.
        Ok(record.expires_at.is_none_or(|at| at >= SystemClock.now()).then_some(record))
    }

    async fn create(&self, record: &Record) -> Result<(), StoreError> {
        self.put(record, Expr::absent(SystemClock.now())).await
    }

    async fn replace(&self, record: &Record, expected: Version) -> Result<(), StoreError> {
        self.put(record, Expr::live_at(expected, SystemClock.now())).await
    }

    async fn delete(&self, key: &Key, expected: Version) -> Result<(), StoreError> {
        let cond = Expr::live_at(expected, SystemClock.now());
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .condition_expression(cond.text)
            .set_expression_attribute_names(Some(cond.names.clone()))
            .set_expression_attribute_values(cond.values())
            .send()
            .await
            .map(drop)
            .map_err(|err| write_error("DeleteItem", err))
    }

    /// The page and the total are two queries run side by side; unlike
    /// SQLite's they are not one snapshot (DynamoDB has none), so a write
    /// landing in between may make them disagree by that write.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = query.limit.max(1);
        let now = SystemClock.now();
        // DynamoDB refuses an ExclusiveStartKey outside the key condition, so
        // `after` is only sent when it starts with the prefix: below the
        // prefix it changes nothing, above it nothing can follow.
        let start = match &query.after {
            Some(after) if after.starts_with(&query.prefix) => Some(after.clone()),
            Some(after) if *after < query.prefix => None,
            Some(_) => return Ok(Page { records: Vec::new(), next: None, total: self.count(query, now).await? }),
            None => None,
        };
        let (records, total) = tokio::try_join!(self.page(query, start, limit, now), self.count(query, now))?;
        let mut records = records;
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|record| record.key.sort.clone())
        } else {
            None
        };
        Ok(Page { records, next, total })
    }

    async fn transact(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        podops_core::ports::check_transaction(ops)?;
        if ops.is_empty() {
            // DynamoDB refuses an empty TransactWriteItems.
            return Ok(());
        }
        let now = SystemClock.now();
        let items = ops.iter().map(|op| transact_item(op, &self.table, now)).collect::<Result<Vec<_>, _>>()?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
            .map_err(transaction_error)
    }
}
