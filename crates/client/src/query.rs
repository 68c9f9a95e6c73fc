//! The Query API: segmentation, funnels, retention, addiction, the engage query and
//! JQL. Parameters are the server's own types (`sextant_api::query`); the reports'
//! answers are Mixpanel's JSON shapes, returned as [`serde_json::Value`].

use futures::Stream;
use reqwest::Method;
use serde_json::Value;
use sextant_api::query::{
    AddictionParams, EngagePage, EngageParams, EngageProfile, FunnelParams, JqlForm, RetentionParams,
    SegmentationParams,
};

use crate::error::Error;

use crate::transport::{Body, Call, Transport};

/// The Query API, from [`crate::Client::query`].
pub struct Query<'a> {
    pub(crate) transport: &'a Transport,
}

impl Query<'_> {
    /// `GET /api/query/segmentation`: an event's counts per time bucket.
    ///
    /// ```no_run
    /// # async fn f(client: sextant_client::Client) -> Result<(), sextant_client::Error> {
    /// use sextant_client::api::query::SegmentationParams;
    ///
    /// let params = SegmentationParams {
    ///     event: "Purchase".into(),
    ///     from_date: "2026-01-01".into(),
    ///     to_date: "2026-01-07".into(),
    ///     on: Some(r#"properties["$browser"]"#.into()),
    ///     ..Default::default()
    /// };
    /// let answer = client.query().segmentation(&params).await?;
    /// println!("{}", answer["data"]["values"]);
    /// # Ok(()) }
    /// ```
    pub async fn segmentation(&self, params: &SegmentationParams) -> Result<Value, Error> {
        self.get("/api/query/segmentation", params).await
    }

    /// `GET /api/query/funnels`: a saved funnel's conversion.
    pub async fn funnels(&self, params: &FunnelParams) -> Result<Value, Error> {
        self.get("/api/query/funnels", params).await
    }

    /// `GET /api/query/retention`: birth or compounded retention.
    pub async fn retention(&self, params: &RetentionParams) -> Result<Value, Error> {
        self.get("/api/query/retention", params).await
    }

    /// `GET /api/query/retention/addiction`: how many periods users come back in.
    pub async fn addiction(&self, params: &AddictionParams) -> Result<Value, Error> {
        self.get("/api/query/retention/addiction", params).await
    }

    /// `GET` on another Query API report (`/api/query/events`,
    /// `/api/query/events/properties`, `/api/query/insights`, ...) with its
    /// parameters as name-value pairs.
    pub async fn report(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, Error> {
        if !path.starts_with("/api/query/") {
            return Err(Error::Invalid(format!("`{path}` is not a Query API path (`/api/query/...`)")));
        }
        self.get(path, params).await
    }

    /// `POST /api/query/engage`: one page of profiles.
    pub async fn engage(&self, params: &EngageParams) -> Result<EngagePage, Error> {
        let call = Call::new(Method::POST, "/api/query/engage", &())?.body(form(params)?);
        self.transport.json(&call).await
    }

    /// Every profile `params` matches, page after page of one snapshot (so updates
    /// arriving meanwhile neither repeat nor skip a profile).
    ///
    /// ```no_run
    /// # async fn f(client: sextant_client::Client) -> Result<(), sextant_client::Error> {
    /// use futures::TryStreamExt;
    /// use sextant_client::api::query::EngageParams;
    ///
    /// let params = EngageParams { where_: Some(r#"properties["plan"] == "pro""#.into()), ..Default::default() };
    /// let pro: Vec<_> = client.query().engage_all(params).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn engage_all(&self, params: EngageParams) -> impl Stream<Item = Result<EngageProfile, Error>> + '_ {
        struct Paging {
            params: EngageParams,
            page: std::vec::IntoIter<EngageProfile>,
            seen: u64,
            more: bool,
        }
        let start = Paging { params, page: Vec::new().into_iter(), seen: 0, more: true };
        futures::stream::try_unfold(start, move |mut s| async move {
            loop {
                if let Some(profile) = s.page.next() {
                    return Ok(Some((profile, s)));
                }
                if !s.more {
                    return Ok(None);
                }
                let page = self.engage(&s.params).await?;
                s.seen += page.results.len() as u64;
                s.more = !page.results.is_empty() && s.seen < page.total;
                s.params.page = Some(page.page + 1);
                s.params.session_id = Some(page.session_id);
                s.page = page.results.into_iter();
            }
        })
    }

    /// `POST /api/query/jql`: a script's answer.
    pub async fn jql(&self, form_: &JqlForm) -> Result<Vec<Value>, Error> {
        let call = Call::new(Method::POST, "/api/query/jql", &())?.body(form(form_)?);
        self.transport.json(&call).await
    }

    async fn get(&self, path: &str, params: &(impl serde::Serialize + ?Sized)) -> Result<Value, Error> {
        self.transport.json(&Call::new(Method::GET, path, params)?).await
    }
}

/// A form body (these endpoints read parameters from the query string or a form).
fn form(params: &impl serde::Serialize) -> Result<Body, Error> {
    let text =
        serde_urlencoded::to_string(params).map_err(|e| Error::Invalid(format!("parameters do not serialise: {e}")))?;
    Ok(Body { bytes: text.into(), content_type: "application/x-www-form-urlencoded", gzip: false })
}
