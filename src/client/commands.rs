//! Each command: read what it needs, call the API, print the answer.

use std::{path::Path, time::Duration};

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    api::Api,
    args::{
        AssetCommand, ClientCommand, ClientOpts, CreateArgs, EpisodeCommand, PlaylistCommand, ProductionCommand, ProfileCommand, ShowCommand,
        TemplateKind,
    },
    config::{ConfigFile, Settings},
    backups,
    output::print,
    publish, streams, upload, ClientError,
};

const PRODUCTION_COLUMNS: &[&str] = &["guid", "name", "title"];
const EPISODE_COLUMNS: &[&str] = &["guid", "title", "published", "enclosure", "duration"];
const SHOW_COLUMNS: &[&str] = &["guid", "title", "author", "language", "category"];
pub const ASSET_COLUMNS: &[&str] = &["guid", "name", "state", "error", "content_type", "size", "sha256"];

pub async fn run(opts: ClientOpts, command: ClientCommand) -> Result<(), ClientError> {
    match command {
        ClientCommand::Login(args) => {
            return match args.email {
                Some(email) => super::accounts::login_by_email(&opts, &email, args.code, args.totp).await,
                None => login(&opts).await,
            };
        }
        ClientCommand::Logout => return logout(&opts),
        ClientCommand::Template { kind } => {
            print!("{}", template(kind));
            return Ok(());
        }
        _ => {}
    }
    let settings = Settings::resolve(&opts)?;
    let api = Api::new(&settings)?;
    let out = opts.output;
    match command {
        ClientCommand::Production(ProductionCommand::List) => print(out, &api.get("/a/v1/productions").await?, PRODUCTION_COLUMNS),
        ClientCommand::Production(ProductionCommand::Create { name, title, summary }) => {
            let created = api.post("/a/v1/production", &json!({ "name": name, "title": title, "summary": summary })).await?;
            print(out, &created, PRODUCTION_COLUMNS)
        }
        ClientCommand::Use { production } => {
            let found = find_production(&api, &production).await?;
            let mut file = ConfigFile::load()?;
            file.profiles.entry(opts.profile.clone()).or_default().production = found["guid"].as_str().map(str::to_owned);
            file.save()?;
            eprintln!("now using {} ({})", found["name"].as_str().unwrap_or_default(), found["guid"].as_str().unwrap_or_default());
            Ok(())
        }
        ClientCommand::Show(cmd) => {
            let prod = production(&api, &settings).await?;
            match cmd {
                ShowCommand::Get => {
                    let show = the_show(&api, &prod).await?.ok_or_else(|| ClientError::usage("the production has no show yet: podops show set --file show.yaml"))?;
                    print(out, &show, SHOW_COLUMNS)
                }
                ShowCommand::Set { file } => {
                    let fields = read_fields(&file)?;
                    let show = match the_show(&api, &prod).await? {
                        Some(show) => {
                            let id = show["guid"].as_str().unwrap_or_default();
                            api.call(Method::PUT, &format!("/a/v1/resource/{prod}/show/{id}"), Some(&fields)).await?;
                            api.get(&format!("/a/v1/resource/{prod}/show/{id}")).await?
                        }
                        None => api.post(&format!("/a/v1/resource/{prod}/show/{}", new_id()), &fields).await?,
                    };
                    print(out, &show, SHOW_COLUMNS)
                }
            }
        }
        ClientCommand::Episode(cmd) => {
            let prod = production(&api, &settings).await?;
            let episodes = Resources::new(&api, &prod, "episode");
            match cmd {
                EpisodeCommand::List => print(out, &episodes.list().await?, EPISODE_COLUMNS),
                EpisodeCommand::Get { id } => print(out, &episodes.get(&id).await?, EPISODE_COLUMNS),
                EpisodeCommand::Create(args) => print(out, &episodes.create(args).await?, EPISODE_COLUMNS),
                EpisodeCommand::Update { id, file } => print(out, &episodes.update(&id, &file).await?, EPISODE_COLUMNS),
                EpisodeCommand::Delete { id } => episodes.delete(&id).await,
            }
        }
        ClientCommand::Stream(cmd) => {
            let prod = production(&api, &settings).await?;
            streams::stream(&api, &prod, cmd, out).await
        }
        ClientCommand::Profile(ProfileCommand::List) => streams::part(&api, &settings, "profile", None, out).await,
        ClientCommand::Profile(ProfileCommand::Create(args)) => streams::part(&api, &settings, "profile", Some(args), out).await,
        ClientCommand::Playlist(PlaylistCommand::List) => streams::part(&api, &settings, "playlist", None, out).await,
        ClientCommand::Playlist(PlaylistCommand::Create(args)) => streams::part(&api, &settings, "playlist", Some(args), out).await,
        ClientCommand::Upload(args) => {
            let prod = production(&api, &settings).await?;
            print(out, &upload::upload(&api, &prod, &args).await?, ASSET_COLUMNS)
        }
        ClientCommand::Import { url } => {
            let prod = production(&api, &settings).await?;
            let name = url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("import");
            let name = name.split(['?', '#']).next().unwrap_or(name);
            let asset = api.post(&format!("/a/v1/resource/{prod}/asset/{}", new_id()), &json!({ "rel": "import", "source": url, "name": name })).await?;
            print(out, &asset, ASSET_COLUMNS)
        }
        ClientCommand::ImportFeed { url, name, dry_run, ownership_code, timeout } => {
            let started = api.post("/a/v1/import/feed", &json!({ "url": url, "name": name, "dry_run": dry_run, "ownership_code": ownership_code })).await?;
            let id = started["id"].as_str().unwrap_or_default().to_owned();
            let ended = wait_for_import(&api, &id, Duration::from_secs(timeout)).await?;
            print_import(out, &ended)
        }
        ClientCommand::Stats { from, to, by } => {
            let prod = production(&api, &settings).await?;
            let mut query = vec![format!("by={by}")];
            query.extend(from.map(|f| format!("from={f}")));
            query.extend(to.map(|t| format!("to={t}")));
            let report = api.get(&format!("/a/v1/analytics/{prod}?{}", query.join("&"))).await?;
            if out != super::args::OutputFormat::Table {
                return print(out, &report, &[]);
            }
            let columns: Vec<&str> = ["date", "episode", "app"].into_iter().filter(|c| by.split(',').any(|b| b == *c)).chain(["downloads", "listeners"]).collect();
            print!("{}", super::output::table(report["rows"].as_array().map(Vec::as_slice).unwrap_or(&[]), &columns));
            let t = &report["totals"];
            println!("{} to {}: {} downloads, {} listeners", report["from"].as_str().unwrap_or(""), report["to"].as_str().unwrap_or(""), t["downloads"], t["listeners"]);
            Ok(())
        }
        ClientCommand::Export { production: named, file, timeout } => {
            let chosen = named.clone().or(settings.production.clone()).unwrap_or_default();
            let prod = match named {
                Some(p) => production(&api, &Settings { production: Some(p), ..settings.clone() }).await?,
                None => production(&api, &settings).await?,
            };
            let output_file = file.unwrap_or_else(|| std::path::PathBuf::from(format!("{chosen}.tar")));
            let done = backups::export(&api, &prod, &output_file, Duration::from_secs(timeout)).await?;
            print(out, &done, &["id", "production", "state", "size", "sha256", "records", "objects"])
        }
        ClientCommand::Restore { file, name, timeout } => {
            let done = backups::restore(&api, &file, name.as_deref(), Duration::from_secs(timeout)).await?;
            if out == super::args::OutputFormat::Table {
                println!("restored into production {} ({})", done["production"].as_str().unwrap_or(""), done["name"].as_str().unwrap_or(""));
                let report = &done["report"];
                println!("{} records, {} objects, {} bytes", report["records"], report["objects"], report["bytes"]);
                if let Some(secrets) = report["secrets_to_set"].as_array().filter(|s| !s.is_empty()) {
                    println!("set these secrets again (archives hold them masked): {}", secrets.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
                }
                Ok(())
            } else {
                print(out, &done, &[])
            }
        }
        ClientCommand::Asset(AssetCommand::Get { id, wait, timeout }) => {
            let prod = production(&api, &settings).await?;
            let asset = if wait { wait_for_asset(&api, &prod, &id, Duration::from_secs(timeout)).await? } else { api.get(&format!("/a/v1/resource/{prod}/asset/{id}")).await? };
            print(out, &asset, ASSET_COLUMNS)?;
            if out == super::args::OutputFormat::Table {
                print_probe(&asset);
            }
            Ok(())
        }
        ClientCommand::Build { dry_run } => {
            let prod = production(&api, &settings).await?;
            let path = if dry_run { "/a/v1/build?dry_run=true" } else { "/a/v1/build" };
            let built = api.post(path, &json!({ "production": prod })).await?;
            print_build(out, &built, dry_run)
        }
        ClientCommand::Publish(args) => {
            let prod = production(&api, &settings).await?;
            publish::publish(&api, &prod, args, out).await
        }
        ClientCommand::Login(_) | ClientCommand::Logout | ClientCommand::Template { .. } => Ok(()),
    }
}

async fn login(opts: &ClientOpts) -> Result<(), ClientError> {
    let mut file = ConfigFile::load()?;
    let saved = file.profile(&opts.profile);
    let api = opts.api.clone().or(saved.api).ok_or_else(|| ClientError::usage("podops login needs --api URL (or PODOPS_API)"))?;
    let token = opts.token.clone().ok_or_else(|| ClientError::usage("podops login needs --email ADDRESS, or --token TOKEN (or PODOPS_TOKEN)"))?;
    let settings = Settings { api: api.trim_end_matches('/').to_owned(), token, production: None };
    let claims = Api::new(&settings)?.get("/_a/token").await?;
    let profile = file.profiles.entry(opts.profile.clone()).or_default();
    profile.api = Some(settings.api.clone());
    profile.token = Some(settings.token.clone());
    file.save()?;
    eprintln!(
        "logged in to {} as {} (profile {}; scopes: {})",
        settings.api,
        claims["sub"].as_str().unwrap_or("?"),
        opts.profile,
        claims["scopes"].as_array().map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default()
    );
    Ok(())
}

fn logout(opts: &ClientOpts) -> Result<(), ClientError> {
    let mut file = ConfigFile::load()?;
    if let Some(profile) = file.profiles.get_mut(&opts.profile) {
        profile.token = None;
        file.save()?;
    }
    eprintln!("logged out (profile {})", opts.profile);
    Ok(())
}

/// The production to act on, as a guid: --production / PODOPS_PRODUCTION or the profile's.
pub async fn production(api: &Api, settings: &Settings) -> Result<String, ClientError> {
    let chosen = settings.production.clone().ok_or_else(|| ClientError::usage("no production: run `podops use PRODUCTION` or pass --production"))?;
    if chosen.len() == 12 && chosen.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(chosen);
    }
    Ok(find_production(api, &chosen).await?["guid"].as_str().unwrap_or_default().to_owned())
}

async fn find_production(api: &Api, wanted: &str) -> Result<Value, ClientError> {
    let all = list_all(api, "/a/v1/productions").await?;
    all["items"]
        .as_array()
        .and_then(|items| items.iter().find(|p| p["guid"] == wanted || p["name"] == wanted).cloned())
        .ok_or_else(|| ClientError::usage(format!("no production {wanted:?} among yours (podops production list)")))
}

/// Every page of a list, as one `{items, total}`.
async fn list_all(api: &Api, path: &str) -> Result<Value, ClientError> {
    let mut items = Vec::new();
    let mut page = api.get(&format!("{path}?limit=100")).await?;
    loop {
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(cursor) if !cursor.is_empty() => page = api.get(&format!("{path}?limit=100&cursor={cursor}")).await?,
            _ => break,
        }
    }
    Ok(json!({ "total": items.len(), "items": items }))
}

/// The resources of one kind in a production: `/a/v1/resource/{prod}/{kind}[/{id}]`.
pub struct Resources<'a> {
    api: &'a Api,
    path: String,
    kind: &'static str,
}

impl<'a> Resources<'a> {
    pub fn new(api: &'a Api, prod: &str, kind: &'static str) -> Self {
        Self { api, path: format!("/a/v1/resource/{prod}/{kind}"), kind }
    }

    fn one(&self, id: &str) -> String {
        format!("{}/{id}", self.path)
    }

    /// Every page, as one `{items, total}`.
    pub async fn list(&self) -> Result<Value, ClientError> {
        list_all(self.api, &self.path).await
    }

    pub async fn get(&self, id: &str) -> Result<Value, ClientError> {
        self.api.get(&self.one(id)).await
    }

    /// A new one from a YAML or JSON file, under the given id or a random one.
    pub async fn create(&self, args: CreateArgs) -> Result<Value, ClientError> {
        let fields = read_fields(&args.file)?;
        self.api.post(&self.one(&args.id.unwrap_or_else(new_id)), &fields).await
    }

    /// Changes the fields the file has; the answer is the resource as it now is.
    pub async fn update(&self, id: &str, file: &Path) -> Result<Value, ClientError> {
        self.api.call(Method::PUT, &self.one(id), Some(&read_fields(file)?)).await?;
        self.get(id).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        self.api.call(Method::DELETE, &self.one(id), None).await?;
        eprintln!("deleted {} {id}", self.kind);
        Ok(())
    }
}

async fn the_show(api: &Api, prod: &str) -> Result<Option<Value>, ClientError> {
    let shows = api.get(&format!("/a/v1/resource/{prod}/show?limit=1")).await?;
    Ok(shows["items"].as_array().and_then(|s| s.first()).cloned())
}

/// A resource's fields from a YAML or JSON file (JSON is YAML).
pub fn read_fields(path: &Path) -> Result<Value, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))?;
    let value: Value = serde_yaml_ng::from_str(&text).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))?;
    let Value::Object(mut fields) = value else { return Err(ClientError::usage(format!("{}: expected a mapping of fields", path.display()))) };
    // What a `get -o yaml` printed may be sent back: the server owns these.
    for owned in ["guid", "parent_guid", "created", "updated", "version", "kind", "duration"] {
        fields.remove(owned);
    }
    Ok(Value::Object(fields))
}

pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// Polls the asset until the worker is done with it, with a spinner on a terminal.
pub async fn wait_for_asset(api: &Api, prod: &str, id: &str, timeout: Duration) -> Result<Value, ClientError> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let asset = api.get(&format!("/a/v1/resource/{prod}/asset/{id}")).await?;
        let state = asset["state"].as_str().unwrap_or_default().to_owned();
        if state != "pending" && state != "importing" {
            spinner.finish_and_clear();
            return Ok(asset);
        }
        spinner.set_message(format!("asset {id}: {state}"));
        if tokio::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Err(ClientError::Failed(format!("asset {id} is still {state} after {} s", timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Polls a feed import until it ends, with a progress bar of its items on a terminal.
async fn wait_for_import(api: &Api, id: &str, timeout: Duration) -> Result<Value, ClientError> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} items").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar.enable_steady_tick(Duration::from_millis(120));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = api.get(&format!("/a/v1/import/feed/{id}")).await?;
        let state = now["state"].as_str().unwrap_or_default().to_owned();
        bar.set_length(now["progress"]["items"].as_u64().unwrap_or(0));
        bar.set_position(now["progress"]["done"].as_u64().unwrap_or(0));
        bar.set_message(format!("import {state}"));
        if state == "done" || state == "failed" {
            bar.finish_and_clear();
            return Ok(now);
        }
        if tokio::time::Instant::now() >= deadline {
            bar.finish_and_clear();
            return Err(ClientError::Failed(format!("import {id} is still {state} after {} s (follow it: GET /a/v1/import/feed/{id})", timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_import(out: super::args::OutputFormat, ended: &Value) -> Result<(), ClientError> {
    if out != super::args::OutputFormat::Table {
        print(out, ended, &[])?;
    } else {
        let report = &ended["report"];
        if report.is_object() {
            let n = |k: &str| report[k].as_u64().unwrap_or(0);
            let verb = if report["dry_run"].as_bool() == Some(true) { "would create" } else { "created" };
            println!("{}: {} items; {verb} {} episodes, {} there already{}", report["title"].as_str().unwrap_or(""), n("items"), n("episodes_created"), n("episodes_existing"),
                if report["show_created"].as_bool() == Some(true) { "; show created" } else { "" });
            if let Some(problems) = report["problems"].as_array().filter(|p| !p.is_empty()) {
                print!("{}", super::output::table(problems, &["guid", "code", "message"]));
            }
        }
        if let Some(p) = ended["production"].as_str() {
            println!("production {p} ({})", ended["name"].as_str().unwrap_or(""));
        }
    }
    if ended["state"] == "failed" {
        let e = &ended["error"];
        return Err(ClientError::Failed(format!("{}: {}", e["code"].as_str().unwrap_or("import.failed"), e["message"].as_str().unwrap_or(""))));
    }
    Ok(())
}

fn print_probe(asset: &Value) {
    let probe = &asset["probe"];
    if probe.is_object() {
        let get = |k: &str| probe[k].as_f64().map(|v| v.to_string()).unwrap_or_else(|| probe[k].as_str().unwrap_or("?").to_owned());
        println!("duration        {} s", get("duration"));
        println!("loudness        {} LUFS (range {} LU, true peak {} dBTP)", get("lufs"), get("loudness_range"), get("true_peak"));
    }
    if let Some(renditions) = asset["renditions"].as_array().filter(|r| !r.is_empty()) {
        print!("{}", super::output::table(renditions, &["format", "bitrate", "channels", "loudness", "state"]));
    }
}

pub fn print_build(out: super::args::OutputFormat, built: &Value, dry_run: bool) -> Result<(), ClientError> {
    if out != super::args::OutputFormat::Table {
        return print(out, built, &[]);
    }
    if let Some(problems) = built["problems"].as_array().filter(|p| !p.is_empty()) {
        print!("{}", super::output::table(problems, &["code", "field", "blocking", "message"]));
    }
    if let Some(left_out) = built["left_out"].as_array().filter(|l| !l.is_empty()) {
        println!("left out:");
        print!("{}", super::output::table(left_out, &["guid", "reason", "at"]));
    }
    let feed = built["feed_url"].as_str().unwrap_or_default();
    if dry_run {
        println!("dry run: nothing published; the feed would be at {feed}");
    } else {
        println!("{feed}");
    }
    Ok(())
}

fn template(kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::Show => include_str!("templates/show.yaml"),
        TemplateKind::Episode => include_str!("templates/episode.yaml"),
        TemplateKind::Stream => include_str!("templates/stream.yaml"),
        TemplateKind::Profile => include_str!("templates/profile.yaml"),
        TemplateKind::Playlist => include_str!("templates/playlist.yaml"),
    }
}
