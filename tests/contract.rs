//! The OpenAPI document is the contract: Schemathesis (PyPI `schemathesis`, installed by
//! ./scripts/test) runs every check against a running `podops serve` — undocumented
//! statuses and content types, responses against their schemas, schema-valid requests
//! accepted and schema-violating ones refused, methods not allowed, authentication ignored,
//! server errors — in every phase (examples, coverage, fuzzing, and the stateful one, which
//! creates productions and works on their resources), with a fixed seed, and finds nothing.
//! README "The API contract" has the longer run.

mod support;

use std::{path::Path, process::Command};

use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_contract_failure() {
    let log = tempfile::NamedTempFile::new().expect("log");
    let server = Server::start_logging_to(&["--workers", "1", "--no-rate-limits"], log.path()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join(".venv/bin/st");
    assert!(st.exists(), "{} is missing: run ./scripts/test, which installs Schemathesis", st.display());
    let work = tempfile::tempdir().expect("work dir");
    let junit = work.path().join("junit.xml");
    let out = Command::new(&st)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(["--no-color", "--config-file"])
        .arg(root.join("tests/contract/schemathesis.toml"))
        .args(["run", &server.url("/openapi.json"), "--url", &server.base, "--checks", "all", "--seed", "42", "--max-examples", "20"])
        .args(["--generation-database", "none", "--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", server.admin_token()))
        .output()
        .expect("schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "Schemathesis found contract failures (exit {:?}):\n{stdout}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    // It really ran: every operation was tested and the report names them.
    let report = std::fs::read_to_string(&junit).expect("junit report");
    let cases = report.matches("<testcase").count();
    assert!(cases >= 70, "{cases} operations in the report:\n{stdout}");
    assert!(!report.contains("<failure"), "{report}");
}
