//! The `podops` client against a real `podops serve` on a free port: the
//! whole publish flow from a generated audio file to a feed, scripts' JSON
//! output, a 50 MB upload killed half-way and resumed (each part received
//! once, by the server's log), a live stream from files to stop, and the exit
//! codes of refusals and outages.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{binary, free_port, Server};

/// The client with its own config and state directories, and none of the
/// caller's PODOPS_* settings.
struct Client {
    home: tempfile::TempDir,
}

impl Client {
    fn new() -> Self {
        Self { home: tempfile::tempdir().expect("temp dir") }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env_remove("PODOPS_API")
            .env_remove("PODOPS_TOKEN")
            .env_remove("PODOPS_PROFILE")
            .env_remove("PODOPS_PRODUCTION")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run podops")
    }

    /// Runs and insists on exit 0; the answer is stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "podops {args:?} failed ({:?}):\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let text = self.ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("podops {args:?} -o json printed no JSON ({e}):\n{text}"))
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join("config/podops/config.yaml")
    }
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg on PATH");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn logged_parts(log: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["message"] == "upload part stored")
        .map(|v| (v["upload_id"].as_str().unwrap_or_default().to_owned(), v["part"].as_u64().unwrap_or(0)))
        .collect()
}

#[tokio::test]
async fn publish_takes_an_audio_file_to_a_live_feed() {
    let server = Server::start(&[]).await;
    let cli = Client::new();
    let dir = cli.home.path();
    let login = cli.run(&["login", "--api", &server.base, "--token", &server.admin_token()]);
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(cli.config_file()).unwrap().permissions().mode() & 0o777, 0o600, "the token is private");

    let created = cli.json(&["production", "create", "cli-first-podcast", "--title", "CLI First Podcast"]);
    let prod = created["guid"].as_str().unwrap().to_owned();
    cli.ok(&["use", "cli-first-podcast"]);
    let listed = cli.json(&["production", "list"]);
    assert_eq!(listed["items"][0]["guid"], prod.as_str());

    std::fs::write(dir.join("show.yaml"), cli.ok(&["template", "show"])).unwrap();
    let show = cli.json(&["show", "set", "--file", dir.join("show.yaml").to_str().unwrap()]);
    assert_eq!(show["title"], "My First Podcast");
    let dry = cli.json(&["build", "--dry-run"]);
    assert!(dry["feed_url"].as_str().unwrap().ends_with("/feeds/cli-first-podcast/feed.xml"), "{dry}");

    let audio = dir.join("pilot.mp3");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "libmp3lame", "-b:a", "64k", audio.to_str().unwrap()]);
    std::fs::write(dir.join("ep.yaml"), "summary: The first one.\nseason: 1\nepisode: 1\n").unwrap();
    let published = cli.json(&["publish", audio.to_str().unwrap(), "--title", "Pilot", "--file", dir.join("ep.yaml").to_str().unwrap()]);
    assert_eq!(published["asset"]["state"], "ready", "{published}");
    assert_eq!(published["episode"]["title"], "Pilot");
    assert_eq!(published["episode"]["enclosure"], published["asset"]["guid"]);
    let feed_url = published["build"]["feed_url"].as_str().unwrap();
    let feed = server.http.get(feed_url).send().await.unwrap().text().await.unwrap();
    assert!(feed.contains("<title>Pilot</title>") && feed.contains("<enclosure "), "{feed}");

    // Scripts read the API's own objects; people get a table.
    let episodes = cli.json(&["episode", "list"]);
    assert_eq!(episodes["total"], 1);
    let table = cli.ok(&["episode", "list"]);
    assert!(table.starts_with("GUID") && table.contains("Pilot"), "{table}");
    let asset_id = published["asset"]["guid"].as_str().unwrap();
    let asset = cli.json(&["asset", "get", asset_id, "--wait"]);
    assert!((asset["probe"]["duration"].as_f64().unwrap() - 3.0).abs() < 0.2, "{asset}");
    let readable = cli.ok(&["asset", "get", asset_id]);
    assert!(readable.contains("loudness") && readable.contains("LUFS"), "{readable}");

    // Logged out, the client has no token to send: a usage error, exit 1.
    cli.ok(&["logout"]);
    assert_eq!(cli.run(&["episode", "list"]).status.code(), Some(1));
}

#[tokio::test]
async fn an_interrupted_upload_resumes_and_the_server_receives_each_part_once() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let server = Server::start_logging_to(&["--workers", "0"], &log).await;
    let cli = Client::new();
    cli.ok(&["login", "--api", &server.base, "--token", &server.admin_token()]);
    cli.ok(&["production", "create", "cli-resume-test", "--title", "Resume"]);
    cli.ok(&["use", "cli-resume-test"]);
    // 50 MB of real audio: 5 min of 16-bit stereo WAV with noise (no run of equal parts).
    let audio = cli.home.path().join("long.wav");
    ffmpeg(&["-f", "lavfi", "-i", "anoisesrc=duration=297:amplitude=0.3:seed=7", "-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le", audio.to_str().unwrap()]);
    let bytes = std::fs::read(&audio).unwrap();
    assert!(bytes.len() > 50_000_000, "{} bytes", bytes.len());
    let parts = bytes.len().div_ceil(8 << 20) as u64;

    // Slowed to 8 MB/s so the cut lands half-way; killed once a part is stored.
    let mut first = cli.command(&["upload", audio.to_str().unwrap(), "--limit-rate", "8M"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while logged_parts(&log).is_empty() {
        assert!(Instant::now() < deadline, "no part arrived");
        assert!(first.try_wait().unwrap().is_none(), "the upload ended before it could be cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = logged_parts(&log).len() as u64;
    assert!(before < parts, "the cut came after the last part ({before} of {parts})");

    let asset = cli.json(&["upload", audio.to_str().unwrap()]);
    assert_eq!(asset["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(asset["size"], bytes.len() as u64);
    let stored = logged_parts(&log);
    let upload_ids: std::collections::BTreeSet<_> = stored.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(upload_ids.len(), 1, "the rerun resumed the same upload: {stored:?}");
    let mut numbers: Vec<u64> = stored.iter().map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=parts).collect::<Vec<_>>(), "each part received exactly once ({before} before the cut)");
    // The file served back is the file.
    let served = server.http.get(asset["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert!(served.as_ref() == bytes.as_slice());
}

#[tokio::test]
async fn a_stream_is_defined_started_watched_and_stopped_from_files() {
    let server = Server::start(&["--workers", "0"]).await;
    let cli = Client::new();
    cli.ok(&["login", "--api", &server.base, "--token", &server.admin_token()]);
    cli.ok(&["production", "create", "cli-live-test", "--title", "Live"]);
    cli.ok(&["use", "cli-live-test"]);
    // The templates as they are: a profile, and a stream of a tone to HLS that names it.
    let file = |name: &str, template: &str| {
        let path = cli.home.path().join(name);
        std::fs::write(&path, cli.ok(&["template", template])).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let profile = cli.json(&["profile", "create", "--file", &file("profile.yaml", "profile"), "--id", "aaaaaaaaaaa1"]);
    assert_eq!(profile["guid"], "aaaaaaaaaaa1");
    let created = cli.json(&["stream", "create", "--file", &file("stream.yaml", "stream")]);
    let id = created["guid"].as_str().unwrap().to_owned();
    assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()), "a random id: {created}");
    let listed = cli.json(&["stream", "list"]);
    assert!(listed["items"].as_array().unwrap().iter().any(|s| s["guid"] == id.as_str()), "{listed}");

    // No worker (--workers 0): started, it waits in the queue.
    cli.ok(&["stream", "start", &id]);
    let status = cli.json(&["stream", "status", &id]);
    assert_eq!((status["desired"].as_str(), status["state"].as_str()), (Some("running"), Some("queued")), "{status}");
    assert!(cli.ok(&["stream", "status", &id]).contains("queued"));
    assert_eq!(cli.json(&["stream", "stop", &id])["desired"], "stopped");
    // JSON Lines: each line one object (none yet, as nothing ran).
    for line in cli.ok(&["stream", "logs", &id, "-o", "json"]).lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(cli.ok(&["stream", "logs", "--help"]).contains("Example: podops stream logs"));
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_exit_2_and_the_servers_code() {
    let server = Server::start(&["--workers", "0"]).await;
    let cli = Client::new();
    let out = cli.run(&["production", "list", "--api", &server.base, "--token", "not-a-token"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.invalid_token"), "{stderr}");
    // A login with it saves nothing.
    let login = cli.run(&["login", "--api", &server.base, "--token", "not-a-token"]);
    assert_eq!(login.status.code(), Some(2));
    assert!(!cli.config_file().exists());
}

#[test]
fn an_unreachable_api_exits_3_naming_the_url_without_a_panic() {
    let cli = Client::new();
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = cli.run(&["production", "list", "--api", &url, "--token", "t"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&url) && !stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn usage_errors_exit_1_and_help_shows_an_example() {
    let cli = Client::new();
    assert_eq!(cli.run(&["publish"]).status.code(), Some(1), "a missing argument");
    let no_login = cli.run(&["episode", "list"]);
    assert_eq!(no_login.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_login.stderr).contains("podops login"));
    let help = cli.ok(&["publish", "--help"]);
    assert!(help.contains("Example: podops publish"), "{help}");
}

/// The sign-in code of the first finished `.eml` in the outbox (the mailer writes
/// `.name.eml`, then renames it), quoted-printable undone.
fn code_from_outbox(outbox: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outbox)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".eml") && !n.starts_with('.')))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.first()?).ok()?;
    let text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let code: String = text.split("sign-in code is ").nth(1)?.chars().take_while(char::is_ascii_digit).collect();
    (code.len() == 8).then_some(code)
}

#[tokio::test]
async fn login_by_email_reads_the_code_from_stdin_and_personal_tokens_are_made_listed_and_revoked() {
    use std::io::Write;
    let server = Server::start(&["--workers", "0"]).await;
    let cli = Client::new();
    let mut login = cli
        .command(&["login", "--api", &server.base, "--email", "ann@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn podops login");
    // The code arrives by mail (an .eml in the outbox); the client waits on stdin for it.
    let outbox = server.data_dir.path().join("outbox");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = code_from_outbox(&outbox) {
            break code;
        }
        assert!(Instant::now() < deadline, "no sign-in mail in {}", outbox.display());
        assert!(login.try_wait().unwrap().is_none(), "podops login ended before the code was given");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    login.stdin.take().expect("stdin").write_all(format!("{code}\n").as_bytes()).unwrap();
    let out = login.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "podops login --email failed ({:?}):\n{stderr}", out.status.code());
    assert!(stderr.contains("Code from the mail to ann@example.com") && stderr.contains("Signed in as ann@example.com (profile default)"), "{stderr}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(cli.config_file()).unwrap().permissions().mode() & 0o777, 0o600, "the key is private");
    cli.ok(&["production", "list", "-o", "json"]);

    let made = cli.json(&["token", "create", "--name", "ci", "--scopes", "resource:read"]);
    assert!(made["token"].as_str().is_some_and(|t| t.starts_with("pot_")), "{made}");
    let id = made["id"].as_str().expect("id").to_owned();
    let listed = cli.json(&["token", "list"]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2), "the sign-in key and the token: {listed}");
    let table = cli.ok(&["token", "list"]);
    assert!(table.starts_with("ID") && table.contains("personal") && table.contains("sign_in"), "{table}");
    cli.ok(&["token", "revoke", &id]);
    let listed = cli.json(&["token", "list"]);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["items"][0]["kind"], "sign_in");
}

#[tokio::test]
async fn login_asks_for_the_authenticator_code_when_two_factor_sign_in_is_on() {
    use std::io::Write;
    use support::mail::{sign_in, totp_code, wait_for_mail};
    let server = Server::start(&["--workers", "0"]).await;
    let outbox = server.data_dir.path().join("outbox");
    let key = sign_in(&server, "tia@example.com").await;
    let (_, enrol) = support::call(&server, &key, reqwest::Method::POST, "/a/v1/auth/2fa/enroll", None).await;
    let secret = enrol["secret"].as_str().expect("secret").to_owned();
    let (s, _) = support::call(&server, &key, reqwest::Method::POST, "/a/v1/auth/2fa/verify", Some(serde_json::json!({"code": totp_code(&secret, 0)}))).await;
    assert_eq!(s, reqwest::StatusCode::NO_CONTENT);
    server.http.post(server.url("/a/v1/login")).json(&serde_json::json!({"email": "tia@example.com"})).send().await.expect("login");
    let (_, code, _) = wait_for_mail(&outbox, 2).await;
    let cli = Client::new();

    // A wrong authenticator code given with --totp: refused, said plainly.
    let wrong = if totp_code(&secret, 1) == "000000" { "111111" } else { "000000" };
    let out = cli.command(&["login", "--api", &server.base, "--email", "tia@example.com", "--code", &code, "--totp", wrong]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authenticator code"), "{}", String::from_utf8_lossy(&out.stderr));

    // Without --totp, podops login asks for it (the mailed code still works: nothing was consumed).
    let mut login = cli
        .command(&["login", "--api", &server.base, "--email", "tia@example.com", "--code", &code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn podops login");
    login.stdin.take().expect("stdin").write_all(format!("{}\n", totp_code(&secret, 1)).as_bytes()).unwrap();
    let out = login.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Code from your authenticator app") && stderr.contains("Signed in as tia@example.com"), "{stderr}");
    cli.ok(&["production", "list"]);
}

#[tokio::test]
async fn a_stream_is_preflighted_and_dry_run_from_the_cli() {
    let server = Server::start(&["--workers", "1", "--allow-address", "127.0.0.1"]).await;
    let cli = Client::new();
    cli.ok(&["login", "--api", &server.base, "--token", &server.admin_token()]);
    cli.ok(&["production", "create", "cli-preflight", "--title", "Live"]);
    cli.ok(&["use", "cli-preflight"]);
    let file = |name: &str, template: &str| {
        let path = cli.home.path().join(name);
        std::fs::write(&path, cli.ok(&["template", template])).unwrap();
        path.to_str().unwrap().to_owned()
    };
    cli.json(&["profile", "create", "--file", &file("profile.yaml", "profile"), "--id", "aaaaaaaaaaa1"]);
    let id = cli.json(&["stream", "create", "--file", &file("stream.yaml", "stream")])["guid"].as_str().unwrap().to_owned();
    // The template's tone to HLS is ready to go: green, exit 0, each check a row.
    let table = cli.ok(&["stream", "preflight", &id]);
    assert!(table.contains("green") && table.contains("preflight.encoder") && table.contains("preflight.output"), "{table}");
    let report = cli.json(&["stream", "dry-run", &id]);
    assert_eq!((report["state"].as_str(), report["output"]["codec"].as_str()), (Some("done"), Some("mp3")), "{report}");
    // An RTMP ingest where nothing listens is red: exit 2 with the code.
    let bad = cli.home.path().join("bad.yaml");
    let port = support::free_port();
    std::fs::write(&bad, format!("title: Bad\nprofile: aaaaaaaaaaa1\ninput: {{tone: {{frequency: 440}}}}\noutputs:\n  - kind: rtmp\n    url: rtmp://127.0.0.1:{port}/live\n    stream_key: k\n")).unwrap();
    let bad_id = cli.json(&["stream", "create", "--file", bad.to_str().unwrap()])["guid"].as_str().unwrap().to_owned();
    let out = cli.run(&["stream", "preflight", &bad_id]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("preflight.output_unreachable"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("preflight.red"));
}
