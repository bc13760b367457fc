//! A fresh set of AWS resources on the emulator (PODOPS_TEST_AWS_ENDPOINT),
//! provisioned by the binary, for tests of the AWS backend.

use std::process::Command;

use podops_adapters::aws::{dlq_name, AwsConfig};

/// Never skips: without an emulator the test fails and says how to get one.
pub fn endpoint() -> String {
    match std::env::var("PODOPS_TEST_AWS_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("PODOPS_TEST_AWS_ENDPOINT is not set: run the tests with ./scripts/test (it starts moto server)"),
    }
}

/// Fresh resource names, provisioned with the binary; returns the flags that
/// name them, for `podops serve`.
pub fn provision_fresh() -> (AwsConfig, Vec<String>) {
    let suffix = format!("{:012x}", rand::random::<u64>() >> 16);
    let base = format!("podops-tour-{suffix}");
    let flags: Vec<String> = [
        ("--endpoint", endpoint()),
        ("--table", base.clone()),
        ("--media-bucket", format!("{base}-media")),
        ("--public-bucket", format!("{base}-public")),
        ("--queue", format!("{base}-jobs")),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect();
    let out = Command::new(super::binary()).arg("provision").args(&flags).output().expect("run podops provision");
    assert!(out.status.success(), "podops provision failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().filter(|l| l.starts_with("created")).count(), 8, "{printed}");
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let config = AwsConfig {
        table: base.clone(),
        media_bucket: format!("{base}-media"),
        public_bucket: format!("{base}-public"),
        queue_name: format!("{base}-jobs"),
        dlq_name: dlq_name(&format!("{base}-jobs")),
        ..AwsConfig::named(Some(endpoint()), region)
    };
    (config, flags)
}


/// A `podops worker --backend aws` process (as on ECS) on the resources `flags`
/// name, with `extra` flags; stopped when dropped, however the test ends.
pub struct AwsWorker {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

pub fn start_worker(flags: &[String], extra: &[&str]) -> AwsWorker {
    let dir = tempfile::tempdir().expect("worker dir");
    let child = Command::new(super::binary())
        .args(["worker", "--backend", "aws", "--grace", "5"])
        .args(extra)
        .args(flags)
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn podops worker");
    AwsWorker { child, _dir: dir }
}

impl Drop for AwsWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
