//! Moving a show in from its RSS feed. `POST /a/v1/import/feed` records the
//! import and queues a `feed_import` job; the worker fetches the feed through
//! the address guard and hands the bytes to `apply_feed_import`, which writes
//! the show and one episode per item, each enclosure an import asset (fetched
//! by its own import job, like any URL import). Ids are derived from the
//! production and the item's guid, so a retried job, or the same feed imported
//! again ("keep in sync until we switch over"), adds only what is new. The
//! job acts with the rights of who asked, checked again as it writes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    domain::{
        import_url::check_import_url_allowing, ClientId, Email, Guid, Invalid, Job, JobKind, Kind, NewProduction, ProductionName, Scope, Scopes, Timestamp,
        Version,
    },
    feed::import::{Finding, SourceItem, SourceShow},
    ports::{BlobKey, Key, Record, StoreError, WriteOp},
};

use super::{keys, Caller, Need, Podops, RequestContext, ServiceError};

/// Import records are kept this long after their last change.
const IMPORT_TTL: Timestamp = 30 * 24 * 3600;
/// Most episodes and problems a report lists.
pub const MAX_LISTED: usize = 500;
/// Longest guid or message a report keeps (in characters).
const MAX_TEXT: usize = 256;
/// Progress is written every this many items.
const PROGRESS_EVERY: usize = 25;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportProgress {
    pub items: u32,
    pub done: u32,
}

/// One problem of an import, with its item's guid when it is about one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportProblem {
    pub guid: Option<String>,
    pub code: String,
    pub message: String,
}

/// One episode the import made (or found made by an earlier run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportedEpisode {
    /// The item's guid, kept as the episode's `feed_guid`.
    pub guid: String,
    #[schema(value_type = String)]
    pub episode: Guid,
    /// The import asset of its enclosure (its state says whether the audio arrived).
    #[schema(value_type = Option<String>)]
    pub asset: Option<Guid>,
    /// False when an earlier import had made it.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// The show's title as the feed gives it.
    pub title: String,
    pub items: u32,
    /// Whether this import created the show (false: it was there, and kept).
    pub show_created: bool,
    pub episodes_created: u32,
    pub episodes_existing: u32,
    /// A dry run: what would be created, nothing written.
    pub dry_run: bool,
    /// The first `MAX_LISTED` episodes (in feed order) and problems: the record stays small
    /// enough for one DynamoDB item whatever the feed's size.
    pub episodes: Vec<ImportedEpisode>,
    pub problems: Vec<ImportProblem>,
    /// True when `episodes` or `problems` were cut at `MAX_LISTED`.
    #[serde(default)]
    pub truncated: bool,
}

/// An import of a show from its feed, as `GET /a/v1/import/feed/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedImport {
    /// `<partition>-<import>`: what the status route takes.
    pub id: String,
    pub url: String,
    /// The production it imports into (none for a dry run).
    pub name: Option<String>,
    /// That production, once the feed was read and it was found or created.
    #[schema(value_type = Option<String>)]
    pub production: Option<Guid>,
    pub dry_run: bool,
    /// The hash of the owner's code for a locked feed (`proof_hash`); stored, never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub(crate) ownership_proof: Option<String>,
    /// A locked feed whose owner's code this import proved (a retried job goes on).
    #[serde(default)]
    pub ownership_proven: bool,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub progress: ImportProgress,
    pub report: Option<ImportReport>,
    /// Why it failed (`import.not_rss`, `import.locked`, `import.fetch_failed`, …).
    pub error: Option<ImportProblem>,
    pub requested_by: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A transcript or chapters file an imported episode links at the old host:
/// the worker copies it into the store, so it outlives the old host.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeFile {
    pub production: Guid,
    pub episode: Guid,
    /// The item's guid, for the report.
    pub guid: String,
    /// `transcript` or `chapters`.
    pub field: &'static str,
    pub url: String,
}

impl EpisodeFile {
    /// Largest file copied.
    pub const MAX_BYTES: u64 = 10 << 20;

    /// Where the copy is stored, and its media type, from the URL's extension.
    pub fn object(&self) -> Result<(BlobKey, &'static str), ServiceError> {
        let path = self.url.split(['?', '#']).next().unwrap_or("").to_ascii_lowercase();
        let (ext, media_type) = match (self.field, path.rsplit_once('.').map(|(_, e)| e)) {
            ("chapters", _) => ("json", "application/json+chapters"),
            (_, Some("vtt")) => ("vtt", "text/vtt"),
            (_, Some("srt")) => ("srt", "application/x-subrip"),
            (_, Some("json")) => ("json", "application/json"),
            (_, Some("html" | "htm")) => ("html", "text/html"),
            _ => ("txt", "text/plain"),
        };
        Ok((BlobKey::parse(&format!("media/{}/attachments/{}-{}.{ext}", self.production, self.episode, self.field))?, media_type))
    }
}

/// A feed import under way in the worker: what `begin_feed_import` decided,
/// and what the items made so far. The worker copies `files` and finishes with `report`.
pub struct FeedImportRun {
    pub report: ImportReport,
    pub files: Vec<EpisodeFile>,
    /// Who writes, into which production; `None` for a dry run.
    target: Option<(Caller, Guid)>,
    imported_at: Timestamp,
    done: usize,
}

impl FeedImportRun {
    /// The report lists at most `MAX_LISTED` episodes and problems (one more
    /// is kept, to know it was cut): memory stays bounded whatever the feed's size.
    fn cap(&mut self) {
        self.report.episodes.truncate(MAX_LISTED + 1);
        self.report.problems.truncate(MAX_LISTED + 1);
    }
}

/// What a client sends.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedImportRequest {
    /// The feed's URL (http or https).
    pub url: String,
    /// The production to import into: created if new, synced if it is yours. Default: from the URL.
    #[serde(default)]
    pub name: Option<String>,
    /// Only read the feed and report what would be imported.
    #[serde(default)]
    pub dry_run: bool,
    /// For a locked feed (`podcast:locked yes`): the code an earlier import of
    /// this URL mailed to the feed's owner address, proving the show is yours.
    #[serde(default)]
    pub ownership_code: Option<String>,
}

fn import_key(partition: &Guid, import: &Guid) -> Key {
    Key::new(keys::production_partition(partition), format!("FEEDIMPORT#{import}"))
}

fn derived(kind: &str, prod: &Guid, guid: &str) -> Guid {
    let digest = Sha256::digest(format!("feed-import:{kind}:{prod}:{guid}").as_bytes());
    let mut bytes = [0u8; 6];
    bytes.copy_from_slice(&digest[..6]);
    Guid::from_bytes(bytes)
}

/// A production name from the feed's URL: its host and path, as a slug.
fn name_from_url(url: &url::Url) -> Option<ProductionName> {
    let raw = format!("{}{}", url.host_str().unwrap_or(""), url.path());
    let mut slug = String::new();
    for c in raw.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && slug.ends_with('_')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches('_');
    let slug: String = slug.strip_suffix("_xml").unwrap_or(slug).chars().take(44).collect();
    let slug = if slug.len() < 8 { format!("imported_{slug}") } else { slug };
    ProductionName::parse(slug.trim_end_matches('_')).ok()
}

/// Show notes as another host published them, made safe to publish again:
/// the formatting and links apps show are kept (ammonia's allow-list of
/// tags and attributes); scripts, styles, event handlers, iframes and
/// `javascript:` URLs go. Plain text passes unchanged.
fn sanitize(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return html.to_owned();
    }
    ammonia::Builder::default().link_rel(Some("noopener nofollow")).clean(html).to_string()
}

/// How long a mailed ownership code works, and how many wrong tries void it.
const PROOF_TTL: Timestamp = 30 * 60;
const PROOF_ATTEMPTS: u32 = 5;
/// One ownership code per owner address in this long.
const MAIL_EVERY: Timestamp = 15 * 60;

/// The code mailed for one requester and one feed URL: a new mail replaces it.
fn proof_key(requester: &str, url: &str) -> Key {
    Key::new(format!("FEEDPROOF#{}", hex::encode(Sha256::digest(format!("{requester}\n{url}").as_bytes()))), "PROOF")
}

/// Only this hash of a code is stored, bound to who asked and for which feed.
fn proof_hash(requester: &str, url: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("ownership\n{requester}\n{url}\n{code}").as_bytes()))
}

/// `ann@example.com` → `a•••@example.com`: enough for the owner to know where to look.
fn masked_address(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('?')),
        None => "•••".into(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl Podops {
    /// `POST /a/v1/import/feed`: records the import and queues its job.
    pub async fn start_feed_import(&self, caller: &Caller, request: FeedImportRequest) -> Result<FeedImport, ServiceError> {
        // The job writes the show and its episodes: the token must allow both.
        caller.require(Scope::ProductionWrite)?;
        caller.require(Scope::ResourceWrite)?;
        let url = check_import_url_allowing(&request.url, &self.media.allow_addresses).map_err(|r| ServiceError::ImportRefused { code: r.code, reason: r.reason })?;
        if let Some(code) = &request.ownership_code {
            if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Invalid::new("ownership_code", "import.ownership_code_format", "the code is the 8 digits of the mail").into());
            }
        }
        let name = if request.dry_run {
            None
        } else {
            let name = match request.name.as_deref() {
                Some(n) => ProductionName::parse(n)?,
                None => name_from_url(&url).ok_or_else(|| Invalid::new("name", "name.length", "name the production: none can be made from this URL"))?,
            };
            // Another's production of that name is refused now; a new one is made
            // only once the feed has been read, so a bad feed leaves nothing behind.
            self.writable_production(caller, &name).await?;
            Some(name)
        };
        // The import's record and job live in a partition of their own.
        let partition = Guid::random();
        let id = Guid::random();
        let now = self.clock.now();
        let import = FeedImport {
            id: format!("{partition}-{id}"),
            url: url.to_string(),
            name: name.map(|n| n.as_str().to_owned()),
            production: None,
            dry_run: request.dry_run,
            ownership_proof: request.ownership_code.map(|c| proof_hash(caller.client.as_str(), url.as_str(), &c)),
            ownership_proven: false,
            state: "queued".into(),
            progress: ImportProgress::default(),
            report: None,
            error: None,
            requested_by: caller.client.to_string(),
            created: now,
            updated: now,
        };
        let job = Job { id: format!("feedimport-{id}"), ..Job::new(JobKind::FeedImport, partition.clone(), id.clone(), None, now) };
        let body = serde_json::to_value(&import).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut ops = vec![WriteOp::Create(Record { key: import_key(&partition, &id), version: Version::FIRST, body, expires_at: Some(now + IMPORT_TTL) })];
        ops.extend(self.create_job_ops(&job)?);
        self.records.transact(&ops).await?;
        self.send_job(&job).await?;
        Ok(FeedImport { ownership_proof: None, ..import })
    }

    /// `GET /a/v1/import/feed/{id}`: for who asked for it, and for whoever may read its production.
    pub async fn feed_import(&self, caller: &Caller, id: &str) -> Result<FeedImport, ServiceError> {
        let not_found = || ServiceError::ImportNotFound(id.to_owned());
        let (partition, import) = id.split_once('-').ok_or_else(not_found)?;
        let (partition, import) = (Guid::parse(partition).map_err(|_| not_found())?, Guid::parse(import).map_err(|_| not_found())?);
        let (found, _) = self.load_feed_import(&partition, &import).await?.ok_or_else(not_found)?;
        let own = found.requested_by == caller.client.as_str();
        let member = match &found.production {
            Some(prod) => caller.require(Scope::ProductionRead).is_ok() && self.authorize(caller, prod, Need::Read).await.is_ok(),
            None => false,
        };
        if !own && !member && !caller.scopes.is_admin() {
            return Err(not_found());
        }
        Ok(FeedImport { ownership_proof: None, ..found })
    }

    /// The import a `feed_import` job runs.
    pub async fn feed_import_of(&self, job: &Job) -> Result<Option<FeedImport>, ServiceError> {
        Ok(self.load_feed_import(&job.production, &job.asset).await?.map(|(i, _)| i))
    }

    async fn load_feed_import(&self, partition: &Guid, import: &Guid) -> Result<Option<(FeedImport, Version)>, ServiceError> {
        self.load_json(&import_key(partition, import)).await
    }

    /// Changes the import's record (retried on a concurrent write).
    async fn update_feed_import(&self, job: &Job, change: impl Fn(&mut FeedImport)) -> Result<FeedImport, ServiceError> {
        let key = import_key(&job.production, &job.asset);
        let changed = self.update_json(&key, Some(IMPORT_TTL), |i: &mut FeedImport, now| {
            change(i);
            i.updated = now;
        });
        changed.await?.ok_or_else(|| ServiceError::ImportNotFound(job.asset.to_string()))
    }

    /// The job started: `running`.
    pub async fn feed_import_running(&self, job: &Job) -> Result<(), ServiceError> {
        self.update_feed_import(job, |i| i.state = "running".into()).await.map(|_| ())
    }

    /// The import ends without importing anything: `failed` with a code.
    pub async fn fail_feed_import(&self, job: &Job, code: &str, message: &str) -> Result<(), ServiceError> {
        let problem = ImportProblem { guid: None, code: code.to_owned(), message: message.to_owned() };
        self.update_feed_import(job, |i| {
            i.state = "failed".into();
            i.error = Some(problem.clone());
        })
        .await
        .map(|_| ())
    }

    /// The feed's channel has been read (a first pass over the whole feed,
    /// which counted `items`): the import is refused (locked), reported (dry
    /// run) or gets its production and show. `None`: it ended, failed.
    pub async fn begin_feed_import(&self, job: &Job, show: &SourceShow, items: u32) -> Result<Option<FeedImportRun>, ServiceError> {
        let Some(import) = self.feed_import_of(job).await? else { return Ok(None) };
        let mut report = ImportReport { title: show.title.clone(), items, dry_run: import.dry_run, ..ImportReport::default() };
        let now = self.clock.now();
        if show.locked {
            // podcast:locked yes: the owner asked hosts not to take the show, unless it is
            // the owner who moves it (a code mailed to the feed's owner address proves it).
            if import.dry_run {
                let message = "the feed is locked (podcast:locked yes): the import needs the owner's code";
                report.problems.push(ImportProblem { guid: None, code: "import.locked".into(), message: message.into() });
            } else if !import.ownership_proven {
                if let Some((code, message)) = self.check_ownership(&import, show).await? {
                    return self.fail_feed_import(job, code, &message).await.map(|()| None);
                }
                self.update_feed_import(job, |i| i.ownership_proven = true).await?;
            }
        }
        let Some(name) = import.name.as_deref().filter(|_| !import.dry_run) else {
            return Ok(Some(FeedImportRun { report, files: Vec::new(), target: None, imported_at: now, done: 0 }));
        };
        let caller = self.importer(&import)?;
        let name = ProductionName::parse(name)?;
        let prod = match self.writable_production(&caller, &name).await {
            Ok(Some(prod)) => prod,
            Ok(None) => {
                let title = truncate(if show.title.is_empty() { name.as_str() } else { &show.title }, 255);
                match self.create_production(&caller, NewProduction { name: name.clone(), title, summary: String::new() }).await {
                    Ok(p) => p.guid,
                    // Made meanwhile by a retried run of this job, or by someone else: look again.
                    Err(ServiceError::NameTaken(_)) => match self.writable_production(&caller, &name).await {
                        Ok(Some(prod)) => prod,
                        _ => return self.fail_feed_import(job, "production.name_taken", "a production of that name was made meanwhile by someone else").await.map(|()| None),
                    },
                    Err(e) => return Err(e),
                }
            }
            Err(ServiceError::NameTaken(n)) => return self.fail_feed_import(job, "production.name_taken", &format!("the production '{n}' is another's")).await.map(|()| None),
            Err(e) => return Err(e),
        };
        self.update_feed_import(job, |i| {
            i.production = Some(prod.clone());
            i.progress = ImportProgress { items, done: 0 };
        })
        .await?;
        report.show_created = self.import_show(&caller, &prod, show, &mut report).await?;
        Ok(Some(FeedImportRun { report, files: Vec::new(), target: Some((caller, prod)), imported_at: now, done: 0 }))
    }

    /// The next items of the feed (a second pass reads it in batches), with
    /// the oddities found on the way: each item reported (dry run) or written.
    pub async fn import_feed_items(&self, job: &Job, run: &mut FeedImportRun, items: Vec<SourceItem>, findings: Vec<Finding>) -> Result<(), ServiceError> {
        for f in findings {
            run.report.problems.push(ImportProblem { guid: f.guid, code: f.code.to_owned(), message: f.message });
        }
        let Some((caller, prod)) = run.target.clone() else {
            // A dry run: what would be made.
            run.report.episodes_created += items.len() as u32;
            run.report.episodes.extend(items.into_iter().map(|i| ImportedEpisode { guid: i.guid, episode: Guid::from_bytes([0; 6]), asset: None, created: false }));
            run.cap();
            return Ok(());
        };
        for mut item in items {
            if item.published.is_none() {
                // The feed's order kept (newest first), a second apart: undated items
                // would otherwise wait out of the feed as unpublished.
                item.published = Some(run.imported_at - run.done as i64);
                let message = "no usable pubDate: published at the import time, in the feed's order".to_owned();
                run.report.problems.push(ImportProblem { guid: Some(item.guid.clone()), code: "import.no_date".into(), message });
            }
            self.import_item(&caller, &prod, &item, &mut run.report, &mut run.files).await?;
            run.done += 1;
            if run.done % PROGRESS_EVERY == 0 {
                let done = run.done as u32;
                self.update_feed_import(job, |i| i.progress.done = done).await?;
            }
            run.cap();
        }
        Ok(())
    }

    /// The import is done: its report (cut to what one record holds) is stored.
    pub async fn finish_feed_import(&self, job: &Job, mut report: ImportReport) -> Result<(), ServiceError> {
        report.truncated = report.episodes.len() > MAX_LISTED || report.problems.len() > MAX_LISTED;
        report.episodes.truncate(MAX_LISTED);
        report.problems.truncate(MAX_LISTED);
        // Bounded texts too, so the record fits one DynamoDB item (400 KB) whatever the feed holds.
        for e in &mut report.episodes {
            e.guid = truncate(&e.guid, MAX_TEXT);
        }
        for p in &mut report.problems {
            p.guid = p.guid.as_deref().map(|g| truncate(g, MAX_TEXT));
            p.message = truncate(&p.message, MAX_TEXT);
        }
        self.update_feed_import(job, |i| {
            i.state = "done".into();
            i.progress.done = report.items;
            i.progress.items = report.items;
            i.report = Some(report.clone());
        })
        .await
        .map(|_| ())
    }

    /// A locked feed's import goes on only for its owner: `None` when the
    /// import carries the right code, else why not (`import.locked` with a
    /// new code mailed to the feed's owner address, or a wrong code).
    async fn check_ownership(&self, import: &FeedImport, show: &SourceShow) -> Result<Option<(&'static str, String)>, ServiceError> {
        let named = [show.locked_owner.as_deref().unwrap_or(""), show.owner_email.as_str()];
        let Some(owner) = named.iter().find_map(|o| Email::parse(o.trim()).ok()) else {
            let message = "the feed is locked (podcast:locked yes) and names no owner address: its owner must unlock it at the current host";
            return Ok(Some(("import.locked", message.into())));
        };
        let key = proof_key(&import.requested_by, &import.url);
        if let Some(given) = &import.ownership_proof {
            let invalid = |m: &str| Ok(Some(("import.ownership_code_invalid", m.to_owned())));
            let Some(record) = self.records.get(&key).await? else {
                return invalid("no code is waiting for this feed (they work for 30 minutes): import it without a code to have one mailed");
            };
            let version = record.version;
            let (hash, mailed_to, attempts) = (record.body["hash"].as_str().unwrap_or(""), record.body["owner"].as_str().unwrap_or(""), record.body["attempts"].as_u64().unwrap_or(0));
            if attempts >= u64::from(PROOF_ATTEMPTS) {
                let _ = self.records.delete(&key, version).await;
                return invalid("too many wrong codes: import it without a code to have a new one mailed");
            }
            if hash == given && mailed_to == owner.as_str() {
                // Used once.
                let _ = self.records.delete(&key, version).await;
                return Ok(None);
            }
            // Every wrong try counts, also among concurrent ones: read again on a lost race.
            let mut current = Some(record);
            for _ in 0..5 {
                let Some(r) = current.take() else { break };
                let mut body = r.body.clone();
                body["attempts"] = json!(body["attempts"].as_u64().unwrap_or(0) + 1);
                let v = r.version;
                match self.records.replace(&Record { body, version: v.next(), ..r }, v).await {
                    Err(StoreError::Conflict) => current = self.records.get(&key).await?,
                    other => {
                        other?;
                        break;
                    }
                }
            }
            return invalid("the code is wrong");
        }
        let Some(mailer) = &self.mailer else {
            return Ok(Some(("import.locked", "the feed is locked (podcast:locked yes) and this server sends no mail to prove ownership".into())));
        };
        let now = self.clock.now();
        // At most one code a quarter of an hour to one address, whoever asks for which
        // feed: a feed naming someone else's address cannot make this server mail them on repeat.
        let throttle = Key::new(format!("OWNERMAIL#{}", hex::encode(Sha256::digest(owner.as_str().as_bytes()))), "MAILED");
        let marker = Record { key: throttle, version: Version::FIRST, body: json!({}), expires_at: Some(now + MAIL_EVERY) };
        match self.records.create(&marker).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let message = format!("the feed is locked (podcast:locked yes): a code was mailed to its owner address {} in the last 15 minutes; import it with that code, or again later", masked_address(owner.as_str()));
                return Ok(Some(("import.locked", message)));
            }
            Err(e) => return Err(e.into()),
        }
        let code = format!("{:08}", rand::random::<u32>() % 100_000_000);
        let body = json!({ "hash": proof_hash(&import.requested_by, &import.url, &code), "owner": owner.as_str(), "attempts": 0 });
        let record = Record { key: key.clone(), version: Version::FIRST, body, expires_at: Some(now + PROOF_TTL) };
        match self.records.get(&key).await? {
            Some(old) => self.records.replace(&Record { version: old.version.next(), ..record }, old.version).await?,
            None => self.records.create(&record).await?,
        }
        let title = truncate(&show.title, 120);
        let text = format!(
            "Someone asked to move your show \"{title}\" ({}) to PodOps.\n\nIf it was you, the code to prove the show is yours is {code}.\nIt works once, for 30 minutes.\n\nIf it was not you, ignore this message: the show stays where it is.\n",
            import.url
        );
        let mail = crate::ports::Mail { to: owner.to_string(), subject: format!("Moving \"{title}\" to PodOps: code {code}"), text };
        if let Err(e) = mailer.send(&mail).await {
            tracing::error!(error = %e, "ownership code not mailed");
            return Ok(Some(("import.locked", "the feed is locked (podcast:locked yes) and the code to prove ownership could not be mailed; try again later".into())));
        }
        let message = format!(
            "the feed is locked (podcast:locked yes): a code was mailed to its owner address {}; import it again with ownership_code to prove the show is yours",
            masked_address(owner.as_str())
        );
        Ok(Some(("import.locked", message)))
    }

    /// The worker stored its copy of an episode's transcript or chapters at
    /// `key`: the feed links it from now on (unless the URL changed meanwhile).
    pub async fn store_episode_file(&self, file: &EpisodeFile, key: &BlobKey) -> Result<(), ServiceError> {
        for _ in 0..8 {
            let stored = self.load(&file.production, Kind::Episode, &file.episode).await?;
            let crate::domain::ResourceBody::Episode(mut ep) = stored.body.clone() else { return Ok(()) };
            let (url, copy) = if file.field == "transcript" { (&ep.transcript, &mut ep.transcript_object) } else { (&ep.chapters, &mut ep.chapters_object) };
            if url.as_deref() != Some(file.url.as_str()) {
                return Ok(());
            }
            *copy = Some(key.to_string());
            let updated = crate::domain::Resource { version: stored.version.next(), updated: self.clock.now(), body: crate::domain::ResourceBody::Episode(ep), ..stored.clone() };
            match self.records.replace(&super::resources::resource_record(&updated)?, stored.version).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Who the job writes as: who asked, with write scopes; their role is checked on every write.
    fn importer(&self, import: &FeedImport) -> Result<Caller, ServiceError> {
        let client = ClientId::parse(&import.requested_by)?;
        let scopes = Scopes::new(vec![Scope::ProductionWrite, Scope::ResourceWrite, Scope::ResourceRead, Scope::ProductionRead]);
        Ok(Caller { client, scopes, context: RequestContext { via: "feed-import", ..RequestContext::default() } })
    }

    /// Creates the show from the channel unless the production has one (kept as it is).
    async fn import_show(&self, caller: &Caller, prod: &Guid, s: &SourceShow, report: &mut ImportReport) -> Result<bool, ServiceError> {
        let existing = self.bodies_of(prod, Kind::Show, |_| Some(())).await?;
        if !existing.is_empty() {
            return Ok(false);
        }
        let mut body = Map::new();
        body.insert("title".into(), json!(truncate(if s.title.is_empty() { "Imported show" } else { &s.title }, 255)));
        body.insert("description".into(), json!(truncate(&sanitize(&s.description), 4000)));
        body.insert("language".into(), json!(s.language));
        body.insert("link".into(), json!(s.link));
        body.insert("category".into(), json!(s.category));
        match (s.category.as_deref(), s.subcategory.as_deref()) {
            (Some(cat), Some(sub)) if !crate::feed::apple::subcategory_fits(cat, sub) => {
                // Hosts let some through that Apple's list puts elsewhere ("Tech News" is News'):
                // the show is publishable without it; the owner may choose another.
                let message = format!("subcategory '{sub}' is not one of '{cat}' in Apple's list: left out");
                report.problems.push(ImportProblem { guid: None, code: "import.subcategory_dropped".into(), message });
            }
            _ => {
                body.insert("subcategory".into(), json!(s.subcategory));
            }
        }
        body.insert("explicit".into(), json!(s.explicit.unwrap_or(false)));
        if let Some(t) = s.show_type.as_deref().filter(|t| *t == "episodic" || *t == "serial") {
            body.insert("type".into(), json!(t));
        }
        body.insert("author".into(), json!(truncate(&s.author, 255)));
        body.insert("owner".into(), json!({ "name": s.owner_name, "email": s.owner_email }));
        body.insert("copyright".into(), json!(truncate(&s.copyright, 255)));
        body.insert("image".into(), json!(s.image));
        body.insert("podcast_guid".into(), json!(s.podcast_guid));
        let id = derived("show", prod, "show");
        match self.create_tolerantly(caller, prod, Kind::Show, &id, body, None, report).await? {
            Created::Made => Ok(true),
            Created::Existed | Created::Failed => Ok(false),
        }
    }

    async fn import_item(&self, caller: &Caller, prod: &Guid, item: &SourceItem, report: &mut ImportReport, files: &mut Vec<EpisodeFile>) -> Result<(), ServiceError> {
        let episode = derived("episode", prod, &item.guid);
        if self.load(prod, Kind::Episode, &episode).await.is_ok() {
            report.episodes_existing += 1;
            let asset = item.enclosure.as_ref().map(|_| derived("asset", prod, &item.guid));
            report.episodes.push(ImportedEpisode { guid: item.guid.clone(), episode, asset, created: false });
            return Ok(());
        }
        let mut asset = None;
        if let Some(enclosure) = &item.enclosure {
            let id = derived("asset", prod, &item.guid);
            let file = url::Url::parse(&enclosure.url).ok().and_then(|u| u.path_segments().and_then(|mut s| s.next_back().map(str::to_owned))).unwrap_or_default();
            let mut body = Map::new();
            body.insert("rel".into(), json!("import"));
            body.insert("source".into(), json!(enclosure.url));
            body.insert("name".into(), json!(truncate(&file, 255)));
            if enclosure.content_type.contains('/') {
                body.insert("content_type".into(), json!(truncate(&enclosure.content_type, 127)));
            }
            match self.create_tolerantly(caller, prod, Kind::Asset, &id, body, Some(&item.guid), report).await? {
                Created::Made | Created::Existed => asset = Some(id),
                Created::Failed => {}
            }
        } else {
            report.problems.push(ImportProblem { guid: Some(item.guid.clone()), code: "import.no_enclosure".into(), message: "the item has no enclosure: imported without audio".into() });
        }
        let mut body = Map::new();
        body.insert("title".into(), json!(truncate(if item.title.is_empty() { "Untitled" } else { &item.title }, 255)));
        body.insert("summary".into(), json!(truncate(&sanitize(&item.description), 4000)));
        body.insert("content".into(), json!(truncate(&sanitize(&item.content), 100_000)));
        body.insert("link".into(), json!(item.link));
        body.insert("published".into(), json!(item.published));
        body.insert("season".into(), json!(item.season.filter(|s| *s > 0)));
        body.insert("episode".into(), json!(item.episode.filter(|e| *e > 0)));
        if let Some(t) = &item.episode_type {
            body.insert("type".into(), json!(t));
        }
        body.insert("explicit".into(), json!(item.explicit.unwrap_or(false)));
        body.insert("block".into(), json!(item.block));
        body.insert("image".into(), json!(item.image));
        body.insert("transcript".into(), json!(item.transcripts.first().map(|(u, _)| u)));
        body.insert("chapters".into(), json!(item.chapters));
        body.insert("feed_guid".into(), json!(item.guid));
        body.insert("enclosure".into(), json!(asset));
        let created = self.create_tolerantly(caller, prod, Kind::Episode, &episode, body, Some(&item.guid), report).await?;
        if created == Created::Made {
            let linked = [("transcript", item.transcripts.first().map(|(u, _)| u.clone())), ("chapters", item.chapters.clone())];
            for (field, url) in linked {
                if let Some(url) = url {
                    files.push(EpisodeFile { production: prod.clone(), episode: episode.clone(), guid: item.guid.clone(), field, url });
                }
            }
        }
        if created != Created::Failed {
            report.episodes_created += u32::from(created == Created::Made);
            report.episodes.push(ImportedEpisode { guid: item.guid.clone(), episode, asset, created: created == Created::Made });
        }
        Ok(())
    }

    /// Creates a resource from what a feed gave. A field the server refuses
    /// (a malformed URL, an odd language tag) is dropped and reported, and the
    /// rest kept; a resource that exists (a retried job) is left as it is.
    #[allow(clippy::too_many_arguments)]
    async fn create_tolerantly(
        &self,
        caller: &Caller,
        prod: &Guid,
        kind: Kind,
        id: &Guid,
        mut body: Map<String, Value>,
        guid: Option<&str>,
        report: &mut ImportReport,
    ) -> Result<Created, ServiceError> {
        loop {
            match self.create_resource(caller, prod, kind, id, Value::Object(body.clone())).await {
                Ok(_) => return Ok(Created::Made),
                Err(ServiceError::ResourceExists { .. }) => return Ok(Created::Existed),
                Err(ServiceError::Invalid(e)) => {
                    let field = e.field.split(['.', '[']).next().unwrap_or("").to_owned();
                    let message = format!("{kind} {field}: {}", e.message);
                    report.problems.push(ImportProblem { guid: guid.map(str::to_owned), code: e.code.to_owned(), message });
                    if body.remove(&field).is_none() || field == "title" {
                        return Ok(Created::Failed);
                    }
                }
                Err(ServiceError::ImportRefused { code, reason }) => {
                    report.problems.push(ImportProblem { guid: guid.map(str::to_owned), code: code.to_owned(), message: format!("{kind}: {reason}") });
                    return Ok(Created::Failed);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Created {
    Made,
    Existed,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_notes_keep_their_formatting_and_lose_what_runs() {
        let clean = sanitize(r#"<p>Hi <b>there</b> <a href="https://x.example.com/" onclick="steal()">link</a></p><script>alert(1)</script><img src="javascript:alert(2)"><iframe src="https://evil.example.com/"></iframe>"#);
        assert!(clean.contains("<p>Hi <b>there</b>") && clean.contains(r#"href="https://x.example.com/""#), "{clean}");
        for gone in ["script", "onclick", "javascript:", "iframe", "alert"] {
            assert!(!clean.contains(gone), "{gone} survived: {clean}");
        }
        assert_eq!(sanitize("plain words, no markup"), "plain words, no markup");
    }

    #[test]
    fn names_come_from_the_feed_url() {
        let name = |u: &str| name_from_url(&url::Url::parse(u).unwrap()).map(|n| n.as_str().to_owned());
        assert_eq!(name("https://feeds.example.com/my-show.xml").as_deref(), Some("feeds_example_com_my_show"));
        assert_eq!(name("https://a.io/").as_deref(), Some("imported_a_io"));
        assert!(name("https://feeds.simplecast.com/very/long/path/that/goes/on/and/on/feed.rss").is_some_and(|n| n.len() <= 44));
    }
}
