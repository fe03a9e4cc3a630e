//! The 2010-04-01 Accounts and Keys endpoints (COMPAT §16): `….json` paths, RFC 2822 dates,
//! relative `*_uri` values and the 2010 list envelope. API keys are refused here (403), as
//! Twilio refuses its standard keys, so a key can neither mint keys nor read an auth token.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock::format_rfc2822;
use crate::domain::accounts as domain;
use crate::domain::Ctx;
use crate::error::ApiError;
use crate::http::auth::Caller;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{Meta, Paging};
use crate::store::{AccountFilter, AccountRecord, ApiKey, Page, Positioned};
use crate::AppState;

/// The authenticated account of a request made with its auth token; a key is 403 / 20403.
pub struct Manager(pub AccountRecord);

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .ok_or(ApiError::NoCredentials)?;
        if caller.key_sid.is_some() {
            return Err(ApiError::Forbidden(
                "API keys cannot access the Accounts or Keys resources; use the account's \
                 auth token"
                    .into(),
            ));
        }
        Ok(Manager(caller.account.clone()))
    }
}

/// `X.json` → `X`; a segment without `.json` names nothing (404).
fn strip_json<'a>(segment: &'a str, ctx: &Ctx) -> Result<&'a str, ApiError> {
    segment.strip_suffix(".json").ok_or_else(|| ctx.not_found())
}

/// An Account as the 2010 API shows it (spec `api.v2010.account`).
#[derive(Serialize)]
struct AccountBody<'a> {
    auth_token: &'a str,
    date_created: String,
    date_updated: String,
    friendly_name: &'a str,
    owner_account_sid: &'a str,
    sid: &'a str,
    status: &'static str,
    subresource_uris: SubresourceUris,
    #[serde(rename = "type")]
    kind: &'static str,
    uri: String,
}

#[derive(Serialize)]
struct SubresourceUris {
    keys: String,
}

impl<'a> AccountBody<'a> {
    fn new(a: &'a AccountRecord) -> Self {
        AccountBody {
            auth_token: &a.auth_token,
            date_created: format_rfc2822(a.date_created),
            date_updated: format_rfc2822(a.date_updated),
            friendly_name: &a.friendly_name,
            // A main account is its own owner.
            owner_account_sid: a.owner_account_sid.as_deref().unwrap_or(&a.sid),
            sid: &a.sid,
            status: a.status.as_str(),
            subresource_uris: SubresourceUris {
                keys: format!("/2010-04-01/Accounts/{}/Keys.json", a.sid),
            },
            kind: "Full",
            uri: format!("/2010-04-01/Accounts/{}.json", a.sid),
        }
    }
}

/// A Key (spec `api.v2010.account.key`); the secret only on create (`new_key`).
#[derive(Serialize)]
struct KeyBody<'a> {
    sid: &'a str,
    friendly_name: Option<&'a str>,
    date_created: String,
    date_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> KeyBody<'a> {
    fn new(k: &'a ApiKey, secret: Option<&'a str>) -> Self {
        KeyBody {
            sid: &k.sid,
            friendly_name: k.friendly_name.as_deref(),
            date_created: format_rfc2822(k.date_created),
            date_updated: format_rfc2822(k.date_updated),
            secret,
        }
    }
}

/// The 2010 list envelope: the list key and exactly eight paging fields, `*_uri` relative
/// (COMPAT §16.3). `list_uri` is `{path}?{filters}` (ending in `?` or `&`).
fn list_response<'a, T: Positioned, B: Serialize>(
    key: &'static str,
    list_uri: &str,
    paging: &Paging,
    page: &'a Page<T>,
    render: impl Fn(&'a T) -> B,
) -> Response {
    let meta = Meta::build(key, list_uri, paging, page);
    let start = paging.page.saturating_mul(u64::from(paging.size));
    let end = match page.items.len() as u64 {
        0 => start,
        n => start.saturating_add(n - 1),
    };
    let items: Vec<B> = page.items.iter().map(render).collect();
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), serde_json::json!(items));
    for (name, value) in [
        ("end", serde_json::json!(end)),
        ("first_page_uri", serde_json::json!(meta.first_page_url)),
        ("next_page_uri", serde_json::json!(meta.next_page_url)),
        ("page", serde_json::json!(meta.page)),
        ("page_size", serde_json::json!(meta.page_size)),
        (
            "previous_page_uri",
            serde_json::json!(meta.previous_page_url),
        ),
        ("start", serde_json::json!(start)),
        ("uri", serde_json::json!(meta.url)),
    ] {
        body.insert(name.to_owned(), value);
    }
    json(StatusCode::OK, &body)
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub async fn list_account(
    State(state): State<AppState>,
    Manager(caller): Manager,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let friendly_name = query.get("FriendlyName");
    let status = query.get("Status").map(domain::parse_status).transpose()?;
    let paging = Paging::from_query(&query)?;
    let filter = AccountFilter {
        friendly_name,
        status,
    };
    let page = domain::list(&state, &caller, &filter, paging.request()).await?;
    let mut list_uri = "/2010-04-01/Accounts.json?".to_owned();
    if let Some(name) = friendly_name {
        list_uri.push_str(&format!("FriendlyName={}&", encode(name)));
    }
    if let Some(status) = status {
        list_uri.push_str(&format!("Status={status}&"));
    }
    Ok(list_response("accounts", &list_uri, &paging, &page, |a| {
        AccountBody::new(a)
    }))
}

pub async fn create_account(
    State(state): State<AppState>,
    Manager(caller): Manager,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let account = domain::create(&state, &caller, form.get("FriendlyName")).await?;
    Ok(json(StatusCode::CREATED, &AccountBody::new(&account)))
}

pub async fn fetch_account(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams(segment): PathParams<String>,
) -> Result<Response, ApiError> {
    let sid = strip_json(&segment, &ctx)?;
    let account = domain::resolve(&state, &caller, sid, &ctx.path).await?;
    Ok(json(StatusCode::OK, &AccountBody::new(&account)))
}

pub async fn update_account(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams(segment): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let sid = strip_json(&segment, &ctx)?;
    let target = domain::resolve(&state, &caller, sid, &ctx.path).await?;
    let updated = domain::update(
        &state,
        &caller,
        &target,
        form.get("FriendlyName"),
        form.get("Status"),
    )
    .await?;
    // This node refuses a suspended account's credentials from the next request on; other
    // nodes within their cache's lifetime (see `auth`).
    state.accounts.forget(&updated.sid);
    Ok(json(StatusCode::OK, &AccountBody::new(&updated)))
}

pub async fn list_key(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams(account): PathParams<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let account = domain::resolve(&state, &caller, &account, &ctx.path).await?;
    let paging = Paging::from_query(&query)?;
    let page = domain::list_keys(&state, &account, paging.request()).await?;
    let list_uri = format!("/2010-04-01/Accounts/{}/Keys.json?", account.sid);
    Ok(list_response("keys", &list_uri, &paging, &page, |k| {
        KeyBody::new(k, None)
    }))
}

pub async fn create_key(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams(account): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let account = domain::resolve(&state, &caller, &account, &ctx.path).await?;
    let (key, secret) = domain::create_key(&state, &account, form.get("FriendlyName")).await?;
    Ok(json(
        StatusCode::CREATED,
        &KeyBody::new(&key, Some(&secret)),
    ))
}

pub async fn fetch_key(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams((account, segment)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let sid = strip_json(&segment, &ctx)?;
    let account = domain::resolve(&state, &caller, &account, &ctx.path).await?;
    let key = domain::key(&state, &account, sid, &ctx.path).await?;
    Ok(json(StatusCode::OK, &KeyBody::new(&key, None)))
}

pub async fn update_key(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams((account, segment)): PathParams<(String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let sid = strip_json(&segment, &ctx)?;
    let account = domain::resolve(&state, &caller, &account, &ctx.path).await?;
    let key =
        domain::rename_key(&state, &account, sid, form.get("FriendlyName"), &ctx.path).await?;
    Ok(json(StatusCode::OK, &KeyBody::new(&key, None)))
}

pub async fn delete_key(
    State(state): State<AppState>,
    Manager(caller): Manager,
    ctx: Ctx,
    PathParams((account, segment)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let sid = strip_json(&segment, &ctx)?;
    let account = domain::resolve(&state, &caller, &account, &ctx.path).await?;
    domain::delete_key(&state, &account, sid, &ctx.path).await?;
    Ok(StatusCode::NO_CONTENT)
}
