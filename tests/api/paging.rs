use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn empty_list_has_the_documented_meta() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let listed = app.get(&format!("/v1/Services/{service}/Assets")).await;
    assert_eq!(listed.status, StatusCode::OK);
    let url = app.url(&format!("/v1/Services/{service}/Assets?PageSize=50&Page=0"));
    assert_eq!(
        listed.body,
        json!({
            "assets": [],
            "meta": {
                "first_page_url": url,
                "key": "assets",
                "next_page_url": null,
                "page": 0,
                "page_size": 50,
                "previous_page_url": null,
                "url": url,
            }
        })
    );
}

#[tokio::test]
async fn following_next_page_url_visits_every_asset_once_in_creation_order() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(app.asset(&service, &format!("a{i}")).await);
    }
    let mut seen = Vec::new();
    let mut next = Some(app.url("/v1/Services/svc/Assets?PageSize=5"));
    let mut pages = 0;
    while let Some(url) = next {
        let path = url.strip_prefix(&app.base).unwrap().to_owned();
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["meta"]["page"], pages);
        assert_eq!(page.body["meta"]["page_size"], 5);
        for item in page.body["assets"].as_array().unwrap() {
            seen.push(item["sid"].as_str().unwrap().to_owned());
        }
        next = page.body["meta"]["next_page_url"]
            .as_str()
            .map(str::to_owned);
        if let Some(n) = &next {
            assert!(n.starts_with("http://"), "{n}");
            assert!(
                n.contains(&format!("/v1/Services/{service}/Assets?")),
                "{n}"
            );
        }
        pages += 1;
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn previous_page_url_leads_back() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    for i in 0..7 {
        app.asset(&service, &format!("a{i}")).await;
    }
    let first = app
        .get(&format!("/v1/Services/{service}/Assets?PageSize=3"))
        .await;
    let second_url = first.body["meta"]["next_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.get(second_url.strip_prefix(&app.base).unwrap()).await;
    let third_url = second.body["meta"]["next_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = app.get(third_url.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(third.body["assets"].as_array().unwrap().len(), 1);
    assert_eq!(third.body["meta"]["next_page_url"], serde_json::Value::Null);
    assert_eq!(third.body["meta"]["url"], third_url.as_str());
    let back_url = third.body["meta"]["previous_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(back_url.contains("Page=1&PageToken=PT"), "{back_url}");
    let back = app.get(back_url.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(back.body["assets"], second.body["assets"]);
    assert!(back.body["meta"]["next_page_url"].is_string());
    let back_again = back.body["meta"]["previous_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(back_again.ends_with("PageSize=3&Page=0"), "{back_again}");
}

#[tokio::test]
async fn page_without_token_uses_offset() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let mut sids = Vec::new();
    for i in 0..5 {
        sids.push(app.asset(&service, &format!("a{i}")).await);
    }
    let page = app
        .get(&format!("/v1/Services/{service}/Assets?PageSize=2&Page=1"))
        .await;
    let got: Vec<&str> = page.body["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_str().unwrap())
        .collect();
    assert_eq!(got, [sids[2].as_str(), sids[3].as_str()]);
}

#[tokio::test]
async fn page_size_is_clamped_to_1000() {
    let app = spawn_app().await;
    let listed = app.get("/v1/Services?PageSize=5000").await;
    assert_eq!(listed.body["meta"]["page_size"], 1000);
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    for query in [
        "PageSize=0",
        "PageSize=-5",
        "PageSize=abc",
        "PageSize=1.5",
        "Page=-1",
        "Page=x",
        "PageToken=garbage",
        "PageToken=PT",
        "PageToken=PTYWJj",
    ] {
        assert_error(&app.get(&format!("/v1/Services?{query}")).await, 400, 20001);
        assert_error(
            &app.get(&format!("/v1/Services/{service}/Assets?{query}"))
                .await,
            400,
            20001,
        );
    }
}

#[tokio::test]
async fn deleted_rows_do_not_break_tokens() {
    let app = spawn_app().await;
    let service = app.service("svc").await;
    let mut sids = Vec::new();
    for i in 0..6 {
        sids.push(app.asset(&service, &format!("a{i}")).await);
    }
    let first = app
        .get(&format!("/v1/Services/{service}/Assets?PageSize=3"))
        .await;
    let next = first.body["meta"]["next_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // The last row of page one disappears before page two is read.
    app.delete(&format!("/v1/Services/{service}/Assets/{}", sids[2]))
        .await;
    let second = app.get(next.strip_prefix(&app.base).unwrap()).await;
    let got: HashSet<&str> = second.body["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sid"].as_str().unwrap())
        .collect();
    assert_eq!(got, sids[3..].iter().map(String::as_str).collect());
}

#[tokio::test]
async fn services_list_pages_too() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.service(&format!("s{i}")).await;
    }
    let page = app.get("/v1/Services?PageSize=2").await;
    assert_eq!(page.body["services"].as_array().unwrap().len(), 2);
    assert_eq!(page.body["meta"]["key"], "services");
    let next = page.body["meta"]["next_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let rest = app.get(next.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(rest.body["services"][0]["unique_name"], "s2");
}
