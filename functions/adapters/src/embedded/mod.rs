//! The embedded backend: one SQLite file for records and the job queue, one
//! directory for blobs. What `podops serve` uses by default.

mod fs_blobs;
mod rate_budgets;
mod sqlite;
mod sqlite_jobs;
mod sqlite_records;

pub use fs_blobs::FsBlobs;
pub use rate_budgets::InProcessBudgets;
pub use sqlite::SqliteDb;
pub use sqlite_jobs::SqliteJobs;
pub use sqlite_records::SqliteRecords;
