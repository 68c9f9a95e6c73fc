//! Online backups of a whole server, for owners and admins of its first organization
//! (a service account's credential).

use reqwest::Method;
use sextant_api::backups::{Backup, BackupRequest};
use sextant_api::envelope::Single;

use crate::error::Error;
use crate::transport::{Body, Call, Transport};

/// Backups, from [`crate::Client::backups`].
pub struct Backups<'a> {
    pub(crate) transport: &'a Transport,
    pub(crate) organization_id: i64,
}

impl Backups<'_> {
    /// Starts the backup `name` (it runs in the background: see [`Backups::get`]).
    /// Not retried after a server error: the name would then be taken.
    pub async fn create(&self, name: &str) -> Result<Backup, Error> {
        let path = format!("/api/app/organizations/{}/backups", self.organization_id);
        let json =
            serde_json::to_vec(&BackupRequest { name: name.to_string() }).map_err(|e| Error::Invalid(e.to_string()))?;
        let body = Body { bytes: json.into(), content_type: "application/json", gzip: false };
        let answer: Single<Backup> = self.transport.json(&Call::new(Method::POST, &path, &())?.body(body)).await?;
        Ok(answer.results)
    }

    /// A backup's state: `running`, `done` (with its manifest) or `failed`.
    pub async fn get(&self, name: &str) -> Result<Backup, Error> {
        if !sextant_api::backups::valid_name(name) {
            return Err(Error::Invalid(format!("`{name}` is not a backup name")));
        }
        let path = format!("/api/app/organizations/{}/backups/{name}", self.organization_id);
        let answer: Single<Backup> = self.transport.json(&Call::new(Method::GET, &path, &())?).await?;
        Ok(answer.results)
    }
}
