//! FFmpeg's known failures, in plain words: a log line that matches gets a
//! machine-readable code and a hint a podcaster can act on.

/// What a log line says went wrong, if it is a failure we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    pub code: &'static str,
    pub hint: &'static str,
}

const KNOWN: &[(&[&str], Hint)] = &[
    (
        &["already publishing", "mountpoint in use", "mount point in use"],
        Hint { code: "output.mount_in_use", hint: "Another source is already streaming to that mount or stream key." },
    ),
    (
        &["401 unauthorized", "authentication required", "authorization failed", "authentication failed"],
        Hint { code: "output.auth_failed", hint: "The server refused the credentials: check the password or stream key." },
    ),
    (
        &["connection refused"],
        Hint { code: "net.connection_refused", hint: "Nothing accepts connections at that host and port: check the address and that the server is up." },
    ),
    (
        &["name or service not known", "failed to resolve", "temporary failure in name resolution", "no address associated"],
        Hint { code: "net.dns_failed", hint: "The host name does not resolve: check its spelling and the DNS." },
    ),
    (
        &["connection timed out", "operation timed out", "timed out"],
        Hint { code: "net.timeout", hint: "The other side did not answer in time: check the address, firewalls and the network." },
    ),
    (
        &["broken pipe", "connection reset by peer", "end of file"],
        Hint { code: "net.connection_lost", hint: "The other side closed the connection: it may have restarted, or refused the stream." },
    ),
    (
        &["403 forbidden", "access denied"],
        Hint { code: "output.forbidden", hint: "The server refused the stream: the mount or key may be taken by another source, or not allowed for this login." },
    ),
    (
        &["404 not found", "server returned 404"],
        Hint { code: "http.not_found", hint: "The server has nothing at that path: check the URL, mount or application name." },
    ),
    (
        &["invalid data found when processing input"],
        Hint { code: "media.invalid_data", hint: "The input is not audio FFmpeg can read, or it is cut off." },
    ),
    (
        &["input/output error"],
        Hint { code: "net.io_error", hint: "Reading or writing failed on the connection: the other side may have closed it." },
    ),
];

pub fn classify(line: &str) -> Option<Hint> {
    let lower = line.to_ascii_lowercase();
    KNOWN.iter().find(|(needles, _)| needles.iter().any(|n| lower.contains(n))).map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_failures_get_codes() {
        assert_eq!(classify("[tcp @ 0x55] Connection to tcp://127.0.0.1:1935 failed: Connection refused").map(|h| h.code), Some("net.connection_refused"));
        assert_eq!(classify("Server returned 401 Unauthorized (authorization failed)").map(|h| h.code), Some("output.auth_failed"));
        assert_eq!(classify("pipe:0: Invalid data found when processing input").map(|h| h.code), Some("media.invalid_data"));
        assert_eq!(classify("av_interleaved_write_frame(): Broken pipe").map(|h| h.code), Some("net.connection_lost"));
        assert_eq!(classify("size=  100kB time=00:00:10"), None);
    }
}
