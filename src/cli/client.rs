//! The HTTP client the depot commands share: a base URL, HTTP Basic credentials, Twilio error
//! bodies turned into sentences, and 429 answers retried after their `Retry-After`.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// Where depot is and who is asking; every client command takes these.
#[derive(Clone, Args)]
pub struct Connection {
    /// depot's API, e.g. `http://127.0.0.1:4000`.
    #[arg(
        long,
        env = "DEPOT_URL",
        default_value = "http://127.0.0.1:4000",
        global = true
    )]
    pub url: url::Url,
    /// Account SID (`AC…`), with `--auth-token`.
    #[arg(long, env = "DEPOT_ACCOUNT_SID", global = true)]
    pub account_sid: Option<String>,
    /// Auth token of `--account-sid`.
    #[arg(long, env = "DEPOT_AUTH_TOKEN", hide_env_values = true, global = true)]
    pub auth_token: Option<String>,
    /// API key SID (`SK…`), with `--api-secret`; used instead of the account's token.
    #[arg(long, env = "DEPOT_API_KEY", global = true)]
    pub api_key: Option<String>,
    /// Secret of `--api-key`.
    #[arg(long, env = "DEPOT_API_SECRET", hide_env_values = true, global = true)]
    pub api_secret: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// How many times a 429 is retried before the command gives up.
const MAX_RETRIES: u32 = 10;

/// A client of one depot.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Api {
    /// A client for `connection`; an error names the missing credentials.
    pub fn new(connection: &Connection) -> Result<Api, String> {
        let (user, password) = match (
            &connection.api_key,
            &connection.api_secret,
            &connection.account_sid,
            &connection.auth_token,
        ) {
            (Some(key), Some(secret), _, _) => (key.clone(), secret.clone()),
            (_, _, Some(sid), Some(token)) => (sid.clone(), token.clone()),
            _ => {
                return Err(
                    "no credentials: set DEPOT_ACCOUNT_SID and DEPOT_AUTH_TOKEN (or \
                            DEPOT_API_KEY and DEPOT_API_SECRET), or pass --account-sid and \
                            --auth-token"
                        .into(),
                )
            }
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("depot-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Api {
            http,
            base: connection.url.as_str().trim_end_matches('/').to_owned(),
            user,
            password,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.send(path, || Ok(self.http.get(self.url(path)))).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, String> {
        self.send(path, || Ok(self.http.delete(self.url(path))))
            .await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, String> {
        let body = form_body(form);
        self.send(path, || {
            Ok(self
                .http
                .post(self.url(path))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.clone()))
        })
        .await
    }

    /// POSTs a multipart body that `form` makes afresh for each attempt.
    pub async fn post_multipart<F>(&self, path: &str, form: F) -> Result<Value, String>
    where
        F: Fn() -> Result<reqwest::multipart::Form, String>,
    {
        self.send(path, || {
            Ok(self.http.post(self.url(path)).multipart(form()?))
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends the request `request` makes, again after each 429's `Retry-After`.
    async fn send<F>(&self, path: &str, request: F) -> Result<Value, String>
    where
        F: Fn() -> Result<reqwest::RequestBuilder, String>,
    {
        let mut attempt = 0;
        loop {
            match self.attempt(path, request()?).await? {
                Attempt::Done(value) => return Ok(value),
                Attempt::Retry(wait) if attempt < MAX_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry(_) => return Err(format!("{path}: still rate limited, giving up")),
            }
        }
    }

    async fn attempt(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Attempt, String> {
        let response = request
            .basic_auth(&self.user, Some(&self.password))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot reach depot at {}: {e}", self.base))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            return Ok(Attempt::Retry(Duration::from_secs(wait.clamp(1, 60))));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{path}: answer cut short: {e}"))?;
        let value: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(Attempt::Done(value));
        }
        Err(error_sentence(path, status.as_u16(), &value))
    }
}

enum Attempt {
    Done(Value),
    Retry(Duration),
}

/// `POST path: 401 Authenticate (code 20003)` from a Twilio error body.
fn error_sentence(path: &str, status: u16, body: &Value) -> String {
    match (
        body.get("message").and_then(Value::as_str),
        body.get("code"),
    ) {
        (Some(message), Some(code)) => format!("{path}: {status} {message} (code {code})"),
        (Some(message), None) => format!("{path}: {status} {message}"),
        _ => format!("{path}: HTTP {status}"),
    }
}

fn form_body(form: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form {
        out.append_pair(key, value);
    }
    out.finish()
}

/// A string field of a JSON answer, or an error naming it.
pub fn field<'v>(value: &'v Value, name: &str) -> Result<&'v str, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("depot's answer has no {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_twilio_says_them() {
        let body = serde_json::json!({"code": 20003, "message": "Authenticate", "status": 401});
        assert_eq!(
            error_sentence("/v1/Services", 401, &body),
            "/v1/Services: 401 Authenticate (code 20003)"
        );
        assert_eq!(error_sentence("/x", 502, &Value::Null), "/x: HTTP 502");
    }

    #[test]
    fn forms_repeat_keys() {
        assert_eq!(
            form_body(&[
                ("AssetVersions", "ZN1"),
                ("AssetVersions", "ZN2"),
                ("A", "b c")
            ]),
            "AssetVersions=ZN1&AssetVersions=ZN2&A=b+c"
        );
    }
}
