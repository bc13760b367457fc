//! The client's command line: global connection flags and the commands.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Args, Clone, Debug, Default)]
pub struct ClientOpts {
    /// The PodOps API to talk to (default: the profile's, from `podops login`).
    #[arg(long, env = "PODOPS_API", global = true)]
    pub api: Option<String>,
    /// The API token (default: the profile's).
    #[arg(long, env = "PODOPS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Which saved login to use.
    #[arg(long, env = "PODOPS_PROFILE", global = true, default_value = "default")]
    pub profile: String,
    /// The production to act on (guid or name; default: the one chosen with `podops use`).
    #[arg(long, env = "PODOPS_PRODUCTION", global = true)]
    pub production: Option<String>,
    /// Output: readable tables, or the API's objects as JSON or YAML for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Sign in and save the API and your key (mode 0600) as a profile: by email (the
    /// server mails a code, which this asks for), or with a token it checks first.
    ///
    /// Example: podops login --api https://api.example.com --email you@example.com
    ///
    /// Example: podops login --api https://api.example.com --token "$TOKEN" [--profile work]
    Login(LoginArgs),
    /// Forget the profile's token.
    ///
    /// Example: podops logout --profile work
    Logout,
    /// List or create productions.
    ///
    /// Example: podops production create my-first-podcast --title "My First Podcast"
    #[command(subcommand)]
    Production(ProductionCommand),
    /// Choose the production later commands act on.
    ///
    /// Example: podops use my-first-podcast
    Use { production: String },
    /// Read or write the production's show (the feed's channel).
    ///
    /// Example: podops show set --file show.yaml
    #[command(subcommand)]
    Show(ShowCommand),
    /// List, read, create, update or delete episodes.
    ///
    /// Example: podops episode create --file ep.yaml
    #[command(subcommand)]
    Episode(EpisodeCommand),
    /// Define, start, stop and watch live streams (status, logs).
    ///
    /// Example: podops stream create --file stream.yaml && podops stream start 5b1e0c9a7d42
    #[command(subcommand)]
    Stream(StreamCommand),
    /// List or create encoding profiles: what every output of a stream is encoded as
    /// (not to be confused with `--profile`, the saved login).
    ///
    /// Example: podops profile create --file profile.yaml --id aaaaaaaaaaa1
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// List or create playlists: assets a stream plays one after the other.
    ///
    /// Example: podops playlist create --file playlist.yaml
    #[command(subcommand)]
    Playlist(PlaylistCommand),
    /// Print a filled-in example file to start from.
    ///
    /// Example: podops template show > show.yaml
    Template { kind: TemplateKind },
    /// Upload a file as a new asset: resumable (run it again after a cut and
    /// only the missing parts are sent), with a progress bar on a terminal.
    ///
    /// Example: podops upload episode-1.mp3
    Upload(UploadArgs),
    /// Import audio from a URL (the server fetches it).
    ///
    /// Example: podops import https://example.com/old-feed/episode-1.mp3
    Import { url: String },
    /// Move a show in from its RSS feed: the show, every episode with its guid, and the audio
    /// (fetched by the server). Run it again to add what the old host published since.
    ///
    /// Example: podops import-feed https://feeds.old-host.example/my-show.xml --name my_show --dry-run
    ImportFeed {
        url: String,
        /// The production to import into (created if new; yours is synced). Default: from the URL.
        #[arg(long)]
        name: Option<String>,
        /// Only report what would be imported.
        #[arg(long)]
        dry_run: bool,
        /// A locked feed's owner code: the first import mails it to the feed's owner address.
        #[arg(long)]
        ownership_code: Option<String>,
        /// Seconds to wait for the import to finish.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Downloads and listeners of the production in use (IAB method; docs/analytics.md):
    /// a small table, or the API's answer with --output json.
    ///
    /// Example: podops stats --from 2026-11-01 --by episode
    Stats {
        /// First UTC day, YYYY-MM-DD (default: 29 days before --to).
        #[arg(long)]
        from: Option<String>,
        /// Last UTC day, included (default: today).
        #[arg(long)]
        to: Option<String>,
        /// day, episode, app or episode,day.
        #[arg(long, default_value = "day")]
        by: String,
    },
    /// Back a production up into one archive file (records, media, sha256 manifest), to
    /// restore into this or another PodOps (embedded or AWS) with `podops restore`.
    ///
    /// Example: podops export my_show -f my_show.tar
    Export {
        /// The production (name or guid). Default: the one in use.
        production: Option<String>,
        /// Where to write the archive (`-o` is the output format, as for every command).
        /// Default: `<production>.tar` here.
        #[arg(short = 'f', long = "file")]
        file: Option<std::path::PathBuf>,
        /// Seconds to wait for the backup to be written.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Restore an archive made by `podops export` as a new production (or into an empty one
    /// of yours); every object's sha256 is checked.
    ///
    /// Example: podops restore my_show.tar --name my_show_copy
    Restore {
        file: std::path::PathBuf,
        /// The production to restore into. Default: the archived production's name.
        #[arg(long)]
        name: Option<String>,
        /// Seconds to wait for the restore to finish.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Read an asset; --wait waits until it is probed (or failed).
    ///
    /// Example: podops asset get 3f2a9c01b7e4 --wait
    #[command(subcommand)]
    Asset(AssetCommand),
    /// Build and publish the feed; --dry-run only checks it.
    ///
    /// Example: podops build --dry-run
    Build {
        #[arg(long)]
        dry_run: bool,
    },
    /// From audio file to live feed: upload, wait for the probe, create the
    /// episode with the audio as its enclosure, build.
    ///
    /// Example: podops publish episode-1.mp3 --title "Episode 1" --file ep.yaml --at 2026-12-01T08:00:00Z
    Publish(PublishArgs),
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Sign in by email instead of with --token: the server mails a one-time code (valid
    /// 8 minutes), which this then asks for.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// The code from a mail already received: sends it without asking for a new mail or
    /// prompting (e.g. after `login.pending`).
    #[arg(long, requires = "email")]
    pub code: Option<String>,
    /// The code from your authenticator app, for an account with two-factor sign-in on
    /// (asked for when needed and not given).
    #[arg(long, requires = "email", value_name = "CODE")]
    pub totp: Option<String>,
}

// `podops token create|list|revoke`: a signed-in user's personal tokens. Without a
// subcommand, `podops token --client … --scopes …` mints a service token on the server
// (src/cli.rs). Plain comments: a doc comment here would replace the command's help.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// A personal token (`pot_…`) for a tool or CI, with at most your own rights; printed once.
    ///
    /// Example: podops token create --name ci --scopes resource:read,resource:write --expires-in 2592000
    Create {
        /// What the token is for (shown by `podops token list`).
        #[arg(long)]
        name: String,
        /// Comma- or space-separated: production:read, production:write, production:build,
        /// resource:read, resource:write.
        #[arg(long, value_delimiter = ',', num_args = 1.., required = true)]
        scopes: Vec<String>,
        /// Lifetime in seconds (60 to a year; default a year).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
    },
    /// Your sign-in key and personal tokens, masked.
    ///
    /// Example: podops token list
    List,
    /// Revoke a token (or your sign-in key) at once.
    ///
    /// Example: podops token revoke 3f2a9c01b7e4d5a6
    Revoke {
        /// The token's id (from `podops token list`).
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProductionCommand {
    /// Example: podops production list
    List,
    /// Example: podops production create my-first-podcast --title "My First Podcast"
    Create {
        /// 8–44 characters of a-z, 0-9, _ and -; also the feed's path.
        name: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShowCommand {
    /// Example: podops show get -o yaml > show.yaml
    Get,
    /// Example: podops show set --file show.yaml
    Set {
        /// YAML or JSON with the show's fields (see `podops template show`).
        #[arg(long, short)]
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum EpisodeCommand {
    /// Example: podops episode list
    List,
    /// Example: podops episode get 91804b93b56a
    Get { id: String },
    /// Example: podops episode create --file ep.yaml
    Create(CreateArgs),
    /// Changes only the fields the file has. Example: podops episode update 91804b93b56a --file ep.yaml
    Update {
        id: String,
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Example: podops episode delete 91804b93b56a
    Delete { id: String },
}

// A new resource from a file: `create --file F [--id ID]` (a plain comment: a doc comment
// here would become the help of every `create`).
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// YAML or JSON with its fields (`podops template KIND` prints an example).
    #[arg(long, short)]
    pub file: PathBuf,
    /// Its id (12 hex digits); default: random.
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// Example: podops stream list
    List,
    /// Example: podops stream get 5b1e0c9a7d42
    Get { id: String },
    /// Example: podops stream create --file stream.yaml --id 5b1e0c9a7d42
    Create(CreateArgs),
    /// A running stream cannot be deleted: stop it first. Example: podops stream delete 5b1e0c9a7d42
    Delete { id: String },
    /// Go live (the worker picks it up within seconds). Example: podops stream start 5b1e0c9a7d42
    Start { id: String },
    /// Example: podops stream stop 5b1e0c9a7d42
    Stop { id: String },
    /// Restart FFmpeg (e.g. after an edit). Example: podops stream restart 5b1e0c9a7d42
    Restart { id: String },
    /// Outputs stay connected and play silence. Example: podops stream pause 5b1e0c9a7d42
    Pause { id: String },
    /// Example: podops stream resume 5b1e0c9a7d42
    Resume { id: String },
    /// State, health, uptime, last error and each output with its listen URL.
    ///
    /// Example: podops stream status 5b1e0c9a7d42
    Status { id: String },
    /// Check the stream on a worker before going live: FFmpeg, assets, the source, each output
    /// with its credentials, the profile. Exits 2 when the level is red.
    ///
    /// Example: podops stream preflight 5b1e0c9a7d42
    Preflight { id: String },
    /// Encode 10 s through the stream's real commands into a local file on a worker, and
    /// report the speed, the output as probed (codec, rate, bitrate, loudness) and warnings.
    ///
    /// Example: podops stream dry-run 5b1e0c9a7d42
    DryRun { id: String },
    /// The stream's log (its last three runs); with --follow, new lines as they come, until
    /// Ctrl-C or the stream has stopped or failed. `-o json` prints JSON Lines.
    ///
    /// Example: podops stream logs 5b1e0c9a7d42 --follow
    Logs {
        id: String,
        /// Keep polling (every second) for new lines.
        #[arg(long, short)]
        follow: bool,
        /// Only the lines after this sequence number (a line's `seq`).
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Example: podops profile list
    List,
    /// Example: podops profile create --file profile.yaml --id aaaaaaaaaaa1
    Create(CreateArgs),
}

#[derive(Subcommand, Debug)]
pub enum PlaylistCommand {
    /// Example: podops playlist list
    List,
    /// Example: podops playlist create --file playlist.yaml
    Create(CreateArgs),
}

#[derive(Subcommand, Debug)]
pub enum AssetCommand {
    /// Example: podops asset get 3f2a9c01b7e4 --wait
    Get {
        id: String,
        /// Wait until the worker has probed (or failed) the asset.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TemplateKind {
    Show,
    Episode,
    Stream,
    Profile,
    Playlist,
}

#[derive(Args, Debug, Clone)]
pub struct UploadArgs {
    pub file: PathBuf,
    /// Parts sent at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Size of each part in MiB (5–5120).
    #[arg(long, default_value_t = 8)]
    pub part_size: u64,
    /// Cap the upload's rate, in bytes per second (suffixes K, M, G), like curl's --limit-rate.
    #[arg(long, value_parser = parse_rate)]
    pub limit_rate: Option<u64>,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    #[command(flatten)]
    pub upload: UploadArgs,
    #[arg(long)]
    pub title: Option<String>,
    /// More episode fields, YAML or JSON (see `podops template episode`).
    #[arg(long = "file", short = 'f')]
    pub episode_file: Option<PathBuf>,
    /// When the episode goes live: RFC 3339 (2026-12-01T08:00:00Z) or UNIX seconds; default now.
    #[arg(long)]
    pub at: Option<String>,
    /// The episode's id (12 hex digits); default: random.
    #[arg(long)]
    pub id: Option<String>,
}

fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a rate such as 500K or 10M"))?;
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("{text:?}: the unit is K, M or G")),
    };
    Ok(n * scale).and_then(|r: u64| if r == 0 { Err("the rate must be above 0".to_owned()) } else { Ok(r) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_take_curl_suffixes() {
        assert_eq!(super::parse_rate("500K"), Ok(500 << 10));
        assert_eq!(super::parse_rate("10M"), Ok(10 << 20));
        assert_eq!(super::parse_rate("123"), Ok(123));
        assert!(super::parse_rate("10X").is_err());
        assert!(super::parse_rate("0").is_err());
    }
}
