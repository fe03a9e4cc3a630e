//! Extractors every handler shares: the request context (account, URL base, path), form
//! parameters from POST bodies and list parameters from query strings (COMPAT §2.3).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use http_body_util::BodyExt;

use crate::domain::{names, Ctx};
use crate::error::ApiError;
use crate::http::AppState;
use crate::store::Account;

/// Largest form body an API endpoint reads; more is answered 413 (uploads have their own).
pub const MAX_FORM_BYTES: usize = 1 << 20;

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let account = parts
            .extensions
            .get::<Account>()
            .cloned()
            .ok_or(ApiError::NoCredentials)?;
        Ok(Ctx {
            account,
            base: base_url(state, parts),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// The base of every URL in a response (COMPAT §1). Inside an intercepted tunnel it is the
/// Twilio host the client asked for, over https, whatever `--public-url` says: the client
/// follows these URLs, and they must lead back through the tunnel.
pub fn base_url(state: &AppState, parts: &Parts) -> String {
    if let Some(tunnel) = parts.extensions.get::<crate::intercept::Tunneled>() {
        return tunnel.base_url(&parts.uri, &parts.headers);
    }
    if let Some(public) = &state.config.public_url {
        return public.clone();
    }
    let host = crate::host::request_host(&parts.uri, &parts.headers).unwrap_or("localhost");
    format!("http://{host}")
}

/// Decoded `name=value` pairs in their original order; names may repeat.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(encoded: &[u8]) -> Self {
        Params(
            form_urlencoded::parse(encoded)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first non-empty value of `name` (empty counts as absent, §2.3).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` even when empty (Variable `Value` may be empty).
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter: absent or empty is 400 "Missing required parameter".
    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or(ApiError::MissingParameter(name))
    }

    /// Every non-empty value of a repeated parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// An optional boolean (`true` / `false`).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name).map(|v| names::boolean(name, v)).transpose()
    }
}

/// Parameters of a POST body. Bodies that are not `application/x-www-form-urlencoded`
/// carry no parameters; bodies over [`MAX_FORM_BYTES`] are refused with 413.
#[derive(Debug)]
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let declared_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|len| len > MAX_FORM_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        if !is_form {
            return Ok(Form(Params::default()));
        }
        let limited = http_body_util::Limited::new(req.into_body(), MAX_FORM_BYTES);
        let bytes = match limited.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(ApiError::PayloadTooLarge)
            }
            Err(_) => return Err(ApiError::invalid("Could not read the request body")),
        };
        Ok(Form(Params::parse(&bytes)))
    }
}

/// Path parameters; a segment that cannot even be decoded names nothing, so it is a 404
/// like any unknown SID (COMPAT §2.5).
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(_) => Err(ApiError::not_found_at(parts.uri.path())),
        }
    }
}

/// Parameters of the query string (list filters and paging).
#[derive(Debug)]
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(Query(Params::parse(query.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_repeats_in_order_and_treat_empty_as_absent() {
        let p = Params::parse(b"A=1&B=&A=2&C=x%20y+z&A=&D=&D=d");
        assert_eq!(p.get("D"), Some("d"));
        assert_eq!(p.all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(p.get("B"), None);
        assert_eq!(p.get_raw("B"), Some(""));
        assert_eq!(p.get("C"), Some("x y z"));
        assert!(matches!(
            p.required("B"),
            Err(ApiError::MissingParameter("B"))
        ));
    }
}
