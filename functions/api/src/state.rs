//! What every handler can reach: the use cases, the token authority and limits.

use std::sync::Arc;

use podops_core::{service::Podops, signing::Signer};

use crate::auth::TokenAuthority;

/// Cloned for every request (axum's `State`), so it is one pointer: a clone
/// of the parts themselves was 4 % of a `GET`'s time.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl From<AppParts> for AppState {
    fn from(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub podops: Podops,
    pub tokens: Arc<TokenAuthority>,
    /// Verifies the signed media URLs the blob store hands out.
    pub media_signer: Signer,
    pub limits: Limits,
    /// Published feeds in memory, with their compressed forms.
    pub feeds: Arc<crate::feed_cache::FeedCache>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON body accepted, in bytes.
    pub json_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { json_body: 1 << 20 }
    }
}
