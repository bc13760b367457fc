//! Webhook deliveries. An event of a production becomes, for each of its
//! webhooks that asked for it, a delivery record (`WHD#<webhook>#…`, newest
//! first) and a `deliver` job, written together; a worker POSTs it (never the
//! request path, which only writes), signed, through the imports' address
//! guard, and the job machinery retries it with backoff until the queue's
//! deliveries run out. Each attempt's outcome is on the delivery record.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    domain::{
        webhook::{Webhook, TEST_EVENT},
        Guid, Job, JobKind, Kind, Resource, ResourceBody, Scope, Timestamp, Version,
    },
    ports::{Key, ListQuery, Record, StoreError, WriteOp},
};

use super::{keys, Caller, Need, Podops, ServiceError};

/// Deliveries are kept this long.
const DELIVERY_TTL: Timestamp = 30 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `msg_<uuid v7>`: the `webhook-id` header, the same on every attempt.
    pub id: String,
    pub webhook: Guid,
    pub event: String,
    /// The exact body POSTed (and signed).
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// The last attempt's HTTP status; `None` when it got no answer.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

fn delivery_prefix(webhook: &Guid) -> String {
    format!("WHD#{webhook}#")
}

/// Newest first: the id's hex digits complemented (as the audit log's).
fn delivery_key(prod: &Guid, webhook: &Guid, id: &str) -> Key {
    let newest_first = super::audit::sort_key(id.trim_start_matches("msg_"));
    Key::new(keys::production_partition(prod), format!("{}{newest_first}", delivery_prefix(webhook)))
}

impl Podops {
    /// Tells `event` to every webhook of `prod` that asked for it. Called
    /// after the change it reports; a failure here is logged, never the
    /// caller's (the change stands either way).
    pub async fn emit(&self, prod: &Guid, event: &str, data: Value) {
        if let Err(e) = self.try_emit(prod, event, data, None).await {
            tracing::warn!(production = %prod, event, error = %e, "webhook deliveries not queued");
        }
    }

    async fn try_emit(&self, prod: &Guid, event: &str, data: Value, only: Option<&Guid>) -> Result<Vec<Delivery>, ServiceError> {
        let mut made = Vec::new();
        let hooks = self.bodies_of(prod, Kind::Webhook, |b| if let ResourceBody::Webhook(h) = b { Some(h) } else { None }).await?;
        for (guid, hook) in hooks {
            if only.is_some_and(|o| o != &guid) || !hook.wants(event) {
                continue;
            }
            // One webhook's failure is logged; the others still get the event.
            match self.queue_delivery(prod, &guid, event, &data).await {
                Ok(delivery) => made.push(delivery),
                // A test delivery to one webhook says why it was not queued.
                Err(e) if only.is_some() => return Err(e),
                Err(e) => tracing::warn!(production = %prod, webhook = %guid, event, error = %e, "a webhook delivery was not queued"),
            }
        }
        Ok(made)
    }

    async fn queue_delivery(&self, prod: &Guid, webhook: &Guid, event: &str, data: &Value) -> Result<Delivery, ServiceError> {
        let now = self.clock.now();
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let payload = json!({ "type": event, "timestamp": now, "production": prod, "data": data }).to_string();
        let delivery = Delivery { id: id.clone(), webhook: webhook.clone(), event: event.to_owned(), payload, status: "pending".into(), attempts: 0, last_status: None, last_error: None, created: now, updated: now };
        let job = Job { id: format!("deliver-{webhook}-{id}"), ..Job::new(JobKind::Deliver, prod.clone(), webhook.clone(), None, now) };
        let mut ops = vec![WriteOp::Create(delivery_record(prod, &delivery, Version::FIRST)?)];
        ops.extend(self.create_job_ops(&job)?);
        self.records.transact(&ops).await?;
        self.send_job(&job).await?;
        Ok(delivery)
    }

    /// `POST /a/v1/webhook/{prod}/{id}/test`: one `webhook.test` delivery.
    pub async fn test_webhook(&self, caller: &Caller, prod: &Guid, id: &Guid) -> Result<Delivery, ServiceError> {
        caller.require(Scope::ResourceWrite)?;
        self.authorize(caller, prod, Need::Write).await?;
        self.load(prod, Kind::Webhook, id).await?;
        let mut made = self.try_emit(prod, TEST_EVENT, json!({ "message": "a test delivery from PodOps" }), Some(id)).await?;
        made.pop().ok_or(ServiceError::ResourceNotFound { kind: Kind::Webhook, guid: id.clone() })
    }

    /// A webhook's deliveries, newest first (at most `limit`).
    pub async fn webhook_deliveries(&self, caller: &Caller, prod: &Guid, id: &Guid, limit: Option<usize>) -> Result<Vec<Delivery>, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        self.authorize(caller, prod, Need::Read).await?;
        self.load(prod, Kind::Webhook, id).await?;
        let query = ListQuery { partition: keys::production_partition(prod), prefix: delivery_prefix(id), after: None, limit: super::clamp_limit(limit) };
        let page = self.records.list(&query).await?;
        page.records.into_iter().map(|r| serde_json::from_value(r.body).map_err(|e| StoreError::Corrupt(format!("delivery: {e}")).into())).collect()
    }

    /// What a worker needs to POST a delivery: the delivery and its webhook
    /// (`None` when either is gone: nothing to send).
    pub async fn delivery_of(&self, job: &Job) -> Result<Option<(Delivery, Webhook)>, ServiceError> {
        let Some(id) = job.id.rsplit('-').next().filter(|i| i.starts_with("msg_")) else { return Ok(None) };
        let Some(record) = self.records.get(&delivery_key(&job.production, &job.asset, id)).await? else { return Ok(None) };
        let delivery: Delivery = serde_json::from_value(record.body).map_err(|e| StoreError::Corrupt(format!("delivery: {e}")))?;
        match self.load(&job.production, Kind::Webhook, &job.asset).await {
            Ok(Resource { body: ResourceBody::Webhook(hook), .. }) => Ok(Some((delivery, hook))),
            Ok(_) | Err(ServiceError::ResourceNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records one attempt: the HTTP status it got (`None`: no answer) and
    /// whether the delivery is now done (`delivered`) or given up (`failed`).
    pub async fn record_attempt(&self, prod: &Guid, delivery: &Delivery, status: Option<u16>, error: Option<String>, outcome: &str) -> Result<(), ServiceError> {
        let key = delivery_key(prod, &delivery.webhook, &delivery.id);
        for _ in 0..3 {
            let Some(record) = self.records.get(&key).await? else { return Ok(()) };
            let mut stored: Delivery = serde_json::from_value(record.body.clone()).map_err(|e| StoreError::Corrupt(format!("delivery: {e}")))?;
            // Only a pending delivery changes status: a late attempt never undoes `delivered`.
            if stored.status == "pending" {
                stored.status = outcome.to_owned();
            }
            if status.is_some() || error.is_some() {
                stored.attempts += 1;
                stored.last_status = status;
                stored.last_error = error.clone();
            }
            stored.updated = self.clock.now();
            match self.records.replace(&delivery_record(prod, &stored, record.version.next())?, record.version).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// A delivery job out of attempts: its delivery is `failed`.
    pub(crate) async fn fail_delivery(&self, job: &Job) -> Result<(), ServiceError> {
        match self.delivery_of(job).await? {
            Some((delivery, _)) => self.record_attempt(&job.production, &delivery, None, None, "failed").await,
            None => Ok(()),
        }
    }
}

fn delivery_record(prod: &Guid, d: &Delivery, version: Version) -> Result<Record, ServiceError> {
    let body = serde_json::to_value(d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Record { key: delivery_key(prod, &d.webhook, &d.id), version, body, expires_at: Some(d.created + DELIVERY_TTL) })
}
