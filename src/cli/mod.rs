//! The client commands of the `depot` binary (`depot deploy`): thin clients of depot's HTTP
//! API, run against any depot by URL.

pub mod client;
pub mod deploy;
pub mod project;
