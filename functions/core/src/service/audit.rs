//! The audit log. A mutation appends its entry in the same transaction as
//! the change (`audit_ops`), so no change lands unaudited and no entry
//! tells of a change that failed. Each entry is written twice: under its
//! production (`GET /a/v1/audit/{prod}`) and under its UTC day (`GET
//! /a/v1/audit`, every production: a day partition keeps one instance-wide
//! list from being one hot partition forever). Sort keys are the entry
//! ids' hex digits complemented, so an ascending read is newest first.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    domain::{
        audit::{Actor, AuditEntry, Target, AUDIT_RETENTION},
        Guid, Scope, Timestamp, Version,
    },
    ports::{Key, ListQuery, Record, StoreError, WriteOp},
};

use super::{Caller, Need, Podops, ServiceError};

/// Where a request came from, as the API saw it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// `api_key`, `token` or `jwt`.
    pub via: &'static str,
    /// The signed-in user's email.
    pub user: Option<String>,
    /// The key, token or JWT id.
    pub token: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user's email or a client id.
    pub actor: Option<String>,
    /// An action (`episode.update`) or its kind (`episode`).
    pub action: Option<String>,
    /// UNIX seconds, inclusive.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Continue from here; a page may be short when filters skip many entries.
    pub next: Option<String>,
}

/// Entries examined per request at most, whatever the filters skip.
const SCAN_BUDGET: usize = 1000;
const DAY: Timestamp = 86_400;

fn production_partition(prod: &Guid) -> String {
    format!("AUDIT#{prod}")
}
fn day_partition(day: Timestamp) -> String {
    format!("AUDIT#DAY#{day}")
}
/// Newest first in ascending order: each hex digit of the id complemented.
pub(crate) fn sort_key(id: &str) -> String {
    id.chars().filter_map(|c| c.to_digit(16)).filter_map(|d| char::from_digit(15 - d, 16)).collect()
}

impl Podops {
    /// The writes that record `action` on `target` by `caller`: to be put in
    /// the same transaction as the change itself.
    pub(crate) fn audit_ops(
        &self,
        caller: &Caller,
        action: &str,
        target: Target,
        production: Option<&Guid>,
        changes: BTreeMap<String, [Value; 2]>,
    ) -> Result<Vec<WriteOp>, ServiceError> {
        let actor = Actor {
            user: caller.context.user.clone(),
            client: caller.client.to_string(),
            via: caller.context.via.to_owned(),
            token: caller.context.token.clone(),
        };
        self.entry_ops(actor, &caller.context, action, target, production, None, changes)
    }

    /// Records something that failed and changed nothing (a wrong sign-in
    /// code): written alone, and a failure to write it is logged, not raised.
    pub(crate) async fn audit_failure(&self, actor: Actor, context: &RequestContext, action: &str, target: Target, code: &str) {
        let ops = match self.entry_ops(actor, context, action, target, None, Some(code), BTreeMap::new()) {
            Ok(ops) => ops,
            Err(e) => return tracing::warn!(error = %e, action, "cannot record a failed action"),
        };
        if let Err(e) = self.records.transact(&ops).await {
            tracing::warn!(error = %e, action, "cannot record a failed action");
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn entry_ops(
        &self,
        actor: Actor,
        context: &RequestContext,
        action: &str,
        target: Target,
        production: Option<&Guid>,
        failed: Option<&str>,
        changes: BTreeMap<String, [Value; 2]>,
    ) -> Result<Vec<WriteOp>, ServiceError> {
        let ts = self.clock.now();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let entry = AuditEntry {
            id: id.clone(),
            ts,
            actor,
            action: action.to_owned(),
            target,
            production: production.cloned(),
            request_id: context.request_id.clone(),
            ip: context.ip.clone(),
            outcome: if failed.is_some() { "failed" } else { "ok" }.to_owned(),
            code: failed.map(str::to_owned),
            changes,
        };
        let body = serde_json::to_value(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires_at = Some(ts + AUDIT_RETENTION);
        let record = |partition: String| Record { key: Key::new(partition, sort_key(&id)), version: Version::FIRST, body: body.clone(), expires_at };
        let mut ops = vec![WriteOp::Create(record(day_partition(ts.div_euclid(DAY))))];
        if let Some(prod) = production {
            ops.push(WriteOp::Create(record(production_partition(prod))));
        }
        Ok(ops)
    }

    /// One production's entries, newest first (its owner, or an admin).
    pub async fn production_audit(&self, caller: &Caller, prod: &Guid, filter: &AuditFilter, limit: Option<usize>, cursor: Option<&str>) -> Result<AuditPage, ServiceError> {
        caller.require(Scope::ProductionRead)?;
        let limit = super::clamp_limit(limit);
        self.authorize(caller, prod, Need::Manage).await?;
        let partition = production_partition(prod);
        let after = self.open_cursor(&partition, cursor)?;
        let mut budget = SCAN_BUDGET;
        let (items, last, done) = self.scan(&partition, after, filter, limit, &mut budget).await?;
        let next = if done { None } else { last.map(|l| self.seal_cursor(&partition, &l)) };
        Ok(AuditPage { items, next })
    }

    /// Every production's entries, newest first, day by day (admins).
    pub async fn instance_audit(&self, caller: &Caller, filter: &AuditFilter, limit: Option<usize>, cursor: Option<&str>) -> Result<AuditPage, ServiceError> {
        caller.require(Scope::Admin)?;
        let limit = super::clamp_limit(limit);
        let now = self.clock.now();
        let oldest_day = filter.from.unwrap_or(now - AUDIT_RETENTION).max(now - AUDIT_RETENTION).div_euclid(DAY);
        let (mut day, mut after) = match self.open_cursor("AUDIT", cursor)? {
            Some(position) => {
                let (day, after) = position.split_once('|').ok_or(ServiceError::BadCursor)?;
                (day.parse::<Timestamp>().map_err(|_| ServiceError::BadCursor)?, Some(after.to_owned()).filter(|a| !a.is_empty()))
            }
            None => (filter.to.unwrap_or(now).min(now).div_euclid(DAY), None),
        };
        let mut items = Vec::new();
        let mut budget = SCAN_BUDGET;
        while day >= oldest_day {
            let (found, last, done) = self.scan(&day_partition(day), after.take(), filter, limit - items.len(), &mut budget).await?;
            items.extend(found);
            if !done {
                let position = format!("{day}|{}", last.unwrap_or_default());
                return Ok(AuditPage { items, next: Some(self.seal_cursor("AUDIT", &position)) });
            }
            if items.len() == limit || budget == 0 {
                let next = (day > oldest_day).then(|| self.seal_cursor("AUDIT", &format!("{}|", day - 1)));
                return Ok(AuditPage { items, next });
            }
            day -= 1;
        }
        Ok(AuditPage { items, next: None })
    }

    /// Reads one partition from `after` until `limit` entries match, the
    /// budget is spent, an entry older than `from` shows, or the partition
    /// ends: the matches, the last sort key read, and whether it is done.
    async fn scan(
        &self,
        partition: &str,
        mut after: Option<String>,
        filter: &AuditFilter,
        limit: usize,
        budget: &mut usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>, bool), ServiceError> {
        let mut items = Vec::new();
        loop {
            if items.len() >= limit || *budget == 0 {
                return Ok((items, after, false));
            }
            let page = self.records.list(&ListQuery { partition: partition.to_owned(), prefix: String::new(), after: after.clone(), limit: (*budget).min(100) }).await?;
            for record in page.records {
                *budget -= 1;
                after = Some(record.key.sort.clone());
                let entry: AuditEntry = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?;
                if filter.from.is_some_and(|from| entry.ts < from) {
                    return Ok((items, after, true));
                }
                if matches(&entry, filter) {
                    items.push(entry);
                    if items.len() >= limit {
                        return Ok((items, after, false));
                    }
                }
                if *budget == 0 {
                    return Ok((items, after, false));
                }
            }
            if page.next.is_none() {
                return Ok((items, after, true));
            }
        }
    }
}

fn matches(entry: &AuditEntry, filter: &AuditFilter) -> bool {
    let actor = filter.actor.as_deref().is_none_or(|a| entry.actor.user.as_deref() == Some(a) || entry.actor.client == a);
    let action = filter
        .action
        .as_deref()
        .is_none_or(|a| entry.action == a || entry.action.split_once('.').is_some_and(|(kind, _)| kind == a));
    let to = filter.to.is_none_or(|to| entry.ts <= to);
    actor && action && to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_newest_first() {
        let older = uuid::Uuid::now_v7().simple().to_string();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let newer = uuid::Uuid::now_v7().simple().to_string();
        assert!(older < newer);
        assert!(sort_key(&newer) < sort_key(&older));
        assert_eq!(sort_key("0f"), "f0");
    }
}
