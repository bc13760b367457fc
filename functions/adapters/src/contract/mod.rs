//! One contract suite per port, written against the trait only. Each adapter's
//! tests instantiate the suite with a factory (see the `*_contract_tests!`
//! macros), so a second backend runs exactly the same rules.

pub mod blobs;
pub mod jobs;
pub mod rate;
pub mod records;
