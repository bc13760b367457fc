//! `podops publish`: from an audio file to a live feed in one command.

use std::time::Duration;

use serde_json::json;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::{
    api::Api,
    args::{OutputFormat, PublishArgs},
    commands::{new_id, print_build, read_fields, wait_for_asset},
    upload, ClientError,
};

pub async fn publish(api: &Api, prod: &str, args: PublishArgs, out: OutputFormat) -> Result<(), ClientError> {
    // Everything that can be refused locally is checked before a byte is sent.
    let mut fields = match &args.episode_file {
        Some(file) => read_fields(file)?,
        None => json!({}),
    };
    let published = match &args.at {
        Some(at) => parse_time(at)?,
        None => OffsetDateTime::now_utc().unix_timestamp(),
    };
    if let Some(title) = &args.title {
        fields["title"] = json!(title);
    }
    if fields["title"].as_str().is_none_or(str::is_empty) {
        return Err(ClientError::usage("the episode needs a title: --title, or title: in --file"));
    }
    let id = args.id.clone().unwrap_or_else(new_id);

    let asset = upload::upload(api, prod, &args.upload).await?;
    let asset_id = asset["guid"].as_str().unwrap_or_default().to_owned();
    eprintln!("uploaded {} as asset {asset_id}; waiting for the probe", args.upload.file.display());
    let asset = wait_for_asset(api, prod, &asset_id, Duration::from_secs(600)).await?;
    if asset["state"] != "ready" {
        return Err(ClientError::Refused {
            status: 422,
            code: asset["error"].as_str().unwrap_or("asset.failed").to_owned(),
            message: format!("the audio could not be used (asset {asset_id} is {})", asset["state"]),
            params: json!({ "asset": asset_id }),
        });
    }
    fields["enclosure"] = json!(asset_id);
    fields["published"] = json!(published);
    let episode = api.post(&format!("/a/v1/resource/{prod}/episode/{id}"), &fields).await?;
    eprintln!("episode {id} created");
    let built = api.post("/a/v1/build", &json!({ "production": prod })).await?;
    if published > OffsetDateTime::now_utc().unix_timestamp() {
        eprintln!("scheduled: the episode appears in the feed at {} (the server rebuilds then)", args.at.as_deref().unwrap_or_default());
    }
    match out {
        OutputFormat::Table => print_build(out, &built, false),
        _ => super::output::print(out, &json!({ "asset": asset, "episode": episode, "build": built }), &[]),
    }
}

/// RFC 3339 (`2026-12-01T08:00:00Z`) or UNIX seconds.
fn parse_time(text: &str) -> Result<i64, ClientError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| ClientError::usage(format!("--at {text:?}: {e} (use RFC 3339 such as 2026-12-01T08:00:00Z, or UNIX seconds)")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        assert_eq!(super::parse_time("2026-12-01T08:00:00Z").ok(), Some(1_796_112_000));
        assert_eq!(super::parse_time("2026-12-01T09:00:00+01:00").ok(), Some(1_796_112_000));
        assert_eq!(super::parse_time("1796112000").ok(), Some(1_796_112_000));
        assert!(super::parse_time("next tuesday").is_err());
    }
}

