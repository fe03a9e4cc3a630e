//! Function execution on the asset host (RUNTIME §6.12, test plan §7): functions deployed
//! through the raw API and called with the environment's Host. Skipped when `node` is absent.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest;

use crate::helpers::{spawn_with, Deployable, Deployed, TestApp, ACCOUNT_SID, AUTH_TOKEN};

/// Whether this machine cannot run functions; says so once per test.
fn no_node() -> bool {
    let missing = depot::runtime::find_on_path("node").is_none();
    if missing {
        eprintln!("skipping function execution test: `node` is not on PATH");
    }
    missing
}

fn js<'a>(path: &'a str, visibility: &'a str, code: &'a str) -> Deployable<'a> {
    Deployable {
        path,
        visibility,
        content_type: "application/javascript",
        data: code.as_bytes(),
        function: true,
    }
}

const ECHO: &str = "exports.handler = (context, event, callback) => callback(null, event);";

/// An app with a short time limit, so slow cases stay fast.
async fn app() -> TestApp {
    spawn_with(|mut c| {
        c.runtime.timeout = Duration::from_millis(1500);
        c
    })
    .await
}

async fn get(app: &TestApp, site: &Deployed, path: &str) -> reqwest::Response {
    app.host(Method::GET, &site.domain, path)
        .send()
        .await
        .unwrap()
}

/// The environment's Logs, oldest first.
async fn logs(app: &TestApp, site: &Deployed) -> Vec<Value> {
    let list = app
        .get(&format!(
            "/v1/Services/{}/Environments/{}/Logs?PageSize=100",
            site.service, site.environment
        ))
        .await;
    let mut items = list.body["logs"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["twilio-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn echo_merges_query_and_json_body_and_strips_proxy_headers() {
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app.deploy(&[js("/echo", "public", ECHO)]).await;
    let response = app
        .host(Method::POST, &site.domain, "/echo?B=q&C=1")
        .header("content-type", "application/json")
        .header("x-forwarded-for", "1.2.3.4")
        .header("via", "1.1 proxy")
        .header("referer", "http://elsewhere/")
        .header("x-real-ip", "1.2.3.4")
        .body(r#"{"B":"json","o":{"d":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(request_id(&response).starts_with("RQ"));
    let event: Value = response.json().await.unwrap();
    assert_eq!(event["B"], "json");
    assert_eq!(event["C"], "1");
    assert_eq!(event["o"]["d"], 1);
    let headers = &event["request"]["headers"];
    assert_eq!(headers["content-type"], "application/json");
    for stripped in ["host", "x-forwarded-for", "via", "referer", "x-real-ip"] {
        assert!(
            headers.get(stripped).is_none(),
            "{stripped} reached the function"
        );
    }
}

#[tokio::test]
async fn echo_form_body_wins_over_query_and_repeats_become_arrays() {
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app.deploy(&[js("/echo", "public", ECHO)]).await;
    let response = app
        .host(Method::POST, &site.domain, "/echo?B=q")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("B=f&D=x&D=y")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let event: Value = response.json().await.unwrap();
    assert_eq!(event["B"], "f");
    assert_eq!(event["D"], serde_json::json!(["x", "y"]));

    let cookies = app
        .host(Method::GET, &site.domain, "/echo")
        .header("cookie", "a=1; b=2")
        .send()
        .await
        .unwrap();
    let event: Value = cookies.json().await.unwrap();
    assert_eq!(
        event["request"]["cookies"],
        serde_json::json!({"a": "1", "b": "2"})
    );
}

#[tokio::test]
async fn twilio_response_status_headers_and_cookies() {
    if no_node() {
        return;
    }
    let app = app().await;
    let code = r#"exports.handler = (context, event, callback) => {
        const r = new Twilio.Response();
        r.setStatusCode(201);
        r.appendHeader('X-Multi', 'one');
        r.appendHeader('X-Multi', 'two');
        r.setCookie('tz', 'UTC', ['Max-Age=60']);
        r.setBody({ ok: true });
        callback(null, r);
    };"#;
    let long = r#"exports.handler = (context, event, callback) => {
        const r = new Twilio.Response();
        if (event.long) r.setCookie('a', '1', ['Max-Age=90000']);
        else r.setCookie('b', '2', ['Domain=evil.test', 'Path=/']);
        callback(null, r);
    };"#;
    let site = app
        .deploy(&[
            js("/response", "public", code),
            js("/cookies", "public", long),
        ])
        .await;
    let response = get(&app, &site, "/response").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let multi: Vec<_> = response
        .headers()
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(multi, ["one", "two"]);
    assert_eq!(
        response.headers()["set-cookie"],
        "tz=UTC;Max-Age=60;HttpOnly"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"ok": true}));

    let too_long = get(&app, &site, "/cookies?long=1").await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);
    assert!(too_long.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        too_long.text().await.unwrap().trim(),
        "Cookies max-age cannot be greater than a day"
    );
    let domain = get(&app, &site, "/cookies").await;
    assert_eq!(domain.status(), StatusCode::OK);
    assert_eq!(
        domain.headers()["set-cookie"].to_str().unwrap(),
        format!("b=2;Domain={};Path=/;HttpOnly", site.domain)
    );
}

#[tokio::test]
async fn private_assets_and_functions_are_reached_through_runtime_only() {
    if no_node() {
        return;
    }
    let app = app().await;
    let code = r#"exports.handler = (context, event, callback) => {
        const assets = Runtime.getAssets();
        callback(null, {
            text: assets['/config.json'].open(),
            assets: Object.keys(assets),
            functions: Object.keys(Runtime.getFunctions()).sort(),
            helper: require(Runtime.getFunctions()['lib/helper'].path).twice(21),
        });
    };"#;
    let site = app
        .deploy(&[
            js("/read", "public", code),
            js(
                "/lib/helper",
                "private",
                "exports.twice = (n) => 2 * n; exports.handler = (c, e, cb) => cb(null, 'no');",
            ),
            Deployable {
                path: "/config.json",
                visibility: "private",
                content_type: "application/json",
                data: br#"{"a":1}"#,
                function: false,
            },
            Deployable {
                path: "/public.txt",
                visibility: "public",
                content_type: "text/plain",
                data: b"pub",
                function: false,
            },
        ])
        .await;
    let response = get(&app, &site, "/read").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["text"], r#"{"a":1}"#);
    assert_eq!(body["assets"], serde_json::json!(["/config.json"]));
    assert_eq!(body["functions"], serde_json::json!(["lib/helper", "read"]));
    assert_eq!(body["helper"], 42);
    assert_eq!(
        get(&app, &site, "/config.json").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, &site, "/lib/helper").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn context_carries_variables_read_per_invocation() {
    if no_node() {
        return;
    }
    let app = app().await;
    let code = r#"exports.handler = (context, event, callback) => callback(null, {
        greeting: context.GREETING, path: context.PATH, domain: context.DOMAIN_NAME,
        service: context.SERVICE_SID, environment: context.ENVIRONMENT_SID,
        token: typeof context.AUTH_TOKEN, account: context.ACCOUNT_SID || null,
    });"#;
    let site = app.deploy(&[js("/ctx", "public", code)]).await;
    let variables = format!(
        "/v1/Services/{}/Environments/{}/Variables",
        site.service, site.environment
    );
    let created = app
        .post(&variables, &[("Key", "GREETING"), ("Value", "hi")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let variable = created.body["sid"].as_str().unwrap().to_owned();
    let off = app
        .post(
            &format!("/v1/Services/{}", site.service),
            &[("IncludeCredentials", "false")],
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let first: Value = app
        .client
        .get(app.url("/ctx"))
        .header("Host", format!("{}:{port}", site.domain))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["greeting"], "hi");
    assert_eq!(first["path"], "/ctx");
    assert_eq!(first["domain"], format!("{}:{port}", site.domain));
    assert_eq!(first["service"], site.service.as_str());
    assert_eq!(first["environment"], site.environment.as_str());
    assert_eq!(first["token"], "undefined", "IncludeCredentials is false");

    let updated = app
        .post(&format!("{variables}/{variable}"), &[("Value", "hello")])
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let changed = app
        .post(
            &format!("/v1/Services/{}", site.service),
            &[("IncludeCredentials", "true")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let second: Value = get(&app, &site, "/ctx").await.json().await.unwrap();
    assert_eq!(second["greeting"], "hello", "no redeploy needed");
    assert_eq!(second["domain"], site.domain.as_str());
    assert_eq!(second["token"], "string");
    assert_eq!(second["account"], ACCOUNT_SID);
}

#[tokio::test]
async fn timeouts_answer_504_kill_the_worker_and_the_next_request_works() {
    if no_node() {
        return;
    }
    let app = spawn_with(|mut c| {
        c.runtime.timeout = Duration::from_millis(500);
        c
    })
    .await;
    let site = app
        .deploy(&[
            js("/never", "public", "exports.handler = () => {};"),
            js(
                "/spin",
                "public",
                "exports.handler = () => { for (;;) {} };",
            ),
            js(
                "/ok",
                "public",
                "exports.handler = (c, e, cb) => cb(null, 'fine');",
            ),
        ])
        .await;
    // A first call warms a worker, so the time below is the limit's, not a cold start's.
    assert_eq!(get(&app, &site, "/ok").await.status(), StatusCode::OK);
    for path in ["/never", "/spin"] {
        let started = Instant::now();
        let response = get(&app, &site, path).await;
        let took = started.elapsed();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
            "{path} took {took:?}"
        );
        let next = get(&app, &site, "/ok").await;
        assert_eq!(next.status(), StatusCode::OK, "after {path}");
        assert_eq!(next.text().await.unwrap(), "fine");
    }
    let timed_out: Vec<Value> = logs(&app, &site)
        .await
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("runtime application timed out after ")
        })
        .collect();
    assert_eq!(timed_out.len(), 2);
    assert!(timed_out.iter().all(|l| l["level"] == "error"));
}

#[tokio::test]
async fn a_worker_over_its_memory_limit_is_stopped_and_replaced() {
    if no_node() {
        return;
    }
    // Heap 64 MiB, so a worker may reach 64 + 128 MiB resident. Buffers live outside the V8
    // heap (--max-old-space-size does not see them): depot watches the process instead.
    let app = spawn_with(|mut c| {
        c.runtime.memory_mb = 64;
        c.runtime.timeout = Duration::from_secs(5);
        c
    })
    .await;
    let hog = "const kept = [];\n\
        exports.handler = (c, e, cb) => {\n\
          for (let i = 0; i < 30; i++) kept.push(Buffer.alloc(10 * 1024 * 1024, 1));\n\
          setTimeout(() => cb(null, 'kept ' + kept.length), 3000);\n\
        };";
    let site = app
        .deploy(&[
            js("/hog", "public", hog),
            js(
                "/ok",
                "public",
                "exports.handler = (c, e, cb) => cb(null, 'fine');",
            ),
        ])
        .await;
    assert_eq!(get(&app, &site, "/ok").await.status(), StatusCode::OK);
    let started = Instant::now();
    let hogged = get(&app, &site, "/hog").await;
    assert_eq!(hogged.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "stopped when it went over, not at the end: {:?}",
        started.elapsed()
    );
    let sid = request_id(&hogged);
    let next = get(&app, &site, "/ok").await;
    assert_eq!(next.text().await.unwrap(), "fine", "a new worker took over");
    let errors: Vec<String> = logs(&app, &site)
        .await
        .iter()
        .filter(|l| l["request_sid"] == sid.as_str() && l["level"] == "error")
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        errors
            .iter()
            .any(|m| m.contains("went over its memory limit") && m.contains("limit 192 MiB")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn errors_are_500_plain_text_with_the_stack_only_in_logs() {
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app
        .deploy(&[
            js(
                "/throw",
                "public",
                "exports.handler = () => { throw new Error('boom'); };",
            ),
            js(
                "/reject",
                "public",
                "exports.handler = async () => { throw new Error('later'); };",
            ),
            js(
                "/string",
                "public",
                "exports.handler = (c, e, cb) => cb('bad');",
            ),
            js("/nohandler", "public", "exports.other = 1;"),
            js(
                "/ok",
                "public",
                "exports.handler = (c, e, cb) => cb(null, 'fine');",
            ),
        ])
        .await;
    let thrown = get(&app, &site, "/throw").await;
    assert_eq!(thrown.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(thrown.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let thrown_id = request_id(&thrown);
    assert_eq!(thrown.text().await.unwrap(), "Error: boom");

    let rejected = get(&app, &site, "/reject").await;
    assert_eq!(rejected.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(get(&app, &site, "/ok").await.status(), StatusCode::OK);

    let string = get(&app, &site, "/string").await;
    assert_eq!(string.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(string.text().await.unwrap(), "bad");

    let missing = get(&app, &site, "/nohandler").await;
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let missing_id = request_id(&missing);

    let logs = logs(&app, &site).await;
    let of = |id: &str| -> Vec<Value> {
        logs.iter()
            .filter(|l| l["request_sid"] == id)
            .cloned()
            .collect()
    };
    let boom = of(&thrown_id);
    assert_eq!(boom.len(), 1, "{boom:?}");
    assert_eq!(boom[0]["level"], "error");
    let message = boom[0]["message"].as_str().unwrap();
    assert!(
        message.contains("Error: boom") && message.contains("    at "),
        "{message}"
    );
    assert!(boom[0]["function_sid"].as_str().unwrap().starts_with("ZH"));
    let missing = of(&missing_id);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["level"], "error");
}

#[tokio::test]
async fn console_calls_become_logs_sharing_the_request_sid() {
    if no_node() {
        return;
    }
    let app = app().await;
    let code = r#"exports.handler = (context, event, callback) => {
        console.log('one'); console.warn('two'); console.error('three');
        callback(null, 'done');
    };"#;
    let many = r#"exports.handler = (context, event, callback) => {
        for (let i = 0; i < 100; i++) console.log(String(i).padStart(3, '0') + 'x'.repeat(96));
        callback(null, 'done');
    };"#;
    let site = app
        .deploy(&[js("/levels", "public", code), js("/many", "public", many)])
        .await;
    let response = get(&app, &site, "/levels").await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(&response);
    let logs_now = logs(&app, &site).await;
    let levels: Vec<(&str, &str)> = logs_now
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        levels,
        [("info", "one"), ("warn", "two"), ("error", "three")]
    );
    assert!(
        logs_now.iter().all(|l| l["request_sid"] == id.as_str()),
        "{id} {logs_now:?}"
    );
    assert!(logs_now
        .iter()
        .all(|l| l["build_sid"] == site.build.as_str() && l["function_sid"].is_string()));

    let many = get(&app, &site, "/many").await;
    let id = request_id(&many);
    let kept: Vec<String> = logs(&app, &site)
        .await
        .into_iter()
        .filter(|l| l["request_sid"] == id.as_str())
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    let total: usize = kept.iter().map(String::len).sum();
    assert!(total <= 3072, "{total} bytes kept");
    assert!(total > 2900, "only {total} bytes kept");
    assert!(
        kept.last().unwrap().starts_with("099"),
        "the last lines are kept"
    );
    assert!(kept[1].starts_with(&format!("{:03}", 100 - kept.len() + 1)));
}

#[tokio::test]
async fn protected_functions_need_a_valid_signature() {
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app
        .deploy(&[js(
            "/secure",
            "protected",
            "exports.handler = (c, e, cb) => cb(null, 'ok');",
        )])
        .await;
    let post = |signature: Option<String>| {
        let mut request = app
            .host(Method::POST, &site.domain, "/secure")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("To=%2B1555&Body=hi");
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post(Some("bm9wZQ==".into())).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let url = format!("https://{}/secure", site.domain);
    let params = [
        ("To".to_owned(), "+1555".to_owned()),
        ("Body".to_owned(), "hi".to_owned()),
    ];
    let signed = post(Some(depot::signature::compute(AUTH_TOKEN, &url, &params)))
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    assert_eq!(signed.text().await.unwrap(), "ok");

    let body = r#"{"a":1}"#;
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let target = format!("/secure?bodySHA256={hash}");
    let url = format!("https://{}{target}", site.domain);
    let signature = depot::signature::compute(AUTH_TOKEN, &url, &[]);
    let json = |body: &'static str| {
        app.host(Method::POST, &site.domain, &target)
            .header("content-type", "application/json")
            .header("X-Twilio-Signature", signature.clone())
            .body(body)
            .send()
    };
    assert_eq!(json(r#"{"a":1}"#).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        json(r#"{"a":2}"#).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn methods_body_and_header_limits() {
    if no_node() {
        return;
    }
    let app = spawn_with(|mut c| {
        c.runtime.max_body_bytes = 1000;
        c
    })
    .await;
    let site = app.deploy(&[js("/echo", "public", ECHO)]).await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app
            .host(method.clone(), &site.domain, "/echo")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, POST, OPTIONS");
    }
    let options = app
        .host(Method::OPTIONS, &site.domain, "/echo")
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(options.headers()["access-control-allow-origin"], "*");

    let big = app
        .host(Method::POST, &site.domain, "/echo")
        .body(vec![b'a'; 1001])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let mut lines = app.host(Method::GET, &site.domain, "/echo");
    for i in 0..91 {
        lines = lines.header(format!("x-h{i}"), "v");
    }
    let lines = lines.send().await.unwrap();
    assert_eq!(lines.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(lines.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(logs(&app, &site).await.is_empty(), "nothing was invoked");
}

#[tokio::test]
async fn account_concurrency_queues_then_answers_429() {
    if no_node() {
        return;
    }
    let app = spawn_with(|mut c| {
        c.runtime.account_concurrency = 2;
        c.runtime.queue = Duration::from_millis(300);
        c.runtime.timeout = Duration::from_secs(5);
        c
    })
    .await;
    let site = app
        .deploy(&[js(
            "/slow",
            "public",
            "exports.handler = (c, e, cb) => setTimeout(() => cb(null, 'slow'), 1000);",
        )])
        .await;
    let calls = (0..4).map(|_| get(&app, &site, "/slow"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, busy), (2, 2), "{statuses:?}");
}

#[tokio::test]
async fn a_client_that_goes_away_neither_stops_the_function_nor_costs_its_worker() {
    if no_node() {
        return;
    }
    let app = app().await;
    // Module state lives as long as the worker: a worker killed with the dropped request
    // would start the count again. The slow call logs when it finishes.
    let code = "let calls = 0;\n\
        exports.handler = (c, e, cb) => {\n\
          calls += 1;\n\
          if (e.slow) return setTimeout(() => { console.log('finished ' + calls); cb(null, 'slow'); }, 400);\n\
          cb(null, String(calls));\n\
        };";
    let site = app.deploy(&[js("/count", "public", code)]).await;
    assert_eq!(get(&app, &site, "/count").await.text().await.unwrap(), "1");
    let gave_up = app
        .host(Method::GET, &site.domain, "/count?slow=1")
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up before the answer");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        get(&app, &site, "/count").await.text().await.unwrap(),
        "3",
        "the same warm worker ran all three calls"
    );
    let messages: Vec<String> = logs(&app, &site)
        .await
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        messages.iter().any(|m| m == "finished 2"),
        "the abandoned call ran to its end and its console line was kept: {messages:?}"
    );
}

#[tokio::test]
async fn calls_sharing_one_busy_worker_each_get_their_own_answer_and_logs() {
    if no_node() {
        return;
    }
    // One worker, many callers at once: depot hands the worker its next invocation before the
    // current one answers, and every answer and console line must still find its request.
    let app = spawn_with(|mut c| {
        c.runtime.max_workers_per_environment = 1;
        c.runtime.account_concurrency = 100;
        c.runtime.queue = Duration::from_secs(10);
        c
    })
    .await;
    let code = "exports.handler = (c, e, cb) => { console.log('call ' + e.n); cb(null, 'answer ' + e.n); };";
    let site = app.deploy(&[js("/n", "public", code)]).await;
    // Quick calls first: depot pipelines only for a pool whose calls have been quick.
    for n in 0..10 {
        let answer = get(&app, &site, &format!("/n?n={n}")).await;
        assert_eq!(answer.text().await.unwrap(), format!("answer {n}"));
    }
    let (app_ref, site_ref) = (&app, &site);
    let calls = (100..160).map(|n| async move {
        let response = get(app_ref, site_ref, &format!("/n?n={n}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let sid = request_id(&response);
        (n, sid, response.text().await.unwrap())
    });
    let answers = futures_util::future::join_all(calls).await;
    let logs = logs(&app, &site).await;
    for (n, sid, body) in answers {
        assert_eq!(body, format!("answer {n}"));
        let lines: Vec<&str> = logs
            .iter()
            .filter(|l| l["request_sid"] == sid.as_str())
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert_eq!(lines, [format!("call {n}")], "the Logs of {sid}");
    }
    assert_eq!(workers_under(&app.dir.path().canonicalize().unwrap()), 1);
}

#[tokio::test]
async fn a_call_waiting_behind_one_that_times_out_still_runs() {
    if no_node() {
        return;
    }
    let app = spawn_with(|mut c| {
        c.runtime.max_workers_per_environment = 1;
        c.runtime.timeout = Duration::from_millis(800);
        c.runtime.queue = Duration::from_secs(10);
        c
    })
    .await;
    let site = app
        .deploy(&[
            js(
                "/spin",
                "public",
                "exports.handler = () => { for (;;) {} };",
            ),
            js(
                "/ok",
                "public",
                "exports.handler = (c, e, cb) => cb(null, e.n);",
            ),
        ])
        .await;
    for _ in 0..10 {
        assert_eq!(
            get(&app, &site, "/ok?n=warm").await.status(),
            StatusCode::OK
        );
    }
    // Whether the quick calls wait in depot's queue or in the spinning worker's socket, they
    // must run (on a new worker) once the spinning one is killed, and within their own limit.
    let spin = get(&app, &site, "/spin");
    let (app_ref, site_ref) = (&app, &site);
    let quick = (0..3).map(|n| async move {
        tokio::time::sleep(Duration::from_millis(5 * n)).await;
        let response = get(app_ref, site_ref, &format!("/ok?n={n}")).await;
        (response.status(), response.text().await.unwrap(), n)
    });
    let (spun, quick) = tokio::join!(spin, futures_util::future::join_all(quick));
    assert_eq!(spun.status(), StatusCode::GATEWAY_TIMEOUT);
    for (status, body, n) in quick {
        assert_eq!((status, body), (StatusCode::OK, n.to_string()));
    }
}

/// Processes whose working directory is under `dir`: the workers of an app (they run in
/// their build's directory inside the data dir).
fn workers_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path().join("cwd")).ok())
        .filter(|cwd| cwd.starts_with(dir))
        .count()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < until, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redeploying_or_deleting_an_environment_stops_its_old_workers() {
    if no_node() {
        return;
    }
    let app = app().await;
    let data = app.dir.path().canonicalize().unwrap();
    let code = |answer: &str| format!("exports.handler = (c, e, cb) => cb(null, '{answer}');");
    let (one, two) = (code("one"), code("two"));
    let site = app.deploy(&[js("/v", "public", &one)]).await;
    assert_eq!(get(&app, &site, "/v").await.text().await.unwrap(), "one");
    assert_eq!(workers_under(&data), 1);

    // A redeployment stops the old build's worker without waiting for a request.
    let (build, status) = app.build(&site.service, &[js("/v", "public", &two)]).await;
    assert_eq!(status, "completed");
    let deployments = format!(
        "/v1/Services/{}/Environments/{}/Deployments",
        site.service, site.environment
    );
    let deployed = app
        .post(&deployments, &[("BuildSid", build.as_str())])
        .await;
    assert_eq!(deployed.status, StatusCode::CREATED);
    eventually("old worker stopped after a redeploy", || {
        workers_under(&data) == 0
    })
    .await;
    assert_eq!(get(&app, &site, "/v").await.text().await.unwrap(), "two");
    assert_eq!(workers_under(&data), 1);

    // Deleting the environment stops its workers too.
    let deleted = app
        .delete(&format!(
            "/v1/Services/{}/Environments/{}",
            site.service, site.environment
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    eventually("worker stopped after the environment was deleted", || {
        workers_under(&data) == 0
    })
    .await;
}

#[tokio::test]
async fn a_new_deployment_runs_the_new_code_in_a_new_pool() {
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app
        .deploy(&[js(
            "/v",
            "public",
            "exports.handler = (c, e, cb) => cb(null, 'one');",
        )])
        .await;
    assert_eq!(get(&app, &site, "/v").await.text().await.unwrap(), "one");
    let (build, status) = app
        .build(
            &site.service,
            &[js(
                "/v",
                "public",
                "exports.handler = (c, e, cb) => cb(null, 'two');",
            )],
        )
        .await;
    assert_eq!(status, "completed");
    let deployed = app
        .post(
            &format!(
                "/v1/Services/{}/Environments/{}/Deployments",
                site.service, site.environment
            ),
            &[("BuildSid", build.as_str())],
        )
        .await;
    assert_eq!(deployed.status, StatusCode::CREATED);
    assert_eq!(get(&app, &site, "/v").await.text().await.unwrap(), "two");
}

#[tokio::test]
async fn without_node_function_paths_answer_503() {
    // Builds with functions need node too: deploy with it, then serve without it.
    if no_node() {
        return;
    }
    let app = app().await;
    let site = app.deploy(&[js("/echo", "public", ECHO)]).await;
    let app = app
        .restart_with(|mut c| {
            c.runtime.node = None;
            c
        })
        .await;
    let response = get(&app, &site, "/echo").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("twilio-request-id"));
    assert!(response
        .text()
        .await
        .unwrap()
        .starts_with("Function execution needs Node.js"));
    let logs = logs(&app, &site).await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["level"], "error");
}

/// Like [`TestApp::deploy`], with the Build's `Dependencies` set (a Service of its own, so it
/// can sit beside one made by `deploy`).
async fn deploy_with(app: &TestApp, files: &[Deployable<'_>], dependencies: &str) -> Deployed {
    app.deploy_with("legacy", files, Some(dependencies)).await
}

#[tokio::test]
async fn hello_twiml_and_handlers_before_1_2_without_event_request() {
    if no_node() {
        return;
    }
    let app = app().await;
    let hello = r#"exports.handler = (context, event, callback) => {
        const twiml = new Twilio.twiml.VoiceResponse();
        twiml.say('Hello World');
        callback(null, twiml);
    };"#;
    let current = app.deploy(&[js("/hello", "public", hello)]).await;
    let response = get(&app, &current, "/hello").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<?xml"), "{body}");
    assert!(body.contains("<Say>Hello World</Say>"), "{body}");

    let old = deploy_with(
        &app,
        &[js("/echo", "public", ECHO)],
        r#"[{"name":"@twilio/runtime-handler","version":"1.1.3"}]"#,
    )
    .await;
    let event: Value = get(&app, &old, "/echo?a=1").await.json().await.unwrap();
    assert_eq!(event["a"], "1");
    assert!(event.get("request").is_none(), "{event}");
}
