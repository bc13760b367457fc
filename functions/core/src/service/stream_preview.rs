//! `POST /a/v1/ffmpeg/preview`: the commands a worker would run for a stream,
//! secrets masked, with warnings about the profile against its inputs.

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{
    resource::parse_client_body_with, stream::Mismatch, Guid, Kind, OutputKind, Profile, Resource, ResourceBody, Scope, Stream, StreamInput,
    StreamOutput,
};
use crate::live::{
    command::{encoder_args, source_args, Source, Target},
    redact::Redactor,
};

use super::{Caller, Need, Podops, ServiceError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewCommand {
    /// `source` (decodes the input to PCM) or `output`.
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputKind>,
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewWarning {
    pub code: &'static str,
    pub params: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The first command (the source); every command is in `commands`.
    pub argv: Vec<String>,
    pub commands: Vec<PreviewCommand>,
    pub warnings: Vec<PreviewWarning>,
}

/// Where the worker puts a stream's local files; shown in previews.
pub const PREVIEW_SCRATCH: &str = "/var/lib/podops/scratch/streams";

impl Podops {
    /// Previews a stored stream, or a stream body not yet stored.
    pub async fn preview_stream(&self, caller: &Caller, prod: &Guid, stored: Option<&Guid>, body: Option<Value>) -> Result<Preview, ServiceError> {
        caller.require(Scope::ResourceRead)?;
        let production = self.authorize(caller, prod, Need::Read).await?;
        let stream = match (stored, body) {
            (Some(id), _) => match self.load(prod, Kind::Stream, id).await? {
                Resource { body: ResourceBody::Stream(s), .. } => s,
                _ => return Err(ServiceError::ResourceNotFound { kind: Kind::Stream, guid: id.clone() }),
            },
            (None, Some(body)) => match parse_client_body_with(Kind::Stream, body, &self.media.allow_addresses)? {
                ResourceBody::Stream(s) => s,
                _ => unreachable!("parsed as a stream"),
            },
            (None, None) => return Err(crate::domain::Invalid::new("stream", "field.required", "give a stream body, or production and stream").into()),
        };
        let body = ResourceBody::Stream(stream.clone());
        self.check_live_references(&production, &body).await?;
        let profile = self.profile_of(prod, &stream).await?;
        let mut warnings = Vec::new();
        let first_file = self.source_warnings(prod, &stream, &profile, &mut warnings).await?;
        let secrets: Vec<&str> = stream.outputs.iter().filter_map(StreamOutput::secret).collect();
        let redactor = Redactor::new(secrets);
        let dir = format!("{PREVIEW_SCRATCH}/{}", stored.map(Guid::as_str).unwrap_or("new"));
        let source = match &stream.input {
            StreamInput::Tone(t) => Source::Tone(t.frequency),
            StreamInput::Url(_) => Source::Stdin,
            StreamInput::Playlist(_) => Source::File(std::path::Path::new(first_file.as_deref().unwrap_or("item-1"))),
        };
        let mut commands = vec![PreviewCommand { role: "source", output: None, argv: source_args(&source, &profile) }];
        for o in &stream.outputs {
            let hls_dir = std::path::PathBuf::from(format!("{dir}/hls"));
            let argv = match o {
                StreamOutput::Hls {} => encoder_args(&profile, &Target::Hls { dir: &hls_dir, segment_seconds: profile.hls_segment_seconds() }),
                StreamOutput::Icecast { url, password } => {
                    let u = url::Url::parse(url).map_err(|_| crate::domain::Invalid::new("url", "stream.output_url", "bad url"))?;
                    let host = format!("{}:{}", u.host_str().unwrap_or(""), u.port().unwrap_or(8000));
                    encoder_args(&profile, &Target::Icecast { host: &host, mount: u.path(), password })
                }
                StreamOutput::Rtmp { url, stream_key } => encoder_args(&profile, &Target::Rtmp { url, stream_key }),
            };
            commands.push(PreviewCommand { role: "output", output: Some(o.kind()), argv: argv.iter().map(|a| redactor.redact(a)).collect() });
        }
        if stream.outputs.iter().any(|o| o.kind() == OutputKind::Hls) && profile.hls_segment_seconds() > 6 {
            warnings.push(PreviewWarning { code: "preview.hls_segment_long", params: json!({ "seconds": profile.hls_segment_seconds(), "recommended_max": 6 }) });
        }
        Ok(Preview { argv: commands[0].argv.clone(), commands, warnings })
    }

    /// Compares the profile with each playlist item's probe; returns the first item's file name.
    async fn source_warnings(&self, prod: &Guid, stream: &Stream, profile: &Profile, warnings: &mut Vec<PreviewWarning>) -> Result<Option<String>, ServiceError> {
        let StreamInput::Playlist(pl) = &stream.input else { return Ok(None) };
        let Resource { body: ResourceBody::Playlist(playlist), .. } = self.load(prod, Kind::Playlist, pl).await? else { return Ok(None) };
        let mut first = None;
        for item in &playlist.items {
            let Ok(Resource { body: ResourceBody::Asset(asset), .. }) = self.load(prod, Kind::Asset, &item.asset).await else { continue };
            if first.is_none() {
                first = self.media_key(prod, &item.asset, &asset)?.map(|k| k.as_str().to_owned());
            }
            let Some(probe) = &asset.probe else { continue };
            let params = |extra: Value| {
                let mut p = json!({ "asset": item.asset });
                if let (Some(p), Value::Object(e)) = (p.as_object_mut(), extra) {
                    p.extend(e);
                }
                p
            };
            let mut found = profile.mismatches(probe.sample_rate, probe.bitrate, probe.channels);
            // The preview lists a bitrate first, as it always has.
            found.sort_by_key(|(m, _)| *m != Mismatch::BitrateAboveSource);
            for (mismatch, extra) in found {
                let code = match mismatch {
                    Mismatch::Upsampling => "preview.upsampling",
                    Mismatch::BitrateAboveSource => "preview.bitrate_above_source",
                    Mismatch::MonoToStereo => "preview.mono_to_stereo",
                };
                warnings.push(PreviewWarning { code, params: params(extra) });
            }
        }
        Ok(first)
    }
}
