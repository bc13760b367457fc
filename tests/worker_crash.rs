//! The worker killed mid-job, for real: a `podops worker` process aborts
//! (no cleanup, as under SIGKILL) at a fault point — after claiming the job,
//! after writing the output, before deleting the message — and a fresh one
//! finishes the job: one output object, one update of the asset, DLQ empty.

mod support;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use podops_adapters::embedded::{SqliteDb, SqliteJobs};
use podops_core::ports::Jobs;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{binary, terminate, tone_wav, Server};

const VISIBILITY: &str = "2";

fn worker(data_dir: &Path, fault: Option<&str>) -> Child {
    let mut cmd = Command::new(binary());
    cmd.args(["worker", "--visibility", VISIBILITY, "--log-format", "json", "--grace", "5"]).arg("--data-dir").arg(data_dir);
    cmd.env_remove("PODOPS_FAULT");
    if let Some(point) = fault {
        cmd.env("PODOPS_FAULT", point);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn podops worker")
}

fn rendition_objects(data_dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() { walk(&p, out) } else if !p.to_string_lossy().ends_with(".json") { out.push(p.display().to_string()) }
        }
    }
    let mut out = Vec::new();
    walk(&data_dir.join("media/objects/renditions"), &mut out);
    out
}

async fn get_json(server: &Server, token: &str, path: &str) -> Value {
    server.http.get(server.url(path)).bearer_auth(token).send().await.expect("GET").json().await.expect("JSON")
}

async fn crash_then_recover(fault: &str) {
    let mut server = Server::start(&["--workers", "0"]).await;
    let data_dir = server.data_dir.path().to_owned();
    let admin = server.admin_token();
    let prod = server.http.post(server.url("/a/v1/production")).bearer_auth(&admin)
        .json(&json!({"name": format!("crash_{fault}"), "title": "Crash"})).send().await.expect("production")
        .json::<Value>().await.expect("JSON")["guid"].as_str().expect("guid").to_owned();
    let r = server.http.post(server.url(&format!("/a/v1/upload/{prod}?filename=tone.wav"))).bearer_auth(&admin)
        .header("content-type", "audio/wav").body(tone_wav()).send().await.expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.expect("JSON")["guid"].as_str().expect("guid").to_owned();

    // A healthy worker probes the upload.
    let prober = worker(&data_dir, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_json(&server, &admin, &format!("/a/v1/resource/{prod}/asset/{id}")).await["state"] != "ready" {
        assert!(Instant::now() < deadline, "probe never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(prober);

    let content = server.url(&format!("/a/v1/asset/{prod}/{id}/content?format=mp3&bitrate=64000&channels=1"));
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    assert_eq!(no_redirects.get(&content).bearer_auth(&admin).send().await.expect("GET").status(), StatusCode::CONFLICT);
    let before = get_json(&server, &admin, &format!("/a/v1/resource/{prod}/asset/{id}")).await["version"].as_u64().expect("version");

    // The fault: the process aborts at the point.
    let mut doomed = worker(&data_dir, Some(fault));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = doomed.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker never reached {fault}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{fault}: the worker died ({status})");

    // A fresh worker finishes (after the dead one's lease and visibility lapse).
    let rescuer = worker(&data_dir, None);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = no_redirects.get(&content).bearer_auth(&admin).send().await.expect("GET");
        if r.status() == StatusCode::FOUND {
            break;
        }
        assert_eq!(r.status(), StatusCode::CONFLICT, "{fault}");
        assert!(Instant::now() < deadline, "{fault}: the job never completed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A message left behind comes back after its visibility and must find the job done.
    tokio::time::sleep(Duration::from_secs(VISIBILITY.parse::<u64>().unwrap_or(2) + 3)).await;
    terminate(rescuer);

    let asset = get_json(&server, &admin, &format!("/a/v1/resource/{prod}/asset/{id}")).await;
    assert_eq!(asset["version"].as_u64(), Some(before + 1), "{fault}: one update of the asset record");
    assert_eq!(asset["renditions"].as_array().map(Vec::len), Some(1), "{fault}");
    assert_eq!(rendition_objects(&data_dir).len(), 1, "{fault}: {:?}", rendition_objects(&data_dir));
    let jobs = SqliteJobs::new(SqliteDb::open(&data_dir.join("podops.db")).expect("db"), "jobs", 5);
    assert!(jobs.receive_dead(10).await.expect("dlq").is_empty(), "{fault}: DLQ empty");
    assert!(jobs.receive(10, Duration::from_secs(30), Duration::ZERO).await.expect("queue").is_empty(), "{fault}: queue empty");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_claiming_leaves_a_job_another_completes_once() {
    crash_then_recover("after_claim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_writing_the_output_leaves_one_output_and_one_update() {
    crash_then_recover("after_output").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_before_deleting_the_message_leaves_a_done_job_and_an_empty_queue() {
    crash_then_recover("before_delete").await;
}
