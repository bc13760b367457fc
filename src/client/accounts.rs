//! Signing in by email (`podops login --email`: a mailed one-time code) and a
//! signed-in user's personal tokens (`podops token create|list|revoke`).

use std::io::Write as _;

use reqwest::Method;
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    api::Api,
    args::{ClientOpts, OutputFormat, TokenCommand},
    config::{ConfigFile, Settings},
    output::print,
    ClientError,
};

const TOKEN_COLUMNS: &[&str] = &["id", "kind", "name", "scopes", "masked", "expires"];

/// `POST /a/v1/login` mails a code; the code (`--code`, or asked for on the terminal)
/// goes to `POST /a/v1/auth` for a key, saved as the profile's token like `login --token`.
pub async fn login_by_email(opts: &ClientOpts, email: &str, code: Option<String>, totp: Option<String>) -> Result<(), ClientError> {
    if opts.token.is_some() {
        return Err(ClientError::usage("podops login: --email and --token (or PODOPS_TOKEN) are exclusive: sign in by one or the other"));
    }
    let mut file = ConfigFile::load()?;
    let saved = file.profile(&opts.profile);
    let base = opts.api.clone().or(saved.api).ok_or_else(|| ClientError::usage("podops login needs --api URL (or PODOPS_API)"))?;
    let settings = Settings { api: base.trim_end_matches('/').to_owned(), token: String::new(), production: None };
    let api = Api::new(&settings)?;
    let email = email.trim();

    let code = match code {
        // A code from a mail already received: no new mail, no prompt.
        Some(code) => code,
        None => {
            api.post("/a/v1/login", &json!({ "email": email })).await.map_err(|e| pending(e, email))?;
            ask(&format!("Code from the mail to {email}: "), "--code CODE").await?
        }
    };
    let code: String = code.split_whitespace().collect();
    if code.is_empty() {
        return Err(ClientError::usage("podops login: no code given"));
    }

    let mut body = json!({ "email": email, "code": code });
    if let Some(totp) = &totp {
        body["totp"] = json!(totp.trim());
    }
    let signed = match api.post("/a/v1/auth", &body).await {
        // Two-factor sign-in is on: ask for the authenticator's code and send both again
        // (a missing code neither uses up the mailed one nor counts as an attempt).
        Err(ClientError::Refused { code, .. }) if code == "login.totp_required" && totp.is_none() => {
            body["totp"] = json!(ask("Code from your authenticator app: ", "--totp CODE").await?.trim());
            api.post("/a/v1/auth", &body).await?
        }
        other => other?,
    };
    let key = signed["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ClientError::Failed(format!("{} answered a sign-in without a key", api.url("/a/v1/auth"))))?
        .to_owned();
    let profile = file.profiles.entry(opts.profile.clone()).or_default();
    profile.api = Some(settings.api.clone());
    profile.token = Some(key);
    file.save()?;
    let who = signed["user"]["email"].as_str().unwrap_or(email);
    eprintln!("Signed in as {who} (profile {})", opts.profile);
    Ok(())
}

/// `login.pending` (429): a code is already on its way; say what to do.
fn pending(error: ClientError, email: &str) -> ClientError {
    match error {
        ClientError::Refused { status, code, params, .. } if code == "login.pending" => {
            let wait = params.get("retry_after").and_then(Value::as_u64).map(|s| format!("{s} s")).unwrap_or_else(|| "a few minutes".to_owned());
            let message = format!("a sign-in is already waiting: use its code (podops login --email {email} --code CODE), or retry in {wait}");
            ClientError::Refused { status, code, message, params }
        }
        other => other,
    }
}

/// Asks on the terminal (stderr) and reads one line of stdin, which may be a
/// pipe; `flag` is how to pass the answer instead.
async fn ask(prompt: &str, flag: &'static str) -> Result<String, ClientError> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await
    .map_err(|e| ClientError::Failed(format!("reading the code: {e}")))?;
    match read {
        Ok((0, _)) => Err(ClientError::usage(format!("podops login: no code read (stdin is closed); pass it with {flag}"))),
        Ok((_, line)) => Ok(line),
        Err(e) => Err(ClientError::usage(format!("podops login: cannot read the code: {e}"))),
    }
}

/// `podops token create|list|revoke` with the profile's key.
pub async fn tokens(opts: &ClientOpts, command: TokenCommand) -> Result<(), ClientError> {
    let settings = Settings::resolve(opts)?;
    let api = Api::new(&settings)?;
    let out = opts.output;
    match command {
        TokenCommand::Create { name, scopes, expires_in } => {
            let scopes: Vec<&str> = scopes.iter().flat_map(|s| s.split_whitespace()).collect();
            if scopes.is_empty() {
                return Err(ClientError::usage("--scopes: give at least one scope"));
            }
            let mut body = json!({ "name": name, "scopes": scopes });
            if let Some(seconds) = expires_in {
                body["expires_in"] = json!(seconds);
            }
            let made = api.post("/a/v1/tokens", &body).await?;
            if out != OutputFormat::Table {
                return print(out, &made, &[]);
            }
            // The token alone on stdout (for `TOKEN=$(podops token create …)`), the rest on stderr.
            println!("{}", made["token"].as_str().unwrap_or_default());
            eprintln!(
                "token {} ({}; scopes: {}; expires {}): shown only this once, store it now",
                made["id"].as_str().unwrap_or("?"),
                made["name"].as_str().unwrap_or_default(),
                made["scopes"].as_str().unwrap_or_default(),
                when(&made["expires"]),
            );
            Ok(())
        }
        TokenCommand::List => {
            let list = api.get("/a/v1/tokens").await?;
            if out != OutputFormat::Table {
                return print(out, &list, TOKEN_COLUMNS);
            }
            let items: Vec<Value> = list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| {
                            let mut row = item.clone();
                            if let Some(fields) = row.as_object_mut() {
                                fields.insert("expires".to_owned(), Value::String(when(&item["expires"])));
                            }
                            row
                        })
                        .collect()
                })
                .unwrap_or_default();
            print(out, &json!({ "items": items }), TOKEN_COLUMNS)
        }
        TokenCommand::Revoke { id } => {
            api.call(Method::DELETE, &format!("/a/v1/tokens/{id}"), None).await?;
            eprintln!("revoked token {id}");
            Ok(())
        }
    }
}

/// A UNIX time as RFC 3339; none is "never".
fn when(value: &Value) -> String {
    match value.as_i64() {
        Some(ts) => OffsetDateTime::from_unix_timestamp(ts).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_else(|| ts.to_string()),
        None => value.as_str().map(str::to_owned).unwrap_or_else(|| "never".to_owned()),
    }
}
