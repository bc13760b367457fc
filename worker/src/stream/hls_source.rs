//! HLS as a relayed source. FFmpeg's own HLS demuxer would open every
//! playlist and segment URL itself, past the address guard; instead the worker
//! follows the playlist with the guarded client (each URL, each redirect
//! checked) and writes the segments, in order, to the decoder's stdin — MPEG-TS
//! and packed-audio segments concatenate into one valid stream (an fMP4
//! stream's init segment goes first).

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::fetch::Fetcher;

/// Largest playlist and segment read (a hostile server cannot make us buffer more).
const MAX_PLAYLIST: usize = 1 << 20;
const MAX_SEGMENT: usize = 64 << 20;
/// Segments taken from the end of the first playlist: start near the live edge.
const START_BEHIND: usize = 3;

/// Whether an opened source is an HLS playlist rather than an audio stream.
pub fn is_playlist(response: &reqwest::Response) -> bool {
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    content_type.contains("mpegurl") || response.url().path().ends_with(".m3u8")
}

#[derive(Debug, Default, PartialEq)]
struct MediaPlaylist {
    sequence: u64,
    target: u64,
    init: Option<String>,
    segments: Vec<String>,
    ended: bool,
}

fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[at..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(',').next(),
    }
}

/// A master playlist's first variant, if the text is a master playlist.
fn first_variant(text: &str) -> Option<&str> {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            return lines.find(|l| !l.is_empty() && !l.starts_with('#'));
        }
    }
    None
}

fn parse_media(text: &str) -> MediaPlaylist {
    let mut p = MediaPlaylist { target: 6, ..MediaPlaylist::default() };
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.sequence = n.trim().parse().unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = n.trim().parse().unwrap_or(6);
        } else if line.starts_with("#EXT-X-MAP") {
            p.init = attribute(line, "URI").map(str::to_owned);
        } else if line.starts_with("#EXT-X-ENDLIST") {
            p.ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            p.segments.push(line.to_owned());
        }
    }
    p
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut response = response;
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            return Err(format!("larger than {limit} bytes"));
        }
    }
    Ok(out)
}

async fn fetch(fetcher: &Fetcher, url: &str, limit: usize) -> Result<(Vec<u8>, reqwest::Url), String> {
    let response = fetcher.open(url).await.map_err(|e| e.code.to_owned())?;
    let final_url = response.url().clone();
    Ok((read_limited(response, limit).await?, final_url))
}

/// One segment (or init segment), fetched through the guard, into the decoder.
async fn copy_segment(fetcher: &Fetcher, base: &reqwest::Url, uri: &str, stdin: &mut tokio::process::ChildStdin) -> Result<(), String> {
    let url = base.join(uri).map_err(|_| "source.bad_playlist".to_owned())?;
    let (bytes, _) = fetch(fetcher, url.as_str(), MAX_SEGMENT).await?;
    stdin.write_all(&bytes).await.map_err(|_| "source.decoder_closed".to_owned())
}

/// Follows the playlist (already opened as `first`) and writes its segments
/// to `stdin` until the stream ends, stalls, or a fetch fails. Returns why.
pub async fn follow(fetcher: &Fetcher, first: reqwest::Response, mut stdin: tokio::process::ChildStdin) -> String {
    let mut base = first.url().clone();
    let mut text = match read_limited(first, MAX_PLAYLIST).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return e,
    };
    if let Some(variant) = first_variant(&text).map(str::to_owned) {
        let Ok(url) = base.join(&variant) else { return "source.bad_playlist".into() };
        match fetch(fetcher, url.as_str(), MAX_PLAYLIST).await {
            Ok((b, u)) => {
                text = String::from_utf8_lossy(&b).into_owned();
                base = u;
            }
            Err(e) => return e,
        }
    }
    let playlist_url = base.clone();
    let mut next: Option<u64> = None;
    let mut init_sent = false;
    let mut last_new = tokio::time::Instant::now();
    loop {
        let p = parse_media(&text);
        if p.segments.is_empty() && p.ended {
            return "source.ended".into();
        }
        if !init_sent {
            if let Some(init) = &p.init {
                if let Err(why) = copy_segment(fetcher, &base, init, &mut stdin).await {
                    return why;
                }
            }
            init_sent = true;
        }
        let first_wanted = next.unwrap_or_else(|| p.sequence + p.segments.len().saturating_sub(START_BEHIND) as u64);
        for (i, segment) in p.segments.iter().enumerate() {
            let seq = p.sequence + i as u64;
            if seq < first_wanted {
                continue;
            }
            if let Err(why) = copy_segment(fetcher, &base, segment, &mut stdin).await {
                return why;
            }
            next = Some(seq + 1);
            last_new = tokio::time::Instant::now();
        }
        if p.ended {
            return "source.ended".into();
        }
        if last_new.elapsed() > Duration::from_secs(3 * p.target.max(2)) {
            return "source.stalled".into();
        }
        tokio::time::sleep(Duration::from_secs((p.target / 2).clamp(1, 6))).await;
        match fetch(fetcher, playlist_url.as_str(), MAX_PLAYLIST).await {
            Ok((b, u)) => {
                text = String::from_utf8_lossy(&b).into_owned();
                base = u;
            }
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_and_master_playlists_are_read() {
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:17\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.0,\nseg-17.ts\n#EXTINF:4.0,\nseg-18.ts\n";
        let p = parse_media(media);
        assert_eq!((p.sequence, p.target, p.init.as_deref(), p.segments.len(), p.ended), (17, 4, Some("init.mp4"), 2, false));
        assert!(parse_media("#EXTM3U\nseg.ts\n#EXT-X-ENDLIST\n").ended);
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\nlow/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=128000\nhigh/index.m3u8\n";
        assert_eq!(first_variant(master), Some("low/index.m3u8"));
        assert_eq!(first_variant(media), None);
    }
}
