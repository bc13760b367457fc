//! Fault injection for the crash tests: `PODOPS_FAULT=<point>` makes the
//! worker process abort (no cleanup, like SIGKILL) the first time it reaches
//! that point. Inert unless the variable is set.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The job record says running (this worker's lease); nothing done yet.
    AfterClaim,
    /// The output object is written; the asset record does not know it yet.
    AfterOutput,
    /// The job record says done; the queue message is not deleted yet.
    BeforeDelete,
}

impl FaultPoint {
    fn name(self) -> &'static str {
        match self {
            FaultPoint::AfterClaim => "after_claim",
            FaultPoint::AfterOutput => "after_output",
            FaultPoint::BeforeDelete => "before_delete",
        }
    }
}

fn configured() -> Option<&'static str> {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    FAULT.get_or_init(|| std::env::var("PODOPS_FAULT").ok().filter(|v| !v.is_empty())).as_deref()
}

/// Aborts the process if `PODOPS_FAULT` names `point`.
pub fn hit(point: FaultPoint) {
    if configured() == Some(point.name()) {
        eprintln!("podops worker: PODOPS_FAULT={}: aborting", point.name());
        std::process::abort();
    }
}
