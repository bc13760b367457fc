//! Secrets never leave the worker in a log line, a status, a preview or an
//! error: every text that could hold one passes through `Redactor`, which
//! replaces each secret in every form FFmpeg or a URL may print it —
//! plain, percent-encoded (either hex case, the userinfo or the full set),
//! and form-encoded.

use crate::domain::stream::MASK;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every form of every secret, longest first (so a form containing another is replaced whole).
    forms: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut forms = Vec::new();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            let all = percent_encode_all(s);
            let candidates = [s.to_owned(), all.clone(), all.to_lowercase_hex(), userinfo_encode(s), s.replace(' ', "+"), url_form(s)];
            for c in candidates {
                if !c.is_empty() && !forms.contains(&c) {
                    forms.push(c);
                }
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        Self { forms }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MASK);
            }
        }
        out
    }
}

trait LowerHex {
    fn to_lowercase_hex(&self) -> String;
}

impl LowerHex for String {
    /// `%2F` → `%2f`, leaving other characters as they are.
    fn to_lowercase_hex(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut chars = self.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '%' {
                for _ in 0..2 {
                    if let Some(h) = chars.next() {
                        out.push(h.to_ascii_lowercase());
                    }
                }
            }
        }
        out
    }
}

/// Every byte but RFC 3986's unreserved characters, upper-case hex.
pub fn percent_encode_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// As the `url` crate writes a password into a URL's userinfo.
fn userinfo_encode(s: &str) -> String {
    let mut u = match url::Url::parse("icecast://h/") {
        Ok(u) => u,
        Err(_) => return String::new(),
    };
    if u.set_username("u").is_err() || u.set_password(Some(s)).is_err() {
        return String::new();
    }
    u.password().unwrap_or_default().to_owned()
}

/// As `application/x-www-form-urlencoded` writes it.
fn url_form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let secret = "s3cr/t%2Fpass word";
        let r = Redactor::new([secret]);
        let forms = [
            secret.to_owned(),
            percent_encode_all(secret),
            percent_encode_all(secret).to_lowercase_hex(),
            userinfo_encode(secret),
            url_form(secret),
        ];
        for f in forms {
            let line = format!("[tcp] connecting to icecast://source:{f}@127.0.0.1:8000/live failed");
            let out = r.redact(&line);
            assert!(!out.contains(&f), "{out}");
            assert!(out.contains("source:••••@"), "{out}");
        }
        assert_eq!(Redactor::new(["key"]).redact("nothing here"), "nothing here");
    }
}
