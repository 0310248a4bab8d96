//! Request signing, V2 and V4 (spec §2): the canonical string, HMAC, and the
//! `Authorization` header, for the client to sign and the server to verify.
//!
//! ```text
//! METHOD \n
//! for k in sorted(content-md5, content-type, date, x-odps-* headers, x-odps-* params):
//!     "k:v\n" for x-odps-*, else "v\n"
//! resource (percent-decoded path without the endpoint's prefix) ["?" sorted k[=v]&...]
//! ```

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Percent-decode `s` (`+` is a space, as in form encoding).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a path segment or query value (unreserved characters kept; space is `%20`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Split a raw query string into decoded `(key, value)` pairs (bare `k` gives `("k", "")`).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The string to sign.
///
/// `resource` is the decoded path with the endpoint's own prefix (`/api`) removed;
/// `params` the decoded query pairs; `headers` the request headers (any case).
pub fn string_to_sign(
    method: &str,
    resource: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let mut signed: std::collections::BTreeMap<String, String> = Default::default();
    signed.insert("content-md5".into(), String::new());
    signed.insert("content-type".into(), String::new());
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        if k == "content-md5" || k == "content-type" || k == "date" || k.starts_with("x-odps-") {
            signed.insert(k, v.clone());
        }
    }
    // pyodps keeps the last value of a repeated parameter
    let mut pmap: std::collections::BTreeMap<&str, &str> = Default::default();
    for (k, v) in params {
        pmap.insert(k, v);
    }
    for (k, v) in &pmap {
        if k.starts_with("x-odps-") {
            signed.insert((*k).to_string(), (*v).to_string());
        }
    }
    let mut s = String::with_capacity(256);
    s.push_str(method);
    s.push('\n');
    for (k, v) in &signed {
        if k.starts_with("x-odps-") {
            s.push_str(k);
            s.push(':');
        }
        s.push_str(v);
        s.push('\n');
    }
    s.push_str(resource);
    if !pmap.is_empty() {
        s.push('?');
        for (i, (k, v)) in pmap.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push_str(k);
            if !v.is_empty() {
                s.push('=');
                s.push_str(v);
            }
        }
    }
    s
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length
    let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// V2 signature: base64(HMAC-SHA1(secret, string_to_sign)).
pub fn sign_v2(access_key: &str, string_to_sign: &str) -> String {
    b64(&hmac_sha1(access_key.as_bytes(), string_to_sign.as_bytes()))
}

/// The V4 signing key for a UTC day (`yyyymmdd`) and region.
pub fn v4_signing_key(access_key: &str, yyyymmdd: &str, region: &str) -> Vec<u8> {
    let k = hmac_sha256(
        format!("aliyun_v4{access_key}").as_bytes(),
        yyyymmdd.as_bytes(),
    );
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, b"odps");
    hmac_sha256(&k, b"aliyun_v4_request")
}

/// V4 signature: base64(HMAC-SHA1(derived key, string_to_sign)).
pub fn sign_v4(access_key: &str, yyyymmdd: &str, region: &str, string_to_sign: &str) -> String {
    b64(&hmac_sha1(
        &v4_signing_key(access_key, yyyymmdd, region),
        string_to_sign.as_bytes(),
    ))
}

/// `Authorization` header value for V2.
pub fn authorization_v2(access_id: &str, access_key: &str, string_to_sign: &str) -> String {
    format!("ODPS {access_id}:{}", sign_v2(access_key, string_to_sign))
}

/// `Authorization` header value for V4.
pub fn authorization_v4(
    access_id: &str,
    access_key: &str,
    yyyymmdd: &str,
    region: &str,
    string_to_sign: &str,
) -> String {
    format!(
        "ODPS {access_id}/{yyyymmdd}/{region}/odps/aliyun_v4_request:{}",
        sign_v4(access_key, yyyymmdd, region, string_to_sign)
    )
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `ODPS <id>:<sig>`
    V2 {
        /// AccessKeyId.
        access_id: String,
        /// Base64 signature.
        signature: String,
    },
    /// `ODPS <id>/<yyyymmdd>/<region>/odps/aliyun_v4_request:<sig>`
    V4 {
        /// AccessKeyId.
        access_id: String,
        /// UTC day of the signing key.
        date: String,
        /// Region of the signing key.
        region: String,
        /// Base64 signature.
        signature: String,
    },
}

impl Authorization {
    /// Parse a header value; `None` when it is not an ODPS signature.
    pub fn parse(value: &str) -> Option<Authorization> {
        let rest = value.trim().strip_prefix("ODPS ")?;
        let (cred, sig) = rest.rsplit_once(':')?;
        let parts: Vec<&str> = cred.split('/').collect();
        match parts.as_slice() {
            [id] => Some(Authorization::V2 {
                access_id: id.to_string(),
                signature: sig.to_string(),
            }),
            [id, date, region, "odps", "aliyun_v4_request"] => Some(Authorization::V4 {
                access_id: id.to_string(),
                date: date.to_string(),
                region: region.to_string(),
                signature: sig.to_string(),
            }),
            _ => None,
        }
    }

    /// The AccessKeyId that signed.
    pub fn access_id(&self) -> &str {
        match self {
            Authorization::V2 { access_id, .. } | Authorization::V4 { access_id, .. } => access_id,
        }
    }

    /// Whether the signature matches `string_to_sign` under `access_key`.
    pub fn verify(&self, access_key: &str, string_to_sign: &str) -> bool {
        let (want, got) = match self {
            Authorization::V2 { signature, .. } => (sign_v2(access_key, string_to_sign), signature),
            Authorization::V4 {
                date,
                region,
                signature,
                ..
            } => (sign_v4(access_key, date, region, string_to_sign), signature),
        };
        want.len() == got.len()
            && want
                .bytes()
                .zip(got.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn canonical_string_matches_spec_example() {
        let params = parse_query("reload=False&uploads=1&curr_project=p1");
        let headers = strs(&[
            ("Date", "Mon, 23 Nov 2026 19:12:11 GMT"),
            ("x-odps-tunnel-version", "6"),
            ("x-odps-user-agent", "pyodps/0.13.2 CPython/3.11"),
            ("User-Agent", "ignored"),
            ("odps-tunnel-date-transform", "v1"),
        ]);
        let s = string_to_sign("POST", "/projects/p1/tables/t_simple", &params, &headers);
        assert_eq!(
            s,
            "POST\n\n\nMon, 23 Nov 2026 19:12:11 GMT\nx-odps-tunnel-version:6\n\
             x-odps-user-agent:pyodps/0.13.2 CPython/3.11\n\
             /projects/p1/tables/t_simple?curr_project=p1&reload=False&uploads=1"
        );
    }

    #[test]
    fn bare_keys_decoding_and_x_odps_params() {
        let params = parse_query("data&downloadid=d1&rowrange=%280%2C3%29&x-odps-foo=b%20c");
        let s = string_to_sign("GET", "/projects/p 1/t", &params, &[]);
        assert_eq!(
            s,
            "GET\n\n\nx-odps-foo:b c\n/projects/p 1/t?data&downloadid=d1&rowrange=(0,3)&x-odps-foo=b c"
        );
    }

    #[test]
    fn v2_and_v4_verify_and_reject() {
        let sts = "GET\n\n\nMon, 23 Nov 2026 19:12:11 GMT\n/projects/p1";
        let h = authorization_v2("ak", "sk", sts);
        let a = Authorization::parse(&h).unwrap();
        assert_eq!(a.access_id(), "ak");
        assert!(a.verify("sk", sts));
        assert!(!a.verify("wrong", sts));
        assert!(!a.verify("sk", "GET\n"));
        let h = authorization_v4("ak", "sk", "20261123", "cn-hangzhou", sts);
        let a = Authorization::parse(&h).unwrap();
        assert!(matches!(a, Authorization::V4 { .. }));
        assert!(a.verify("sk", sts));
        assert!(!a.verify("sk2", sts));
        // known-answer: HMAC-SHA1 of RFC 2202 test case 2
        assert_eq!(
            sign_v2("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        assert!(Authorization::parse("Basic abc").is_none());
    }
}
