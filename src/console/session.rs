//! Console sessions: a random secret in a host-only cookie, its hash in the shared database
//! (so every node knows every session and signing out ends it everywhere), and the account it
//! acts as, re-checked on every request like API credentials are.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::http::auth::Caller;
use crate::store::{AccountRecord, AccountStatus, ConsoleSession};
use crate::AppState;

/// How long a session lasts from sign-in.
pub const LIFETIME_SECS: i64 = 12 * 3600;

/// The cookie's name over https: `__Host-` makes browsers refuse it with a `Domain` or from a
/// sibling name, so a page under the host domain can neither read nor plant it.
const SECURE_NAME: &str = "__Host-depot_console";
/// Over plain http browsers refuse `__Host-` cookies; the cookie is still host-only.
const PLAIN_NAME: &str = "depot_console";

/// A signed-in request: the account it acts as and its session.
pub struct Signed {
    pub account: AccountRecord,
    pub session: ConsoleSession,
    /// What the domain layer needs to know of the caller.
    pub ctx: Ctx,
}

/// Whether the console is reached over https: the operator's public URL says so, or the
/// proxy in front does. A client that claims https falsely only makes its own cookie
/// unusable to itself.
pub fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(url) = &state.config.public_url {
        if url.starts_with("https://") {
            return true;
        }
    }
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_NAME
    } else {
        PLAIN_NAME
    }
}

/// The session cookie's value, when exactly one is sent. Two of that name mean someone planted
/// one (over plain http a sibling name can set a `Domain` cookie): neither is trusted.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((key, val)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(val.to_owned());
            }
        }
    }
    found
}

fn hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Starts a session for `caller`; returns the `Set-Cookie` value.
pub async fn start(state: &AppState, caller: &Caller, https: bool) -> Result<String, ApiError> {
    let secret = random_token();
    let now = crate::clock::now();
    let session = ConsoleSession {
        id_hash: hash(&secret),
        account_sid: caller.account.sid.clone(),
        key_sid: caller.key_sid.clone(),
        csrf_token: random_token(),
        date_created: now,
        expires: now + LIFETIME_SECS,
    };
    state.store.create_console_session(&session, now).await?;
    Ok(set_cookie(https, &secret, LIFETIME_SECS))
}

/// Ends the session the request carries, if any; returns the `Set-Cookie` that clears it.
pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let https = is_https(state, headers);
    if let Some(secret) = cookie_value(headers, cookie_name(https)) {
        state.store.delete_console_session(&hash(&secret)).await?;
    }
    Ok(set_cookie(https, "", 0))
}

/// No `Domain` attribute: the cookie goes back to this exact host only, never to an
/// environment's name.
fn set_cookie(https: bool, value: &str, max_age: i64) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        cookie_name(https)
    )
}

/// The signed-in session of a request, checked as API credentials are checked: the account
/// must still be active, and a key signed in with must still exist.
async fn signed(state: &AppState, parts: &Parts) -> Result<Option<Signed>, ApiError> {
    let https = is_https(state, &parts.headers);
    let Some(secret) = cookie_value(&parts.headers, cookie_name(https)) else {
        return Ok(None);
    };
    let now = crate::clock::now();
    let Some(session) = state.store.console_session(&hash(&secret), now).await? else {
        return Ok(None);
    };
    let Some(account) = state
        .accounts
        .lookup(state.store.as_ref(), &session.account_sid)
        .await?
    else {
        return Ok(None);
    };
    if account.status != AccountStatus::Active {
        return Ok(None);
    }
    if let Some(key_sid) = &session.key_sid {
        let key = state.store.key_for_auth(key_sid).await?;
        if key.is_none_or(|k| k.account_sid != account.sid) {
            return Ok(None);
        }
    }
    let ctx = Ctx {
        account: account.credentials(),
        base: crate::http::extract::base_url(state, parts),
        path: parts.uri.path().to_owned(),
    };
    Ok(Some(Signed {
        account,
        session,
        ctx,
    }))
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    /// Without a session, a page read goes to the sign-in page and a change is refused.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match signed(state, parts).await {
            Ok(Some(signed)) => Ok(signed),
            Ok(None) if parts.method == Method::GET || parts.method == Method::HEAD => {
                Err(super::see_other("/console/sign-in"))
            }
            Ok(None) => Err(super::layout::error_page(
                StatusCode::FORBIDDEN,
                "You are signed out: sign in again. Nothing was changed.",
            )),
            Err(err) => Err(super::layout::api_error_page(&err)),
        }
    }
}

/// A `Set-Cookie` header value, or nothing if it cannot be one (it always can: it is built
/// from base64 and fixed text).
pub fn header_value(cookie: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(cookie).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_second_cookie_voids_both() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; depot_console=good".parse().unwrap());
        assert_eq!(cookie_value(&headers, PLAIN_NAME).as_deref(), Some("good"));
        headers.append(header::COOKIE, "depot_console=planted".parse().unwrap());
        assert_eq!(cookie_value(&headers, PLAIN_NAME), None);
    }

    #[test]
    fn cookies_are_host_only_and_strict() {
        let plain = set_cookie(false, "v", 60);
        assert_eq!(
            plain,
            "depot_console=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let secure = set_cookie(true, "v", 60);
        assert!(secure.starts_with("__Host-depot_console=v; Path=/;"));
        assert!(secure.ends_with("; Secure"));
        assert!(!secure.to_ascii_lowercase().contains("domain"));
    }
}
