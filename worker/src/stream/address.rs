//! Output addresses are checked like imports: the host is resolved here and
//! every address must be public (or allowed by `--allow-address`); FFmpeg is
//! then given the checked IP, so a name cannot resolve differently for it
//! (DNS rebinding). rtmps keeps its name for TLS, after the same check.

use std::{net::IpAddr, sync::Arc};

use crate::fetch::{AddressPolicy, NameLookup};

/// `(host:port as FFmpeg should connect, path)`, or the failure code.
pub async fn resolve_output(lookup: &Arc<dyn NameLookup>, policy: &AddressPolicy, raw: &str) -> Result<(String, String), &'static str> {
    let url = url::Url::parse(raw).map_err(|_| "stream.output_url")?;
    let host = url.host_str().ok_or("stream.output_url")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port().unwrap_or(match url.scheme() {
        "icecast" => 8000,
        "rtmps" => 443,
        _ => 1935,
    });
    let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => lookup.lookup(&host).await.map_err(|_| "net.dns_failed")?,
    };
    if ips.is_empty() {
        return Err("net.dns_failed");
    }
    if ips.iter().any(|ip| !policy.allows(*ip)) {
        return Err("stream.forbidden_address");
    }
    let connect = if url.scheme() == "rtmps" {
        host
    } else {
        match ips[0] {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        }
    };
    Ok((format!("{connect}:{port}"), url.path().to_owned()))
}
