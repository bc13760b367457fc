//! Shared by the function tests: a fresh AWS stack on the emulator per test
//! (moto at `PODOPS_TEST_AWS_ENDPOINT`, started by ./scripts/test), the
//! function processes and their runtime API, and the events.
#![allow(dead_code)]

pub mod events;
pub mod function;
pub mod runtime_api;
pub mod serve;

use podops_adapters::aws::{AwsClients, AwsConfig, DynamoRecords, dlq_name, provision};
use podops_api::TokenAuthority;
use podops_core::{
    domain::{AssetState, ClientId, Probe, Resource, ResourceBody, Scope, Scopes},
    ports::{Clock, Key, Record, Records, SystemClock},
    signing::derive_key,
};
use podops_lambda::{AUDIENCE, Function, ISSUER};

pub use function::Lambda;

/// Never skips: a missing emulator is a failure, with the way to fix it.
pub fn endpoint() -> String {
    match std::env::var("PODOPS_TEST_AWS_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PODOPS_TEST_AWS_ENDPOINT is not set. Run the tests with ./scripts/test (it starts moto server), \
             or set it to a running emulator, e.g. PODOPS_TEST_AWS_ENDPOINT=http://127.0.0.1:5000 cargo test -p podops-lambda"
        ),
    }
}

/// A name valid for a table, a bucket, a queue and an SSM path alike.
pub fn unique(what: &str) -> String {
    format!("podops-fn-{what}-{:012x}", rand::random::<u64>() >> 16)
}

/// One deployment: its own table, buckets and queues on the emulator, and
/// the signing secret its functions share.
pub struct Stack {
    pub config: AwsConfig,
    pub clients: AwsClients,
    secret: Vec<u8>,
    /// The SSM parameter holding the secret, or `None` to pass it as hex.
    parameter: Option<String>,
    /// Overrides: a value, or `None` to leave the variable out.
    extra: Vec<(String, Option<String>)>,
}

pub const FEED_BASE_URL: &str = "https://feeds.example.test";
pub const PUBLIC_MEDIA_URL: &str = "https://media.example.test";

impl Stack {
    /// Fresh resources; functions get the secret in `PODOPS_SIGNING_KEY`.
    pub async fn fresh() -> Self {
        let queue = unique("jobs");
        let config = AwsConfig {
            table: unique("table"),
            media_bucket: unique("media"),
            public_bucket: unique("public"),
            dlq_name: dlq_name(&queue),
            queue_name: queue,
            ..AwsConfig::named(Some(endpoint()), "us-east-1")
        };
        let clients = AwsClients::new(&config).await;
        provision::provision(&clients, &config).await.expect("provision the stack");
        Self { config, clients, secret: rand::random::<[u8; 32]>().to_vec(), parameter: None, extra: Vec::new() }
    }

    /// Fresh resources; the secret is an SSM SecureString, as in production.
    pub async fn fresh_with_ssm_key() -> Self {
        let mut stack = Self::fresh().await;
        let name = format!("/{}/signing-key", unique("stack"));
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint())
            .load()
            .await;
        aws_sdk_ssm::Client::new(&shared)
            .put_parameter()
            .name(&name)
            .value(hex::encode(&stack.secret))
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("put the signing key parameter");
        stack.parameter = Some(name);
        stack
    }

    /// Another variable for every function started after this.
    pub fn set(&mut self, name: &str, value: &str) {
        self.extra.push((name.into(), Some(value.into())));
    }

    /// Leaves a variable out for every function started after this.
    pub fn unset(&mut self, name: &str) {
        self.extra.push((name.into(), None));
    }

    /// The variables infra/template.yaml sets, plus what the Lambda service
    /// and the emulator need.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("PODOPS_TABLE", &self.config.table),
            ("PODOPS_MEDIA_BUCKET", &self.config.media_bucket),
            ("PODOPS_PUBLIC_BUCKET", &self.config.public_bucket),
            ("PODOPS_QUEUE", &self.config.queue_name),
            ("PODOPS_FEED_BASE_URL", FEED_BASE_URL),
            ("PODOPS_PUBLIC_MEDIA_URL", PUBLIC_MEDIA_URL),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.push(("AWS_ENDPOINT_URL".into(), endpoint()));
        match &self.parameter {
            Some(name) => env.push(("PODOPS_SIGNING_KEY_PARAMETER".into(), name.clone())),
            None => env.push(("PODOPS_SIGNING_KEY".into(), hex::encode(&self.secret))),
        }
        for (name, value) in &self.extra {
            env.retain(|(k, _)| k != name);
            if let Some(value) = value {
                env.push((name.clone(), value.clone()));
            }
        }
        env
    }

    pub async fn start(&self, function: Function) -> Lambda {
        Lambda::start(function, &self.env()).await
    }

    /// A token signed with the stack's secret, as an operator holding the
    /// secret mints the first admin token.
    pub fn token(&self, client: &str, scopes: &str) -> String {
        let tokens = TokenAuthority::new(&derive_key(&self.secret, "jwt"), ISSUER, AUDIENCE);
        let scopes = scopes.split_whitespace().map(|s| Scope::parse(s).expect("scope")).collect();
        let client = ClientId::parse(client).expect("client id");
        tokens.mint(&client, &Scopes::new(scopes), SystemClock.now(), 3600).expect("mint").0
    }

    /// The master secret as `podops serve` keeps it in `<data-dir>/secret`.
    pub fn secret_hex(&self) -> String {
        hex::encode(&self.secret)
    }

    pub fn records(&self) -> DynamoRecords {
        DynamoRecords::new(self.clients.dynamodb.clone(), &self.config.table)
    }

    /// Stands in for the worker's probe (no FFmpeg in a Lambda test): the
    /// uploaded audio becomes ready, as a 30-minute MP3 at 128 kb/s.
    pub async fn probe_as_the_worker_would(&self, prod: &str, asset: &str) {
        let records = self.records();
        let key = Key::new(format!("PROD#{prod}"), format!("ASSET#{asset}"));
        let stored = records.get(&key).await.expect("read the asset").expect("the asset exists");
        let mut resource = Resource::from_value(stored.body.clone()).expect("an asset");
        let ResourceBody::Asset(a) = &mut resource.body else { panic!("not an asset: {:?}", stored.body) };
        a.state = AssetState::Ready;
        a.probe = Some(Probe { format: "mp3".into(), codec: "mp3".into(), duration: 1800.0, bitrate: 128_000, channels: 2, sample_rate: 44_100, ..Probe::default() });
        resource.version = stored.version.next();
        let body = serde_json::to_value(&resource).expect("json");
        records.replace(&Record { key, version: resource.version, body, expires_at: None }, stored.version).await.expect("mark probed");
    }

    /// The bodies of the messages waiting on the jobs queue.
    pub async fn queued_messages(&self) -> Vec<String> {
        let url = self.clients.sqs.get_queue_url().queue_name(&self.config.queue_name).send().await.expect("queue url");
        let out = self
            .clients
            .sqs
            .receive_message()
            .queue_url(url.queue_url().unwrap_or_default())
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages().iter().filter_map(|m| m.body().map(str::to_owned)).collect()
    }
}
