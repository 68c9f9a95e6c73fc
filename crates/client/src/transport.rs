//! One call to the server: the URL, the credential, the body, and the retry loop.

use std::time::Instant;

use bytes::Bytes;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Response, Url};

use crate::credential::Credential;
use crate::error::{ApiError, Error};
use crate::retry::{self, RetryPolicy};

/// A request to send, as many times as the retry policy allows.
pub(crate) struct Call {
    pub method: Method,
    /// The path, from `/`.
    pub path: String,
    /// The query string (`a=1&b=2`), without the credential's `project_id`.
    pub query: String,
    pub body: Option<Body>,
    /// Whether sending it twice does no more than sending it once.
    pub idempotent: bool,
}

/// A request body.
pub(crate) struct Body {
    pub bytes: Bytes,
    pub content_type: &'static str,
    /// The bytes are gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
}

impl Call {
    /// A call of `method` on `path` with `params` serialised as its query string.
    pub fn new(method: Method, path: &str, params: &(impl serde::Serialize + ?Sized)) -> Result<Call, Error> {
        let query = serde_urlencoded::to_string(params)
            .map_err(|e| Error::Invalid(format!("parameters for {path} do not serialise: {e}")))?;
        let idempotent = is_read(&method, path);
        Ok(Call { method, path: path.to_string(), query, body: None, idempotent })
    }

    /// The same call with a body.
    pub fn body(self, body: Body) -> Call {
        Call { body: Some(body), ..self }
    }

    /// The same call, idempotent or not as `idempotent` says.
    pub fn idempotent(self, idempotent: bool) -> Call {
        Call { idempotent, ..self }
    }
}

/// Reads are idempotent: every `GET`, and the Query API's `POST`s (engage, JQL).
fn is_read(method: &Method, path: &str) -> bool {
    method == Method::GET || path.starts_with("/api/query/") || path.starts_with("/api/2.0/")
}

/// The HTTP client, where it sends, as whom, and its retry policy.
#[derive(Debug)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub base: Url,
    pub credential: Credential,
    pub retry: RetryPolicy,
}

impl Transport {
    /// Sends `call` until it succeeds or the policy ends it; a success status gives
    /// the response (its body unread), anything else an error.
    pub async fn send(&self, call: &Call) -> Result<Response, Error> {
        let url = self.url(call)?;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.credential.apply(self.http.request(call.method.clone(), url.clone()));
            if let Some(body) = &call.body {
                request = request.header(CONTENT_TYPE, body.content_type).body(body.bytes.clone());
                if body.gzip {
                    request = request.header(CONTENT_ENCODING, "gzip");
                }
            }
            let (verdict, error) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let retry_after = header(&headers, RETRY_AFTER.as_str()).and_then(|v| retry::parse_retry_after(&v));
                    let body = response.text().await.unwrap_or_default();
                    let mut error = ApiError::from_body(status, body, header(&headers, "x-request-id"), retry_after);
                    error.attempts = attempt;
                    (retry::on_status(status, call.idempotent, retry_after), Error::Api(error))
                }
                Err(source) => {
                    let verdict = retry::on_transport(source.is_connect(), call.idempotent);
                    (verdict, Error::Transport { url: redacted(&url), attempts: attempt, source: source.without_url() })
                }
            };
            match self.retry.next_wait(attempt, started.elapsed(), verdict, rand::random::<f64>()) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(error),
            }
        }
    }

    /// Sends `call` and reads the answer as JSON of type `T`.
    pub async fn json<T: serde::de::DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        let response = self.send(call).await?;
        let url = redacted(response.url());
        let bytes = response.bytes().await.map_err(|e| Error::body(&url, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode { url, message: e.to_string() })
    }

    /// The base URL joined with the call's path and query, and the service account's
    /// `project_id` when the query names none.
    fn url(&self, call: &Call) -> Result<Url, Error> {
        let mut url = self
            .base
            .join(call.path.trim_start_matches('/'))
            .map_err(|e| Error::Invalid(format!("bad path {}: {e}", call.path)))?;
        url.set_query((!call.query.is_empty()).then_some(call.query.as_str()));
        if let Some(project_id) = self.credential.project_id()
            && !url.query_pairs().any(|(k, _)| k == "project_id")
        {
            url.query_pairs_mut().append_pair("project_id", &project_id.to_string());
        }
        Ok(url)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A URL for messages: without its query string, where a token may be, or a user
/// name and password.
pub(crate) fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}
