//! What the metadata tests share.

pub mod postgres;
