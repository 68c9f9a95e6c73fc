//! Raw export: `GET /api/2.0/export`, read as a stream of events while the server
//! writes it (memory stays flat however long the range).

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::Value;
use sextant_api::query::ExportParams;

use crate::error::Error;
use crate::transport::{Call, Transport};

/// The export family, from [`crate::Client::export`].
pub struct Export<'a> {
    pub(crate) transport: &'a Transport,
}

impl Export<'_> {
    /// The events of `params`' range (at most 100 days), in time order, each as
    /// `{"event", "properties"}`.
    ///
    /// ```no_run
    /// # async fn f(client: sextant_client::Client) -> Result<(), sextant_client::Error> {
    /// use futures::TryStreamExt;
    /// use sextant_client::api::query::ExportParams;
    ///
    /// let params = ExportParams { from_date: "2026-01-01".into(), to_date: "2026-01-31".into(), ..Default::default() };
    /// let events: Vec<serde_json::Value> = client.export().events(&params).await?.try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn events(&self, params: &ExportParams) -> Result<BoxStream<'static, Result<Value, Error>>, Error> {
        let url = "/api/2.0/export".to_string();
        Ok(self
            .lines(params)
            .await?
            .map(move |line| {
                let line = line?;
                serde_json::from_slice(&line).map_err(|e| Error::Decode { url: url.clone(), message: e.to_string() })
            })
            .boxed())
    }

    /// The same events as JSON lines, each without its newline, as the server wrote
    /// them (for writing them out without parsing).
    pub async fn lines(&self, params: &ExportParams) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let call = Call::new(Method::GET, "/api/2.0/export", params)?;
        let response = self.transport.send(&call).await?;
        let url = "/api/2.0/export".to_string();
        let chunks = response.bytes_stream().map_err(move |e| Error::body(&url, e));
        Ok(split_lines(chunks).boxed())
    }
}

/// Cuts a byte stream into lines (empty ones dropped), carrying a partial line over
/// to the next chunk.
pub(crate) fn split_lines(
    chunks: impl Stream<Item = Result<Bytes, Error>> + Unpin + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    futures::stream::unfold((chunks, BytesMut::new(), std::collections::VecDeque::new(), false), |mut s| async move {
        loop {
            let (chunks, pending, ready, done) = &mut s;
            if let Some(line) = ready.pop_front() {
                return Some((Ok(line), s));
            }
            if *done {
                return None;
            }
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    pending.extend_from_slice(&chunk);
                    while let Some(at) = pending.iter().position(|b| *b == b'\n') {
                        let line = pending.split_to(at + 1).freeze().slice(..at);
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            ready.push_back(line);
                        }
                    }
                }
                Some(Err(e)) => {
                    *done = true;
                    return Some((Err(e), s));
                }
                None => {
                    *done = true;
                    let rest = std::mem::take(pending).freeze();
                    if !rest.iter().all(u8::is_ascii_whitespace) {
                        ready.push_back(rest);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_chunks() {
        let chunks = ["{\"a\":1}\n{\"b\"", ":2}\n\n", "{\"c\":3}"].map(|c| Ok(Bytes::from(c)));
        let lines: Vec<Bytes> =
            futures::executor::block_on(split_lines(futures::stream::iter(chunks)).try_collect()).unwrap();
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"].map(Bytes::from));
    }
}
