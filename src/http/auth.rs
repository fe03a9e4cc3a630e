//! HTTP Basic authentication of API requests (COMPAT §2.2), with a short-lived cache of
//! account credentials so the hot path does not query the database for them.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::domain::sid::{self, Prefix};
use crate::error::ApiError;
use crate::store::{Account, Store};
use crate::AppState;

/// How long a credential read from the store is trusted. Another depot node that changes a
/// token (restart with a new `DEPOT_AUTH_TOKEN`) is seen by this node within this time.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// Accounts recently read from the store, by SID, bounded by bytes. Only well-formed SIDs are
/// looked up, so a client cannot fill it with arbitrary usernames; unknown well-formed SIDs are
/// remembered too (as `None`), each costing the same few bytes.
pub struct AccountCache {
    entries: quick_cache::sync::Cache<String, (Option<Account>, Instant), AccountWeight>,
}

#[derive(Clone)]
pub struct AccountWeight;

impl quick_cache::Weighter<String, (Option<Account>, Instant)> for AccountWeight {
    fn weight(&self, sid: &String, (account, _): &(Option<Account>, Instant)) -> u64 {
        let token = account
            .as_ref()
            .map_or(0, |a| a.sid.len() + a.auth_token.len());
        (ENTRY_OVERHEAD + sid.len() + token) as u64
    }
}

/// Bytes an entry costs beyond its strings (map slot, timestamps, string headers).
const ENTRY_OVERHEAD: usize = 128;

impl AccountCache {
    /// A cache of at most `bytes` (at least one entry).
    pub fn new(bytes: u64) -> AccountCache {
        let bytes = bytes.max(4096);
        let items = usize::try_from(bytes / 200).unwrap_or(usize::MAX).max(16);
        AccountCache {
            entries: quick_cache::sync::Cache::with_weighter(items, bytes, AccountWeight),
        }
    }

    /// The account `sid`, from the cache while fresh, else from the store. `sid` must already
    /// be a well-formed Account SID.
    pub async fn lookup(&self, store: &dyn Store, sid: &str) -> Result<Option<Account>, ApiError> {
        if let Some((account, at)) = self.entries.get(sid) {
            if at.elapsed() < CACHE_TTL {
                return Ok(account);
            }
        }
        let account = store.account(sid).await?;
        self.entries
            .insert(sid.to_owned(), (account.clone(), Instant::now()));
        Ok(account)
    }
}

/// Decodes `Authorization: Basic base64(user:password)`.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Authenticates an API request before routing, so 401 wins over 404 and 405 (COMPAT §2.7).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Account, ApiError> {
    let header_value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::NoCredentials)?;
    let (sid, token) = header_value
        .to_str()
        .ok()
        .and_then(basic_credentials)
        .ok_or(ApiError::BadCredentials)?;
    // Anything but a well-formed SID cannot be an account: no lookup, no cache entry.
    if !sid::is_valid(Prefix::Account, &sid) {
        return Err(ApiError::BadCredentials);
    }
    let account = state
        .accounts
        .lookup(state.store.as_ref(), &sid)
        .await?
        .ok_or(ApiError::BadCredentials)?;
    if !bool::from(account.auth_token.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::BadCredentials);
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded() {
        let value = format!("Basic {}", STANDARD.encode("ACabc:secret:with:colons"));
        assert_eq!(
            basic_credentials(&value),
            Some(("ACabc".to_owned(), "secret:with:colons".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer xyz"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
    }
}
