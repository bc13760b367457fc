//! Audit entries (CastCore's `/audit`): who changed what, when, from where,
//! with the fields' values before and after, secrets redacted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Guid, Timestamp};

/// How long an entry is kept (the store's TTL).
pub const AUDIT_RETENTION: Timestamp = 365 * 24 * 3600;

/// What stands in for a secret in `changes`.
pub const REDACTED: &str = "[redacted]";

/// Field names whose values are never written to the log.
const SECRET_FIELDS: [&str; 8] = ["password", "stream_key", "secret", "token", "key", "refresh_token", "code", "totp"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// The user's email, for a signed-in user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The client id the request acted as (`u:<id>` for a user).
    pub client: String,
    /// `api_key`, `token`, `jwt` or `anonymous`.
    pub via: String,
    /// The key, token or JWT id (never the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: impl Into<String>, id: impl ToString) -> Self {
        Self { kind: kind.into(), id: id.to_string() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Time-ordered (UUIDv7).
    pub id: String,
    pub ts: Timestamp,
    pub actor: Actor,
    /// `<kind>.<verb>`, e.g. `episode.update`, `member.set`, `auth.sign_in`.
    pub action: String,
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<Guid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// `ok`, or `failed` with `code`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `{field: [before, after]}`; `null` for absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub changes: BTreeMap<String, [Value; 2]>,
}

/// A copy of `value` with every secret field's value replaced by `[redacted]`.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = SECRET_FIELDS.contains(&k.as_str()) && !v.is_null();
                    (k.clone(), if secret { Value::String(REDACTED.into()) } else { redact(v) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The top-level fields that differ between two JSON objects (either may
/// be `null`: a create or a delete), secrets redacted. A secret that
/// changed shows as `[redacted]` on both sides, so the change itself is seen.
pub fn changes(before: &Value, after: &Value) -> BTreeMap<String, [Value; 2]> {
    let empty = serde_json::Map::new();
    let old = before.as_object().unwrap_or(&empty);
    let new = after.as_object().unwrap_or(&empty);
    let mut out = BTreeMap::new();
    for field in old.keys().chain(new.keys()) {
        let (a, b) = (old.get(field).unwrap_or(&Value::Null), new.get(field).unwrap_or(&Value::Null));
        if a != b && !out.contains_key(field) {
            // Redacted, a changed secret may look unchanged: the field is listed all the same.
            let (a, b) = (redact(a), redact(b));
            let (a, b) = if SECRET_FIELDS.contains(&field.as_str()) { (mask_top(a), mask_top(b)) } else { (a, b) };
            out.insert(field.clone(), [a, b]);
        }
    }
    out
}

fn mask_top(v: Value) -> Value {
    if v.is_null() { v } else { Value::String(REDACTED.into()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_list_only_differing_fields_with_before_and_after() {
        let c = changes(&json!({"title": "A", "season": 1, "gone": true}), &json!({"title": "B", "season": 1, "new": "x"}));
        assert_eq!(c.len(), 3);
        assert_eq!(c["title"], [json!("A"), json!("B")]);
        assert_eq!(c["gone"], [json!(true), Value::Null]);
        assert_eq!(c["new"], [Value::Null, json!("x")]);
        assert!(changes(&Value::Null, &json!({"a": 1})).contains_key("a"), "a create lists every field");
    }

    #[test]
    fn secrets_never_reach_the_log_even_nested() {
        let before = json!({"outputs": [{"kind": "icecast", "url": "icecast://h:8000/m", "password": "hunter2-old"}]});
        let after = json!({"outputs": [{"kind": "icecast", "url": "icecast://h:8000/m", "password": "hunter2-new"}]});
        let c = changes(&before, &after);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(c.contains_key("outputs"), "a changed secret is still a change");
        let c = changes(&json!({"password": "a"}), &json!({"password": "b"}));
        assert_eq!(c["password"], [json!(REDACTED), json!(REDACTED)]);
    }
}
