//! What the warehouse import runner (`crate::warehouse_jobs`) shares with the handlers
//! through the server's state: where `files` sources are, which hosts sources may name,
//! how often the runner looks for imports due, and its wake-up call.

use std::path::PathBuf;
use std::time::Duration;

/// Where `files` sources are, how often the runner looks, and its wake-up call.
pub struct WarehouseRunner {
    pub(crate) root: PathBuf,
    pub(crate) poll: Duration,
    pub(crate) wake: tokio::sync::Notify,
    /// The hosts sources may name (`warehouse_hosts`); `None`: any.
    pub(crate) allowed_hosts: Option<Vec<String>>,
}

impl Default for WarehouseRunner {
    fn default() -> Self {
        WarehouseRunner::new(
            std::env::temp_dir().join("sextant-imports"),
            crate::config::DEFAULT_WAREHOUSE_POLL_SECONDS,
        )
    }
}

impl WarehouseRunner {
    /// `files` sources under `root`; due imports looked for every `poll_seconds`.
    pub fn new(root: PathBuf, poll_seconds: u64) -> WarehouseRunner {
        WarehouseRunner {
            root,
            poll: Duration::from_secs(poll_seconds.max(1)),
            wake: tokio::sync::Notify::new(),
            allowed_hosts: None,
        }
    }

    /// Whether a source may name `host` (`warehouse_hosts`, compared without case).
    pub fn host_allowed(&self, host: &str) -> Result<(), String> {
        match &self.allowed_hosts {
            Some(hosts) if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) => Err(format!(
                "host `{host}` is not among the hosts this server's warehouse sources may name (`warehouse_hosts`)"
            )),
            _ => Ok(()),
        }
    }

    /// Tells the runner an import changed or wants a run.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
