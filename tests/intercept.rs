//! `depot serve --intercept-twilio`, through its real HTTP interface: the `CONNECT` rules and the
//! tunnel itself (`protocol`), and unmodified Twilio clients configured by environment variables
//! only (`clients`: twilio-python 9.13.0, twilio-node 6.3.1, `twilio-run deploy` 5.0.1). The
//! client tests need python3, node and npm (installed into `target/compat-venv` and
//! `tests/intercept/node_modules` on first run); `DEPOT_SKIP_COMPAT=1` skips them.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose: a failed step is a failed test.

#[path = "intercept/clients.rs"]
mod clients;
#[path = "common/files.rs"]
mod files;
#[path = "intercept/protocol.rs"]
mod protocol;
#[path = "intercept/support.rs"]
mod support;
#[path = "common/venv.rs"]
mod venv;
