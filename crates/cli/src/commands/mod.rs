//! The binary's command groups, one module each, and what they share.
//!
//! - [`serve`]: `sextant serve`, the server.
//! - [`project`], [`service_account`], [`token`]: projects and the credentials that
//!   reach them.
//! - [`cohort`], [`lookup_table`], [`bookmark`], [`funnel`]: the saved definitions the
//!   query APIs read.
//! - [`flag`]: feature flags, as the management API keeps them.
//! - [`gdpr`]: the audit trail of GDPR and CCPA jobs.
//! - [`import`], [`export`]: events into and out of a server, over the API
//!   (`sextant-client`); [`query`]: its reports as tables, JSON or CSV.
//! - [`backup`]: `backup` (online, over the API) and `restore` (offline).
//! - [`remote`]: what the commands over the API share: `--url` and the credential,
//!   from flags, the environment or a profile.
//! - [`common`]: the `--data-dir` flag, opening the metadata store, looking up a project
//!   and printing lists.

pub(crate) mod backup;
pub(crate) mod bookmark;
pub(crate) mod cohort;
pub(crate) mod common;
pub(crate) mod export;
pub(crate) mod flag;
pub(crate) mod funnel;
pub(crate) mod gdpr;
pub(crate) mod import;
pub(crate) mod lookup_table;
pub(crate) mod project;
pub(crate) mod query;
pub(crate) mod remote;
pub(crate) mod serve;
pub(crate) mod service_account;
pub(crate) mod token;
