//! Integration tests: the real server on port 0, driven over HTTP.

mod assets;
mod conventions;
mod helpers;
mod paging;
mod services;
