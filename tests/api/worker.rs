//! The built worker (edge/build/index.js) served by Miniflare.

use reqwest::StatusCode;
use serde_json::Value;

use testkit::Worker;

#[tokio::test]
async fn worker_placeholder_answers_in_miniflare() {
    let worker = Worker::start().await;
    let http = reqwest::Client::new();

    let resp = http
        .get(worker.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    let body: Value = resp.json().await.expect("/healthz body is JSON");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["service"], "edgestock-edge", "{body}");
    assert!(body["version"].is_string(), "{body}");

    let resp = http
        .get(worker.url("/nope"))
        .send()
        .await
        .expect("GET /nope");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.expect("404 body is JSON");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert_eq!(body["error"]["message"], "no route for GET /nope", "{body}");
}
