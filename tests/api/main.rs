//! Integration tests: the real server on port 0, driven over HTTP.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

mod assets;
mod conventions;
mod functions;
mod helpers;
mod paging;
mod services;
mod versions;
