//! HTTP Basic authentication of API requests (COMPAT §2.2, §16.4): `AC…:auth_token`, or
//! `SK…:secret` acting as the key's account, with a short-lived cache of accounts so the hot
//! path does not query the database for them.
//!
//! What holds across nodes: a change made through this node (a suspension, a closed account)
//! is seen by this node from the next request, since the handler forgets the cached account;
//! another node sharing the database sees it within [`CACHE_TTL`]. Keys are never cached: each
//! request made with a key reads the key from the database, so a deleted key is refused from
//! the next request on, on every node.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::domain::sid::{self, Prefix};
use crate::error::ApiError;
use crate::store::{AccountRecord, AccountStatus, Store};
use crate::AppState;

/// How long an account read from the store is trusted. Another depot node that changes a
/// token (restart with a new `DEPOT_AUTH_TOKEN`) or an account's status is seen by this node
/// within this time.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// Accounts recently read from the store, by SID, bounded by bytes. Only well-formed SIDs are
/// looked up, so a client cannot fill it with arbitrary usernames; unknown well-formed SIDs are
/// remembered too (as `None`), each costing the same few bytes.
pub struct AccountCache {
    entries: quick_cache::sync::Cache<String, (Option<AccountRecord>, Instant), AccountWeight>,
}

#[derive(Clone)]
pub struct AccountWeight;

impl quick_cache::Weighter<String, (Option<AccountRecord>, Instant)> for AccountWeight {
    fn weight(&self, sid: &String, (account, _): &(Option<AccountRecord>, Instant)) -> u64 {
        let token = account.as_ref().map_or(0, |a| {
            a.sid.len()
                + a.auth_token.len()
                + a.friendly_name.len()
                + a.owner_account_sid.as_ref().map_or(0, String::len)
        });
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
    pub async fn lookup(
        &self,
        store: &dyn Store,
        sid: &str,
    ) -> Result<Option<AccountRecord>, ApiError> {
        if let Some((account, at)) = self.entries.get(sid) {
            if at.elapsed() < CACHE_TTL {
                return Ok(account);
            }
        }
        let account = store.account_record(sid).await?;
        self.entries
            .insert(sid.to_owned(), (account.clone(), Instant::now()));
        Ok(account)
    }

    /// Drops what is cached of `sid`, after this node changed it: the next request reads it.
    pub fn forget(&self, sid: &str) {
        self.entries.remove(sid);
    }
}

/// Who made a request: the account it acts as, and the API key it used, if any.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountRecord,
    /// The `SK…` SID when the request authenticated with an API key.
    pub key_sid: Option<String>,
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
/// Tokens and secrets are compared in constant time and never logged.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let header_value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::NoCredentials)?;
    let (user, password) = header_value
        .to_str()
        .ok()
        .and_then(basic_credentials)
        .ok_or(ApiError::BadCredentials)?;
    verify(state, &user, &password).await
}

/// Checks an Account SID and its auth token, or an API key SID and its secret: what Basic
/// authentication and the console's sign-in both accept.
pub async fn verify(state: &AppState, user: &str, password: &str) -> Result<Caller, ApiError> {
    let user = user.to_owned();
    // Anything but a well-formed SID cannot be an account or a key: no lookup, no cache entry.
    let (account_sid, key_sid) = if sid::is_valid(Prefix::Account, &user) {
        (user, None)
    } else if sid::is_valid(Prefix::Key, &user) {
        let key = state
            .store
            .key_for_auth(&user)
            .await?
            .ok_or(ApiError::BadCredentials)?;
        let hash = crate::domain::accounts::secret_hash(password);
        if !bool::from(key.secret_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(ApiError::BadCredentials);
        }
        (key.account_sid, Some(user))
    } else {
        return Err(ApiError::BadCredentials);
    };
    let account = state
        .accounts
        .lookup(state.store.as_ref(), &account_sid)
        .await?
        .ok_or(ApiError::BadCredentials)?;
    if key_sid.is_none() && !bool::from(account.auth_token.as_bytes().ct_eq(password.as_bytes())) {
        return Err(ApiError::BadCredentials);
    }
    // Every credential of a suspended or closed account is refused (COMPAT §16.4).
    if account.status != AccountStatus::Active {
        return Err(ApiError::BadCredentials);
    }
    Ok(Caller { account, key_sid })
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
