//! The AWS backend: records on DynamoDB, blobs on S3, jobs on SQS, the SDK
//! clients they share (with a request counter), and the provisioning of the
//! resources they expect. Works against AWS or an emulator (moto, LocalStack).

mod config;
mod connect;
mod dynamo_rate;
mod dynamo_records;
pub mod parameters;
pub mod provision;
mod s3_blobs;
mod s3_multipart;
mod s3_upload;
mod sqs_jobs;

pub use connect::{AwsPorts, ConnectError, ConnectOptions, Needs, connect, connect_with};
pub use config::{AwsCallCounter, AwsCalls, AwsClients, AwsConfig, DEFAULT_MAX_RECEIVES, SdkTuning, Service, dlq_name};
pub use dynamo_rate::DynamoRateBudgets;
pub use dynamo_records::DynamoRecords;
pub use parameters::{ParameterError, read_master_secret, read_parameter};
pub use s3_blobs::{S3Blobs, SHA256_METADATA};
pub use s3_upload::{PART_SIZE, STAGING_PREFIX};
pub use sqs_jobs::SqsJobs;
