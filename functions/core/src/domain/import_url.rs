//! Which URLs an import may fetch, and which addresses it may connect to.
//! Pure rules: the API applies them when an import is asked for, and the
//! worker's guarded HTTP client applies them again to every address a name
//! resolves to and to every redirect (so DNS rebinding cannot slip past).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL or address is refused; `code` is what the asset's `error` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Refused {
    pub code: &'static str,
    pub reason: String,
}

pub const FORBIDDEN_SCHEME: &str = "import.forbidden_scheme";
pub const FORBIDDEN_ADDRESS: &str = "import.forbidden_address";
pub const URL_FORMAT: &str = "import.url_format";
/// Longest import URL taken (what the API document declares).
pub const MAX_URL: usize = 2000;

/// Parses an import URL: http or https only, with a host; a host written as
/// an IP address (in any of the forms `url` normalises: `2130706433`,
/// `0x7f.1`, `[::ffff:127.0.0.1]`) must be a public one.
pub fn check_import_url(s: &str) -> Result<Url, Refused> {
    check_import_url_allowing(s, &[])
}

/// `check_import_url`, except that the operator's `allowed` addresses (a
/// receiver on this machine, an internal mirror) pass too.
pub fn check_import_url_allowing(s: &str, allowed: &[IpAddr]) -> Result<Url, Refused> {
    let check_ip = |ip: IpAddr| if allowed.contains(&ip) { Ok(()) } else { check_ip(ip) };
    // As RFC 3986 writes a URL: anything else (spaces, quotes, brackets, non-ASCII) percent-encoded.
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(*c))) {
        return Err(Refused { code: URL_FORMAT, reason: format!("not a URL: {c:?} must be percent-encoded") });
    }
    if s.len() > MAX_URL {
        return Err(Refused { code: URL_FORMAT, reason: format!("the URL is longer than {MAX_URL} characters") });
    }
    let url = Url::parse(s).map_err(|e| Refused { code: FORBIDDEN_SCHEME, reason: format!("not a URL: {e}") })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused { code: FORBIDDEN_SCHEME, reason: format!("scheme '{}' is not http or https", url.scheme()) });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused { code: FORBIDDEN_SCHEME, reason: "credentials in import URLs are not accepted".into() });
    }
    match url.host() {
        None => Err(Refused { code: FORBIDDEN_SCHEME, reason: "the URL has no host".into() }),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)).map(|()| url),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)).map(|()| url),
        Some(Host::Domain(_)) => Ok(url),
    }
}

pub fn check_ip(ip: IpAddr) -> Result<(), Refused> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(Refused { code: FORBIDDEN_ADDRESS, reason: format!("{ip} is not a public address") })
    }
}

/// Globally routable unicast only: no loopback, private, link-local (incl.
/// the cloud metadata address 169.254.169.254), unique-local, CGNAT,
/// multicast, unspecified, documentation, benchmarking or reserved ranges,
/// and no IPv6 form that embeds an IPv4 address (mapped, compatible, NAT64,
/// 6to4, Teredo), since those can reach IPv4 hosts the rules above refuse.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                                   // "this network", 0.0.0.0
        || a == 10                                         // private
        || a == 127                                        // loopback
        || (a == 100 && (64..=127).contains(&b))           // CGNAT 100.64/10
        || (a == 169 && b == 254)                          // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b))            // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)                // 6to4 relay anycast
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (b == 18 || b == 19))              // benchmarking
        || (a == 198 && b == 51 && c == 100)               // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xff00) == 0xff00                       // multicast
        || (s[0] & 0xffc0) == 0xfe80                       // link-local
        || (s[0] & 0xffc0) == 0xfec0                       // site-local (deprecated)
        || (s[0] & 0xfe00) == 0xfc00                       // unique-local
        || (s[0] == 0x2001 && s[1] == 0x0db8)              // documentation
        || (s[0] == 0x2001 && s[1] == 0)                   // Teredo
        || s[0] == 0x2002                                  // 6to4
        || (s[0] == 0x0064 && s[1] == 0xff9b)              // NAT64
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])        // discard-only
        || s[..5] == [0, 0, 0, 0, 0];                      // IPv4-mapped and -compatible (::ffff:a.b.c.d, ::a.b.c.d)
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str) -> Option<&'static str> {
        check_import_url(url).err().map(|r| r.code)
    }

    #[test]
    fn the_issue_urls_are_refused_before_any_fetch() {
        for url in ["http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/",
                    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0/", "http://10.1.2.3/",
                    "http://100.64.0.1/", "http://[fd00::1]/", "http://[fe80::1]/", "http://224.0.0.1/", "http://[64:ff9b::7f00:1]/"] {
            assert_eq!(code(url), Some(FORBIDDEN_ADDRESS), "{url}");
        }
        for url in ["file:///etc/passwd", "gopher://example.com:70/1", "ftp://example.com/a.mp3", "not-a-url", "http://user:pw@example.com/a"] {
            assert_eq!(code(url), Some(FORBIDDEN_SCHEME), "{url}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        for url in ["not a url", "https://example.com/a b.mp3", "https://example.com/\"q\"", "https://exämple.com/", &long] {
            assert_eq!(code(url), Some(URL_FORMAT), "{url}");
        }
    }

    #[test]
    fn public_hosts_and_names_pass_the_url_check() {
        assert_eq!(code("https://example.com/ep.mp3"), None);
        assert_eq!(code("https://example.com/feed.rss?format=xml&x=%20(1)*"), None);
        assert_eq!(code("http://93.184.215.14/ep.mp3"), None);
        assert_eq!(code("http://[2606:4700::1111]/"), None);
        // Names are checked when they resolve, in the worker.
        assert_eq!(code("http://localhost/"), None);
    }
}
