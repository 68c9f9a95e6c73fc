//! GDPR and CCPA jobs: retrievals (an archive of everything kept about some people)
//! and deletions (everything removed), at Mixpanel's paths; and Sextant's own opt-out
//! list. Every call names the project by its token (`?token=`), beside the client's
//! credential.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use sextant_api::gdpr::{
    CheckDeletionResponse, CheckRetrievalResponse, CreateJob, DeletionJobResult, JobCreated, OptOutChangeResponse,
    OptOutIds, OptOutListResponse, OptOutPage, RetrievalResult,
};

use crate::error::Error;
use crate::transport::{Body, Call, Transport};

const RETRIEVALS: &str = "/api/app/data-retrievals/v3.0";
const DELETIONS: &str = "/api/app/data-deletions/v3.0";
const OPT_OUTS: &str = "/api/app/opt-outs/v3.0";

/// The GDPR family for one project, from [`crate::Client::gdpr`].
pub struct Gdpr<'a> {
    pub(crate) transport: &'a Transport,
    pub(crate) token: String,
}

impl<'a> Gdpr<'a> {
    /// Retrievals.
    pub fn retrievals(&self) -> Retrievals<'_> {
        Retrievals { gdpr: self }
    }

    /// Deletions.
    pub fn deletions(&self) -> Deletions<'_> {
        Deletions { gdpr: self }
    }

    /// The opt-out list (Sextant's own).
    pub fn opt_outs(&self) -> OptOuts<'_> {
        OptOuts { gdpr: self }
    }

    fn call(&self, method: Method, path: &str) -> Result<Call, Error> {
        Call::new(method, path, &[("token", self.token.as_str())])
    }

    /// Queues a job; answers its tracking id. Not retried after a server error (a
    /// second job would be queued).
    async fn create(&self, path: &str, request: &CreateJob) -> Result<String, Error> {
        let json = serde_json::to_vec(request).map_err(|e| Error::Invalid(e.to_string()))?;
        let body = Body { bytes: json.into(), content_type: "application/json", gzip: false };
        let created: JobCreated = self.transport.json(&self.call(Method::POST, path)?.body(body)).await?;
        Ok(created.results.tracking_id)
    }
}

/// Retrievals, from [`Gdpr::retrievals`].
pub struct Retrievals<'a> {
    gdpr: &'a Gdpr<'a>,
}

impl Retrievals<'_> {
    /// Queues a retrieval of everything kept about `request.distinct_ids`.
    pub async fn create(&self, request: &CreateJob) -> Result<String, Error> {
        self.gdpr.create(RETRIEVALS, request).await
    }

    /// A retrieval's status (and its archive's link once it succeeded).
    pub async fn get(&self, tracking_id: &str) -> Result<RetrievalResult, Error> {
        let path = format!("{RETRIEVALS}/{}", segment(tracking_id)?);
        let answer: CheckRetrievalResponse = self.gdpr.transport.json(&self.gdpr.call(Method::GET, &path)?).await?;
        Ok(answer.results)
    }

    /// A finished retrieval's archive: raw-export lines of the people's events, then
    /// their profiles, one JSON document a line.
    pub async fn archive(&self, tracking_id: &str) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let path = format!("{RETRIEVALS}/{}/archive", segment(tracking_id)?);
        let response = self.gdpr.transport.send(&self.gdpr.call(Method::GET, &path)?).await?;
        let chunks = response.bytes_stream().map_err(move |e| Error::body(&path, e));
        Ok(crate::export::split_lines(chunks).boxed())
    }
}

/// Deletions, from [`Gdpr::deletions`].
pub struct Deletions<'a> {
    gdpr: &'a Gdpr<'a>,
}

impl Deletions<'_> {
    /// Queues the deletion of everything kept about `request.distinct_ids`.
    ///
    /// ```no_run
    /// # async fn f(client: sextant_client::Client) -> Result<(), sextant_client::Error> {
    /// use sextant_client::api::gdpr::CreateJob;
    ///
    /// let gdpr = client.gdpr("the project token");
    /// let request = CreateJob { distinct_ids: vec!["user-1".into()], ..Default::default() };
    /// let id = gdpr.deletions().create(&request).await?;
    /// println!("{}", gdpr.deletions().get(&id).await?.status);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, request: &CreateJob) -> Result<String, Error> {
        self.gdpr.create(DELETIONS, request).await
    }

    /// A deletion's status.
    pub async fn get(&self, tracking_id: &str) -> Result<DeletionJobResult, Error> {
        let path = format!("{DELETIONS}/{}", segment(tracking_id)?);
        let answer: CheckDeletionResponse = self.gdpr.transport.json(&self.gdpr.call(Method::GET, &path)?).await?;
        Ok(answer.results)
    }

    /// Cancels a deletion that has not started (a 405 once it has).
    pub async fn cancel(&self, tracking_id: &str) -> Result<(), Error> {
        let path = format!("{DELETIONS}/{}", segment(tracking_id)?);
        self.gdpr.transport.send(&self.gdpr.call(Method::DELETE, &path)?.idempotent(true)).await.map(drop)
    }
}

/// Sextant's opt-out list, from [`Gdpr::opt_outs`]: ids whose events and profile
/// updates ingestion drops.
pub struct OptOuts<'a> {
    gdpr: &'a Gdpr<'a>,
}

impl OptOuts<'_> {
    /// Puts up to 2,000 ids on the list; answers how many were not on it already (after
    /// a retry, those the retry added).
    pub async fn add(&self, ids: &[String]) -> Result<u64, Error> {
        self.change(Method::POST, ids).await
    }

    /// Takes up to 2,000 ids off the list; answers how many were on it (after a retry,
    /// those the retry removed).
    pub async fn remove(&self, ids: &[String]) -> Result<u64, Error> {
        self.change(Method::DELETE, ids).await
    }

    /// A page of the list in id order: up to `limit` ids after `after` (the previous
    /// page's `next`).
    pub async fn page(&self, after: Option<&str>, limit: Option<u32>) -> Result<OptOutPage, Error> {
        let limit = limit.map(|n| n.to_string());
        let mut query = vec![("token", self.gdpr.token.as_str())];
        query.extend(after.map(|a| ("after", a)));
        query.extend(limit.as_deref().map(|l| ("limit", l)));
        let answer: OptOutListResponse = self.gdpr.transport.json(&Call::new(Method::GET, OPT_OUTS, &query)?).await?;
        Ok(answer.results)
    }

    // Adding or removing the same ids again changes nothing, so both are retried; after
    // a lost answer, the retry's count leaves out what the first try changed.
    async fn change(&self, method: Method, ids: &[String]) -> Result<u64, Error> {
        let json =
            serde_json::to_vec(&OptOutIds { distinct_ids: ids.to_vec() }).map_err(|e| Error::Invalid(e.to_string()))?;
        let body = Body { bytes: json.into(), content_type: "application/json", gzip: false };
        let call = self.gdpr.call(method, OPT_OUTS)?.body(body).idempotent(true);
        let answer: OptOutChangeResponse = self.gdpr.transport.json(&call).await?;
        Ok(answer.results.changed)
    }
}

/// An id as one path segment: refused when it could step out of it.
fn segment(id: &str) -> Result<&str, Error> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::Invalid(format!("`{id}` is not a job id")));
    }
    Ok(id)
}
