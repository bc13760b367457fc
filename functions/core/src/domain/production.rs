//! A production: one show's workspace, with its owner and members.

use serde::{Deserialize, Serialize};

use super::{ClientId, Guid, Invalid, ProductionName, Role, Timestamp, Version};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub client: ClientId,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Production {
    pub guid: Guid,
    pub name: ProductionName,
    pub title: String,
    pub summary: String,
    pub owner: ClientId,
    pub members: Vec<Member>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub last_build: Option<Timestamp>,
    /// Where the published feed redirects (301), as of the last build: the
    /// show's `new_feed_url` when it has `redirect: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_redirect: Option<String>,
    /// The `podcast:guid` its feed was first published with, kept when the
    /// feed moves (another name, another host) unless the show sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podcast_guid: Option<String>,
    pub version: Version,
}

impl Production {
    pub fn role_of(&self, client: &ClientId) -> Option<Role> {
        if &self.owner == client {
            return Some(Role::Owner);
        }
        self.members.iter().find(|m| &m.client == client).map(|m| m.role)
    }
}

/// What a client sends to create a production.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduction {
    pub name: ProductionName,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub summary: String,
}

impl NewProduction {
    pub fn validate(&self) -> Result<(), Invalid> {
        super::resource::check_text("title", &self.title, 0, 255)?;
        super::resource::check_text("summary", &self.summary, 0, 4000)
    }
}
