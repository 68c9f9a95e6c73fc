//! Rate and concurrency limits per project and API family, and the headers that report
//! them.
//!
//! - [`config`]: the limits, Mixpanel's published ones by default, overridable for all
//!   projects or one project in the configuration file.
//! - [`limiter`]: rolling windows and in-flight counts, checked once a handler knows the
//!   project (for ingestion that is after the body is read, since `/track` names its
//!   project inside each event).
//! - [`clients`]: failures (401, 403) charged to the client address, which is refused
//!   with 429 once it has failed too often, before its request is read.
//! - [`layer`]: the middleware that gives each request a slot for the limiter's verdict
//!   and turns it into `X-RateLimit-*` and `Retry-After` headers on whatever response
//!   the handler produced, success or error, and holds a concurrency permit until the
//!   response body has been sent.

pub mod clients;
pub mod config;
pub mod layer;
pub mod limiter;

pub use clients::ClientBudgets;
pub use config::{ClientFailureLimits, FamilyLimits, RateLimits};
pub use layer::LimitSlot;
pub use limiter::Limiter;
