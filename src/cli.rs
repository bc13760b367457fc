//! The command line. Every flag has an environment variable; flags win.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "podops", version, about = "Podcast hosting and publishing: API server, worker and client")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub client: crate::client::ClientOpts,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole PodOps API on this machine (SQLite + a media directory).
    ///
    /// Example: podops serve --listen 127.0.0.1:8080 --data-dir ./.podops
    Serve(ServeArgs),
    /// Mint a service token with the signing key (the data directory's, or an SSM parameter's);
    /// or, with a subcommand, manage your personal tokens through the API (create, list, revoke).
    ///
    /// Example: podops token --client studio-cli --scopes production:read,production:write,resource:read,resource:write
    ///
    /// On AWS (the first admin token of a deployment):
    /// podops token --signing-key-parameter /podops/signing-key --client admin --scopes admin
    ///
    /// Signed in (`podops login --email …`): podops token create --name ci --scopes resource:read
    Token(TokenArgs),
    /// Run the job worker: imports, probes and renditions (needs ffmpeg and ffprobe on PATH).
    ///
    /// Example: podops worker --data-dir ./.podops --concurrency 2
    ///
    /// On AWS: podops worker --backend aws --signing-key-parameter /podops/signing-key
    Worker(WorkerArgs),
    /// Create the AWS backend's table, buckets and queues, idempotently (AWS or an emulator).
    ///
    /// Example: podops provision --endpoint http://127.0.0.1:4566
    Provision(ProvisionArgs),
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PODOPS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the database, media and keys live.
    #[arg(long, env = "PODOPS_DATA_DIR", default_value = "./.podops")]
    pub data_dir: PathBuf,
    /// The URL clients reach this server at (for signed media URLs). Default: http://<listen>.
    #[arg(long, env = "PODOPS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: pretty (for a terminal) or json (for a log collector).
    #[arg(long, env = "PODOPS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Largest upload accepted, in bytes.
    #[arg(long, env = "PODOPS_MAX_UPLOAD", default_value_t = 4 << 30)]
    pub max_upload: u64,
    /// Largest JSON request body accepted, in bytes.
    #[arg(long, env = "PODOPS_MAX_JSON_BODY", default_value_t = 1 << 20)]
    pub max_json_body: usize,
    /// Lifetime of signed media URLs, in seconds.
    #[arg(long, env = "PODOPS_MEDIA_URL_TTL", default_value_t = 3600)]
    pub media_url_ttl: i64,
    /// Seconds after an edit of a published production before its feed rebuilds by itself.
    #[arg(long, env = "PODOPS_REBUILD_DELAY", default_value_t = 30)]
    pub rebuild_delay: i64,
    /// Seconds between merges of recorded downloads into the analytics (docs/analytics.md);
    /// 0: downloads are not recorded.
    #[arg(long, env = "PODOPS_ANALYTICS_FLUSH", default_value_t = 60)]
    pub analytics_flush: u64,
    /// Jobs (imports, probes, renditions) the in-process worker runs at once; 0: none (run `podops worker`).
    #[arg(long, env = "PODOPS_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Whether a first sign-in by email creates the user (`closed`: only existing users sign in).
    #[arg(long, env = "PODOPS_SIGNUP", value_enum, default_value_t = Signup::Open)]
    pub signup: Signup,
    #[command(flatten)]
    pub mail: MailArgs,
    /// An address that is an instance admin (repeat, or comma-separate in the env):
    /// how a fresh instance gets its first admin.
    #[arg(long = "admin-email", env = "PODOPS_ADMIN_EMAILS", value_delimiter = ',', value_parser = parse_email)]
    pub admin_emails: Vec<podops_core::domain::Email>,
    /// Anonymous API requests per client IP: rate per s|m|h, then the burst.
    #[arg(long, env = "PODOPS_RATE_ANONYMOUS", default_value = "3/s:20", value_parser = podops_api::rate_limit::Rate::parse)]
    pub rate_anonymous: podops_api::rate_limit::Rate,
    /// API requests per key, token or JWT.
    #[arg(long, env = "PODOPS_RATE_SIGNED_IN", default_value = "20/s:100", value_parser = podops_api::rate_limit::Rate::parse)]
    pub rate_signed_in: podops_api::rate_limit::Rate,
    /// All API requests of one client IP, with or without credentials.
    #[arg(long, env = "PODOPS_RATE_PER_IP", default_value = "100/s:500", value_parser = podops_api::rate_limit::Rate::parse)]
    pub rate_per_ip: podops_api::rate_limit::Rate,
    /// Sign-in requests (POST /a/v1/login) per client IP.
    #[arg(long, env = "PODOPS_RATE_LOGIN", default_value = "5/h:5", value_parser = podops_api::rate_limit::Rate::parse)]
    pub rate_login: podops_api::rate_limit::Rate,
    /// Take the client IP from X-Forwarded-For (behind a reverse proxy you run), not the socket.
    #[arg(long, env = "PODOPS_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// A token a Prometheus scraper sends (`Authorization: Bearer …`) for `GET /metrics`,
    /// instead of an admin's credentials.
    #[arg(long, env = "PODOPS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// No API rate limits at all (benchmarks, a server behind a limiting gateway).
    #[arg(long, env = "PODOPS_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// A non-public address that imports, stream sources and stream outputs may reach (an
    /// internal mirror, a receiver on this machine); repeatable. `--import-allow` is an alias.
    #[arg(long = "allow-address", visible_alias = "import-allow", value_name = "IP")]
    pub allow_address: Vec<std::net::IpAddr>,
    /// Live streams this worker runs at once; one at capacity leaves the rest to other workers.
    #[arg(long, env = "PODOPS_MAX_STREAMS", default_value_t = 4)]
    pub max_streams: usize,
    /// Where records, media and jobs live: SQLite + the data directory, or DynamoDB + S3 + SQS.
    /// The data directory's secret signs tokens and cursors either way.
    #[arg(long, env = "PODOPS_BACKEND", value_enum, default_value_t = Backend::Embedded)]
    pub backend: Backend,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub key: SigningKeyArgs,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// Where the master signing secret comes from.
#[derive(Args, Clone, Debug, Default)]
pub struct SigningKeyArgs {
    /// SSM SecureString parameter holding the master signing secret (hex), the one the Lambda
    /// functions read: tokens and signed URLs then work in both. Unset: the data directory's `secret`.
    #[arg(long, env = "PODOPS_SIGNING_KEY_PARAMETER", value_name = "NAME")]
    pub signing_key_parameter: Option<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Embedded,
    Aws,
}

/// Where the AWS backend lives; `podops provision` and `podops serve --backend aws` share these.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "AWS backend")]
pub struct AwsArgs {
    /// AWS API endpoint, e.g. an emulator (moto, LocalStack). Unset: the real AWS endpoints.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// DynamoDB table of all records.
    #[arg(long, env = "PODOPS_TABLE", default_value = "podops")]
    pub table: String,
    /// S3 bucket of uploaded media.
    #[arg(long, env = "PODOPS_MEDIA_BUCKET", default_value = "podops-media")]
    pub media_bucket: String,
    /// S3 bucket of published feeds.
    #[arg(long, env = "PODOPS_PUBLIC_BUCKET", default_value = "podops-public")]
    pub public_bucket: String,
    /// SQS jobs queue; its dead-letter queue is `<queue>-dlq`.
    #[arg(long, env = "PODOPS_QUEUE", default_value = "podops-jobs")]
    pub queue: String,
    /// Public origin (e.g. CloudFront) serving the media bucket's keys: feed enclosures link
    /// there, since presigned S3 URLs expire within 7 days.
    #[arg(long, env = "PODOPS_PUBLIC_MEDIA_URL")]
    pub public_media_url: Option<String>,
}

#[derive(Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Deliveries of a job message before SQS moves it to the dead-letter queue.
    #[arg(long, env = "PODOPS_MAX_RECEIVES", default_value_t = podops_adapters::aws::DEFAULT_MAX_RECEIVES)]
    pub max_receives: u32,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

// Either the server-side mint (`--client … --scopes …`, no subcommand) or the client's
// `create|list|revoke` subcommands, never both in one command line.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: Option<crate::client::TokenCommand>,
    /// The client id the token speaks for (its `sub`).
    #[arg(long, required = true)]
    pub client: Option<String>,
    /// Comma- or space-separated scopes: production:read, production:write, production:build,
    /// resource:read, resource:write, admin.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub scopes: Vec<String>,
    /// Lifetime in seconds (default 30 days).
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    pub expires_in: i64,
    #[arg(long, env = "PODOPS_DATA_DIR", default_value = "./.podops")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub key: SigningKeyArgs,
    /// AWS API endpoint for reading --signing-key-parameter (an emulator). Unset: AWS itself.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

/// Where changed feeds are announced (all off unless set). `podops serve` and every
/// `podops worker` take the same settings: the API side queues, the worker sends.
#[derive(Args, Clone)]
pub struct NotifyArgs {
    /// A WebSub hub: declared in every feed (`atom:link rel="hub"`) and told of each publish;
    /// repeatable (comma-separated in the env).
    #[arg(long = "websub-hub", env = "PODOPS_WEBSUB_HUBS", value_delimiter = ',', value_name = "URL")]
    pub websub_hubs: Vec<String>,
    /// Podcast Index's pubnotify endpoint, e.g. https://api.podcastindex.org/api/1.0/hub/pubnotify
    #[arg(long, env = "PODOPS_PUBNOTIFY_URL", value_name = "URL")]
    pub pubnotify_url: Option<String>,
    /// A podping endpoint, e.g. https://podping.cloud/ (with --podping-token).
    #[arg(long, env = "PODOPS_PODPING_URL", value_name = "URL")]
    pub podping_url: Option<String>,
    /// The token podping issued to this host (sent as `Authorization`; never logged).
    #[arg(long, env = "PODOPS_PODPING_TOKEN", hide_env_values = true)]
    pub podping_token: Option<String>,
    /// Announcements of one feed are coalesced within windows of this many seconds.
    #[arg(long, env = "PODOPS_NOTIFY_WINDOW", default_value_t = 60)]
    pub notify_window: i64,
    /// The public base URL of feeds (`<base>/feeds/<name>/feed.xml`), for a worker that
    /// announces live streams; `podops serve` uses its --public-url.
    #[arg(long, env = "PODOPS_FEED_BASE_URL", value_name = "URL")]
    pub feed_base_url: Option<String>,
}

impl NotifyArgs {
    pub fn targets(&self) -> anyhow::Result<podops_core::domain::notify::NotifyTargets> {
        use podops_core::domain::notify::{endpoint, NotifyTargets};
        // An empty value (the template's default for an unused setting) is no setting.
        let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let websub_hubs = self.websub_hubs.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).map(|h| endpoint("--websub-hub", h)).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?;
        let pubnotify = set(&self.pubnotify_url).map(|u| endpoint("--pubnotify-url", &u)).transpose().map_err(anyhow::Error::msg)?;
        let podping = match (set(&self.podping_url), set(&self.podping_token)) {
            (Some(url), Some(token)) => Some((endpoint("--podping-url", &url).map_err(anyhow::Error::msg)?, token)),
            (Some(_), None) => anyhow::bail!("--podping-url needs --podping-token (PODOPS_PODPING_TOKEN)"),
            (None, _) => None,
        };
        if !(1..=3600).contains(&self.notify_window) {
            anyhow::bail!("--notify-window is 1 to 3600 seconds");
        }
        Ok(NotifyTargets { websub_hubs, pubnotify, podping, window: self.notify_window })
    }
}

#[derive(Args)]
pub struct WorkerArgs {
    /// The data directory `podops serve` uses (database, media, secret).
    #[arg(long, env = "PODOPS_DATA_DIR", default_value = "./.podops")]
    pub data_dir: PathBuf,
    /// Jobs run at once.
    #[arg(long, env = "PODOPS_WORKER_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,
    /// Seconds a taken job stays hidden and leased; renewed every third of it while it runs.
    #[arg(long, env = "PODOPS_WORKER_VISIBILITY", default_value_t = 60)]
    pub visibility: u64,
    /// Deliveries before a job's message is dead-lettered (the queue's setting; `podops serve` uses 5).
    #[arg(long, env = "PODOPS_MAX_RECEIVES", default_value_t = 5)]
    pub max_receives: u32,
    /// Wall-clock limit of one job, in seconds.
    #[arg(long, env = "PODOPS_JOB_TIMEOUT", default_value_t = 3 * 3600)]
    pub job_timeout: u64,
    /// Seconds running jobs get to finish after SIGTERM before they are handed back.
    #[arg(long, env = "PODOPS_WORKER_GRACE", default_value_t = 30)]
    pub grace: u64,
    /// Largest import, in bytes.
    #[arg(long, env = "PODOPS_MAX_UPLOAD", default_value_t = 4 << 30)]
    pub max_import: u64,
    /// A non-public address that imports, stream sources and stream outputs may reach (an
    /// internal mirror, a receiver on this machine); repeatable. `--import-allow` is an alias.
    #[arg(long = "allow-address", visible_alias = "import-allow", value_name = "IP")]
    pub allow_address: Vec<std::net::IpAddr>,
    /// Live streams this worker runs at once; one at capacity leaves the rest to other workers.
    #[arg(long, env = "PODOPS_MAX_STREAMS", default_value_t = 4)]
    pub max_streams: usize,
    #[arg(long, env = "PODOPS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Where jobs, records and media live: the data directory's, or the AWS backend's (SQS,
    /// DynamoDB, S3, named as for `podops serve --backend aws`).
    #[arg(long, env = "PODOPS_BACKEND", value_enum, default_value_t = Backend::Embedded)]
    pub backend: Backend,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub key: SigningKeyArgs,
    #[command(flatten)]
    pub notify: NotifyArgs,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// How mail leaves: sign-in codes (`podops serve`), and the ownership codes of
/// locked feeds an import mails (`podops serve` and `podops worker`).
#[derive(Args, Clone, Debug)]
pub struct MailArgs {
    /// How mail goes: `auto` is SMTP with --smtp-url, else SES on `--backend aws`,
    /// else the outbox directory.
    #[arg(long, env = "PODOPS_MAILER", value_enum, default_value_t = MailVia::Auto)]
    pub mailer: MailVia,
    /// Send mail by SMTP (`smtp://host:port`, `smtps://user:pass@host:465`); unset:
    /// each message is written as an .eml file under <data-dir>/outbox/.
    #[arg(long, env = "PODOPS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of PodOps' mail.
    #[arg(long, env = "PODOPS_MAIL_FROM", default_value = "PodOps <podops@localhost>")]
    pub mail_from: String,
}

#[cfg(test)]
mod tests {
    /// clap checks its definitions only when a command is used; check them all at once.
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MailVia {
    Auto,
    /// `.eml` files under <data-dir>/outbox/.
    Outbox,
    Smtp,
    /// Amazon SES (v2); the sender (--mail-from) must be a verified identity.
    Ses,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signup {
    Open,
    Closed,
}

fn parse_email(s: &str) -> Result<podops_core::domain::Email, String> {
    podops_core::domain::Email::parse(s).map_err(|e| e.to_string())
}
