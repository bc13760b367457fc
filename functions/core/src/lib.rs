//! PodOps core: the domain (productions, shows, episodes, assets), the ports the
//! outside world must implement (records, blobs, jobs) and the use cases that
//! combine them. Nothing here performs I/O by itself.

pub mod domain;
pub mod feed;
pub mod live;
pub mod ports;
pub mod service;
pub mod signing;

pub use domain::{Invalid, Timestamp};
