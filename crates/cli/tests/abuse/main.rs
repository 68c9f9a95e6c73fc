//! Abusive requests against a real server over real HTTP, one module per way of abusing
//! it (issue "Hold under abuse"). Each test checks the attacker's answer and, through
//! [`support`], that the server is alive afterwards and that a well-behaved client of
//! another project was served throughout, within a bound, with every event it was told
//! was stored exported exactly once.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod auth;
mod commit;
mod engage;
mod expr;
mod http;
mod identity;
mod profiles;
mod tokens;
