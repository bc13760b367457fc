//! Podcast feeds: Apple's rules, the RSS document, chapters files. Pure: the
//! build use case (service/build.rs) gathers the inputs and publishes.

pub mod apple;
pub mod chapters;
pub mod import;
pub mod rss;

pub use apple::{check_show, Problem};
