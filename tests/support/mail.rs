//! Sign-in mail read back from a server's outbox (`<data-dir>/outbox/*.eml`).

use std::{
    path::Path,
    time::{Duration, Instant},
};

/// The code and link token of the newest message in the outbox.
pub fn read_outbox(dir: &Path) -> Option<(String, String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
    files.sort();
    let text = std::fs::read_to_string(files.last()?).ok()?;
    Some(parse_mail(&text))
}

/// `(to, code, link token)` of a sign-in message.
pub fn parse_mail(text: &str) -> (String, String, String) {
    // Undo quoted-printable (soft line breaks, `=3D`) should the mailer have used it.
    let text = &text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let to = text.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or("").trim().to_owned();
    let code = text.split("sign-in code is ").nth(1).map(|r| r.chars().take_while(char::is_ascii_digit).collect()).unwrap_or_default();
    let token = text.split("token=").nth(1).map(|r| r.chars().take_while(char::is_ascii_hexdigit).collect()).unwrap_or_default();
    (to, code, token)
}

pub async fn wait_for_mail(dir: &Path, count: usize) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read_dir(dir).map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count()).unwrap_or(0);
        if n >= count {
            if let Some(m) = read_outbox(dir) {
                return m;
            }
        }
        assert!(Instant::now() < deadline, "no mail in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}


/// The newest message to `to`, once there are at least `count` of them
/// (mail leaves after a random pause, so messages to others may land later
/// than a newer one to `to`).
pub async fn wait_for_mail_to(dir: &Path, to: &str, count: usize) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut files: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()).unwrap_or_default();
        files.sort();
        let mine: Vec<_> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).map(|t| parse_mail(&t)).filter(|m| m.0 == to).collect();
        if mine.len() >= count {
            return mine.last().cloned().expect("one");
        }
        assert!(Instant::now() < deadline, "no mail {count} to {to} in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs `email` in by its mailed code (the server's outbox): the new `pok_` key.
pub async fn sign_in(server: &super::Server, email: &str) -> String {
    let outbox = server.data_dir.path().join("outbox");
    let before = std::fs::read_dir(&outbox)
        .map(|d| d.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).filter(|t| parse_mail(t).0 == email).count())
        .unwrap_or(0);
    let r = server.http.post(server.url("/a/v1/login")).json(&serde_json::json!({ "email": email })).send().await.expect("login");
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED, "login {email}");
    let (_, code, _) = wait_for_mail_to(&outbox, email, before + 1).await;
    let r = server.http.post(server.url("/a/v1/auth")).json(&serde_json::json!({ "email": email, "code": code })).send().await.expect("auth");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "sign in {email}");
    let body: serde_json::Value = r.json().await.expect("json");
    body["key"].as_str().expect("key").to_owned()
}

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) of base32 `secret`, `offset` steps from now,
/// computed by Python's standard library: an implementation apart from the server's.
pub fn totp_code(secret: &str, offset: i64) -> String {
    let script = "import base64,hmac,hashlib,struct,time,sys\n\
        s=sys.argv[1]; k=base64.b32decode(s+'='*(-len(s)%8)); c=int(time.time())//30+int(sys.argv[2])\n\
        h=hmac.new(k,struct.pack('>Q',c),hashlib.sha1).digest(); o=h[-1]&15\n\
        print('%06d'%((struct.unpack('>I',h[o:o+4])[0]&0x7fffffff)%1000000))";
    let out = std::process::Command::new("python3").args(["-c", script, secret, &offset.to_string()]).output().expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
