//! Integration tests: the real server on port 0, driven over HTTP.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

mod accounts;
mod assets;
mod builds;
mod connections;
mod console;
mod conventions;
mod deployments;
mod environments;
mod execution;
mod function_builds;
mod functions;
mod hardening;
mod helpers;
mod host;
mod paging;
mod services;
mod upkeep;
mod versions;
