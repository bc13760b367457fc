//! Adapters: the core's ports on concrete storage, and the contract suites
//! every adapter of a port must pass.

pub mod aws;
pub mod contract;
pub mod embedded;
pub mod mail;
