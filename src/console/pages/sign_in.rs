//! Sign-in with an Account SID and its Auth Token, or an API key SID and its secret (checked
//! exactly as API credentials are), and sign-out, which deletes the session everywhere.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::super::form::Fields;
use super::super::layout::{self, Notice};
use super::super::session::{self, Signed};
use crate::domain::sid::{self, Prefix};
use crate::AppState;

pub async fn page(RawQuery(query): RawQuery) -> Response {
    let notice = super::done_notice(query.as_deref());
    render(StatusCode::OK, notice.as_ref())
}

fn render(status: StatusCode, notice: Option<&Notice>) -> Response {
    let body = html! {
        p { "Sign in with your account's credentials, or with an API key of the account." }
        section.card {
            h2 #with-token { "Account SID and Auth Token" }
            form.stack method="post" action="/console/sign-in" aria-labelledby="with-token" {
                label { "Account SID"
                    input type="text" name="AccountSid" autocomplete="username"
                        placeholder="AC…" required spellcheck="false"; }
                label { "Auth Token"
                    input type="password" name="AuthToken" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        }
        section.card {
            h2 #with-key { "API key" }
            form.stack method="post" action="/console/sign-in" aria-labelledby="with-key" {
                label { "API key SID"
                    input type="text" name="ApiKeySid" placeholder="SK…" required spellcheck="false"; }
                label { "API key secret"
                    input type="password" name="ApiKeySecret" required; }
                button type="submit" { "Sign in with key" }
            }
        }
    };
    layout::page(status, "Sign in", None, &[], notice, body)
}

/// Sign-in forms carry no session token (there is no session yet); what keeps a hostile page
/// from signing a browser into another account is the same-origin check every console change
/// passes first (`console::serve`).
pub async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    let (user, password, prefix) = match (fields.get("AccountSid"), fields.get("ApiKeySid")) {
        (Some(sid), _) => (sid, fields.get("AuthToken"), Prefix::Account),
        (None, Some(sid)) => (sid, fields.get("ApiKeySecret"), Prefix::Key),
        (None, None) => ("", None, Prefix::Account),
    };
    let user = user.trim();
    let refused = || {
        render(
            StatusCode::UNAUTHORIZED,
            Some(&Notice::Failed(
                "Sign-in failed: that SID and secret do not match an active account or key.".into(),
            )),
        )
    };
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return refused();
    };
    // The Account SID form takes only account SIDs, the key form only key SIDs.
    if !sid::is_valid(prefix, user) {
        return refused();
    }
    let caller = match crate::http::auth::verify(&state, user, password).await {
        Ok(caller) => caller,
        Err(crate::error::ApiError::BadCredentials) => return refused(),
        Err(err) => return layout::api_error_page(&err),
    };
    let https = session::is_https(&state, &headers);
    match session::start(&state, &caller, https).await {
        Ok(cookie) => with_cookie(super::super::see_other("/console/services"), &cookie),
        Err(err) => layout::api_error_page(&err),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !Fields::parse(&body).csrf_ok(&signed) {
        return super::super::form::refused();
    }
    match session::end(&state, &headers).await {
        Ok(cookie) => with_cookie(
            super::done("/console/sign-in", "signed-out").into_response(),
            &cookie,
        ),
        Err(err) => layout::api_error_page(&err),
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Some(value) = session::header_value(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
