//! Integration tests: the real server on port 0, driven over HTTP.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

mod assets;
mod builds;
mod conventions;
mod deployments;
mod environments;
mod functions;
mod helpers;
mod host;
mod paging;
mod services;
mod versions;
