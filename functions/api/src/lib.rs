//! The PodOps HTTP API. Each route group is its own router, so a Lambda can
//! serve one group while `podops serve` mounts them all (`router`).

mod auth;
mod contract;
mod contract_bodies;
mod error;
mod extract;
pub mod feed_cache;
pub mod hit_recorder;
pub mod metrics;
mod negotiate;
mod openapi;
pub mod rate_limit;
pub mod routes;
mod state;
mod xml;
mod xml_body;

pub use auth::{Claims, ClientIp, TokenAuthority, TokenError, AUDIENCE, ISSUER};
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use routes::{router, system::MetricsToken};
pub use state::{AppParts, AppState, Limits};
