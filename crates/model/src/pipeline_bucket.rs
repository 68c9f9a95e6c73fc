//! Where an `s3-raw` or `aws` pipeline writes: an S3 bucket, Amazon's or any
//! S3-compatible store's, read from the create request's `s3_*` fields.
//!
//! Mixpanel's fields are `s3_bucket`, `s3_region`, `s3_prefix`, `s3_role`,
//! `s3_encryption` and `s3_kms_key_id`. Sextant adds `s3_endpoint` (an S3-compatible
//! server, written to with path-style requests) and a key pair, `s3_access_key_id` and
//! `s3_secret_access_key`; without a key pair the server's own AWS credentials are used
//! (its `AWS_*` environment, or the instance's role), and only for Amazon's S3: a
//! pipeline naming `s3_endpoint` must bring its own key pair. `s3_role` is kept and shown but
//! not assumed: Sextant writes with those credentials (UNCONFIRMED: Mixpanel assumes
//! the role from its own account; a self-hosted server has no such account).
//!
//! `aws` pipelines' Glue fields (`use_glue`, `glue_*`) are refused when they ask for
//! Glue: the server writes the tables' files, not a Glue catalogue.

use serde::{Deserialize, Serialize};

use crate::form::{Problem, problem, single};

/// At-rest encryption asked of the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S3Encryption {
    /// The bucket's default.
    #[default]
    None,
    /// SSE-S3 (AES-256).
    Aes,
    /// SSE-KMS, with `s3_kms_key_id` or the account's default key.
    Kms,
}

/// An S3 bucket a pipeline writes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Bucket {
    /// The bucket's name.
    pub bucket: String,
    /// Its region.
    pub region: String,
    /// An S3-compatible server's URL; `None`: Amazon's.
    pub endpoint: Option<String>,
    /// The role named at creation (kept, not assumed).
    pub role: Option<String>,
    /// At-rest encryption.
    pub encryption: S3Encryption,
    /// The KMS key of `kms` encryption.
    pub kms_key_id: Option<String>,
    /// The access key's id; `None`: the server's own credentials.
    pub access_key_id: Option<String>,
    /// The secret key, sealed by the server before it is stored (never in the clear).
    pub secret_access_key: Option<String>,
}

/// The fields an S3 pipeline may carry.
pub const S3_FIELDS: [&str; 9] = [
    "s3_bucket",
    "s3_region",
    "s3_prefix",
    "s3_role",
    "s3_encryption",
    "s3_kms_key_id",
    "s3_endpoint",
    "s3_access_key_id",
    "s3_secret_access_key",
];

/// The Glue fields of an `aws` pipeline: accepted only when they ask for no Glue.
pub const GLUE_FIELDS: [&str; 4] = ["use_glue", "glue_database", "glue_role", "glue_table_prefix"];

/// The longest value of any `s3_*` field.
const MAX_FIELD_BYTES: usize = 1_024;

/// The value of an `s3_*` field, if sent and not empty; a second value or a long one is
/// a problem.
fn value<'a>(fields: &'a [(String, String)], field: &str, problems: &mut Vec<Problem>) -> Option<&'a str> {
    let first = single(fields, field, problems).map(str::trim).filter(|v| !v.is_empty())?;
    if first.len() > MAX_FIELD_BYTES {
        problems.push(problem(field, format!("is longer than {MAX_FIELD_BYTES} bytes")));
        return None;
    }
    Some(first)
}

/// Whether `name` is a valid S3 bucket name: 3 to 63 lower-case letters, digits, `-`
/// and `.`, starting and ending with a letter or digit.
fn bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

impl S3Bucket {
    /// Reads the `s3_*` fields (and refuses Glue); every problem is one `(field, why)`.
    pub fn parse(fields: &[(String, String)], problems: &mut Vec<Problem>) -> Option<S3Bucket> {
        let before = problems.len();
        let bucket = value(fields, "s3_bucket", problems);
        match bucket {
            None => problems.push(problem("s3_bucket", "is required")),
            Some(b) if !bucket_name(b) => problems.push(problem(
                "s3_bucket",
                "must be 3 to 63 lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit",
            )),
            Some(_) => {}
        }
        let region = value(fields, "s3_region", problems);
        match region {
            None => problems.push(problem("s3_region", "is required")),
            Some(r) if !r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') => {
                problems.push(problem("s3_region", "must be a region's name, such as `us-east-1`"))
            }
            Some(_) => {}
        }
        let endpoint = value(fields, "s3_endpoint", problems);
        if let Some(url) = endpoint {
            let fine = matches!(url.split_once("://"), Some(("http" | "https", rest))
                if !rest.is_empty() && !rest.contains(char::is_whitespace));
            if !fine {
                problems.push(problem("s3_endpoint", "must be an http:// or https:// URL"));
            }
        }
        let encryption = match value(fields, "s3_encryption", problems) {
            None | Some("none") => S3Encryption::None,
            Some("aes") => S3Encryption::Aes,
            Some("kms") => S3Encryption::Kms,
            Some(other) => {
                problems.push(problem("s3_encryption", format!("must be `none`, `aes` or `kms`, not `{other}`")));
                S3Encryption::None
            }
        };
        let kms_key_id = value(fields, "s3_kms_key_id", problems);
        if kms_key_id.is_some() && encryption != S3Encryption::Kms {
            problems.push(problem("s3_kms_key_id", "applies to `s3_encryption=kms` only"));
        }
        let access_key_id = value(fields, "s3_access_key_id", problems);
        let secret = value(fields, "s3_secret_access_key", problems);
        if endpoint.is_some() && access_key_id.is_none() && secret.is_none() {
            // The server's own credentials are for Amazon's buckets its role reaches,
            // never sent to a server the request names.
            problems.push(problem("s3_access_key_id", "is required with `s3_endpoint` (and `s3_secret_access_key`)"));
        }
        if access_key_id.is_some() != secret.is_some() {
            problems.push(problem(
                if access_key_id.is_some() { "s3_secret_access_key" } else { "s3_access_key_id" },
                "is required with the other half of the key pair",
            ));
        }
        match value(fields, "use_glue", problems) {
            None | Some("false" | "False" | "0") => {}
            Some(_) => problems
                .push(problem("use_glue", "Glue is not written by this server: it writes the tables' files only")),
        }
        for field in &GLUE_FIELDS[1..] {
            if value(fields, field, problems).is_some() {
                problems.push(problem(field, "is for Glue, which this server does not write"));
            }
        }
        let role = value(fields, "s3_role", problems);
        if problems.len() > before {
            return None;
        }
        Some(S3Bucket {
            bucket: bucket?.to_string(),
            region: region?.to_string(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            role: role.map(str::to_string),
            encryption,
            kms_key_id: kms_key_id.map(str::to_string),
            access_key_id: access_key_id.map(str::to_string),
            secret_access_key: secret.map(str::to_string),
        })
    }

    /// The host of `endpoint` (`http://host:port/...`), when there is one.
    pub fn endpoint_host(&self) -> Option<String> {
        let url = self.endpoint.as_deref()?;
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or("");
        Some(match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']') => {
                host.to_string()
            }
            _ => authority.to_string(),
        })
    }

    /// What tells two buckets apart: the server and the bucket's name.
    pub fn location(&self) -> String {
        format!("{}/{}", self.endpoint.as_deref().unwrap_or("s3"), self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_bucket_is_read_with_its_server_and_keys() {
        let mut problems = Vec::new();
        let b = S3Bucket::parse(
            &fields(&[
                ("s3_bucket", "exports"),
                ("s3_region", "us-east-1"),
                ("s3_endpoint", "http://127.0.0.1:9000/"),
                ("s3_access_key_id", "AK"),
                ("s3_secret_access_key", "SK"),
                ("s3_encryption", "kms"),
                ("s3_kms_key_id", "k1"),
                ("use_glue", "false"),
            ]),
            &mut problems,
        )
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(b.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!((b.encryption, b.kms_key_id.as_deref()), (S3Encryption::Kms, Some("k1")));
        assert_eq!(b.location(), "http://127.0.0.1:9000/exports");
        assert_eq!(b.endpoint_host().as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut problems = Vec::new();
        let parsed = S3Bucket::parse(
            &fields(&[
                ("s3_bucket", "Bad_Bucket"),
                ("s3_region", "US EAST"),
                ("s3_endpoint", "ftp://x"),
                ("s3_access_key_id", "AK"),
                ("s3_encryption", "rot13"),
                ("use_glue", "true"),
                ("glue_database", "db"),
            ]),
            &mut problems,
        );
        assert!(parsed.is_none());
        let named: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "s3_bucket",
            "s3_region",
            "s3_endpoint",
            "s3_secret_access_key",
            "s3_encryption",
            "use_glue",
            "glue_database",
        ] {
            assert!(named.contains(&f), "{f} in {problems:?}");
        }
        let mut problems = Vec::new();
        assert!(S3Bucket::parse(&[], &mut problems).is_none());
        assert_eq!(problems.len(), 2, "bucket and region are required: {problems:?}");
    }
}
