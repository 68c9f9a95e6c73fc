//! Rate and concurrency limits per project and API family, and the headers that report
//! them.
//!
//! - [`config`]: the limits, Mixpanel's published ones by default, overridable for all
//!   projects or one project in the configuration file.
//! - [`limiter`]: rolling windows and in-flight counts, checked once a handler knows the
//!   project (for ingestion that is after the body is read, since `/track` names its
//!   project inside each event).
//! - [`layer`]: the middleware that gives each request a slot for the limiter's verdict
//!   and turns it into `X-RateLimit-*` and `Retry-After` headers on whatever response
//!   the handler produced, success or error, and holds a concurrency permit until the
//!   response body has been sent.

pub mod config;
pub mod layer;
pub mod limiter;

pub use config::{FamilyLimits, RateLimits};
pub use layer::LimitSlot;
pub use limiter::Limiter;
