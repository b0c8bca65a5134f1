//! Dependencies down (Redis, the origin), forwarding to the origin, CORS and the static files.

use super::*;

#[tokio::test]
async fn redis_unreachable_is_a_quick_503() {
    // Nothing listening where the REST endpoint should be.
    let s = Stack::start(json!({"REDIS_REST_URL": format!("http://127.0.0.1:{}", closed_port())}))
        .await;
    let t = Instant::now();
    let a = get(&s, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(header(&a, "retry-after").is_some());
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // The gateway is up but Redis behind it is not.
    let gw = gateway(&format!("redis://127.0.0.1:{}", closed_port()), |c| {
        c.redis_timeout_ms = 300
    })
    .await;
    let s2 =
        Stack::start(json!({"REDIS_REST_URL": gw.url(), "REDIS_REST_TOKEN": GATEWAY_TOKEN})).await;
    let a = get(&s2, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );

    // A REST endpoint that accepts and never answers: the timeout fires.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    let s3 = Stack::start(
        json!({"REDIS_REST_URL": format!("http://{addr}"), "REDIS_TIMEOUT_MS": "400"}),
    )
    .await;
    let t = Instant::now();
    let a = get(&s3, "/v1/stock/A").await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable")
    );
    assert!(
        t.elapsed() >= Duration::from_millis(350) && t.elapsed() < Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    hold.abort();
}

#[tokio::test]
async fn place_and_cancel_are_signed_and_forwarded_to_the_origins_edge_routes() {
    let origin = StubOrigin::start().await;
    let s =
        Stack::start(json!({"ORIGIN_URL": origin.url.clone(), "ORIGIN_TIMEOUT_MS": "500"})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let conf = format!("/v1/reservations/{id}/confirm");

    let resp = s
        .http
        .post(s.url(&conf))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    assert_eq!(a.0, StatusCode::CREATED, "{:?}", a.2);
    assert_eq!(a.2["order_id"], "ord-1");
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].signature_ok,
        "the stub origin verified the signature"
    );
    assert_eq!(seen[0].path, format!("/v1/reservations/{id}/place"));
    assert_eq!(seen[0].body, json!({}));

    // Cancel goes to the origin's release route, signed too; an empty body is fine.
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &format!("/v1/reservations/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.0, StatusCode::OK, "{:?}", a.2);
    let seen = origin.seen();
    assert_eq!(seen[1].path, format!("/v1/reservations/{id}/release"));
    assert!(seen[1].signature_ok);

    // The origin's JSON errors pass through.
    origin.set_mode(Mode::Reply(
        409,
        json!({"error": {"code": "reservation_expired", "message": "too late"}}),
    ));
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::CONFLICT, "reservation_expired")
    );
    assert_eq!(a.2["error"]["message"], "too late");

    // A confirm body with unknown fields never reaches the origin.
    let n = origin.seen().len();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({"amount": 1})),
    )
    .await;
    assert_eq!(a.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(origin.seen().len(), n);

    // A hanging origin: 503 after ORIGIN_TIMEOUT_MS.
    origin.set_mode(Mode::Hang);
    let t = Instant::now();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &conf,
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "origin_unavailable")
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn origin_unreachable_is_503() {
    // Stack::start points ORIGIN_URL at a closed port.
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let a = reserve(&s, json!({"items": [{"sku": "A", "qty": 1}]})).await;
    let id = a.2["reservation_id"].as_str().unwrap().to_owned();
    let token = a.2["token"].as_str().unwrap().to_owned();
    let a = with_token(
        &s,
        reqwest::Method::POST,
        &format!("/v1/reservations/{id}/confirm"),
        Some(&token),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::SERVICE_UNAVAILABLE, "origin_unavailable")
    );
}

#[tokio::test]
async fn cors_preflight_and_headers_for_allowed_origins_only() {
    let s = Stack::start(json!({})).await;
    s.seed("A", 10, 2).await;
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/reservations"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        h("access-control-allow-origin").as_deref(),
        Some("https://shop.example")
    );
    let allowed = h("access-control-allow-headers").unwrap();
    for needed in ["content-type", "authorization", "idempotency-key"] {
        assert!(allowed.contains(needed), "{allowed}");
    }
    assert!(h("access-control-allow-methods").unwrap().contains("POST"));

    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/v1/reservations"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let expose = resp
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap();
    for needed in [
        "Retry-After",
        "ETag",
        "Idempotency-Replayed",
        "X-Request-Id",
    ] {
        assert!(expose.contains(needed), "{expose}");
    }
    let resp = s
        .http
        .get(s.url("/v1/stock/A"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn serves_the_browser_module_and_the_demo_page() {
    let w = Worker::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(w.url("/edgestock.js")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("export class ReserveButton"));
    let resp = http.get(w.url("/demo.html")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("./edgestock.js"));
}

#[tokio::test]
async fn missing_configuration_is_a_json_500_not_a_crash() {
    let w = Worker::start().await;
    let http = reqwest::Client::new();
    let a = answer(http.get(w.url("/v1/stock/A")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    // What is missing goes to the worker's log; the answer names the request id only.
    let rid = a.2["error"]["request_id"].as_str().expect("request_id");
    assert!(a.2["error"]["message"].as_str().unwrap().contains(rid));
    assert!(!a.2["error"]["message"]
        .as_str()
        .unwrap()
        .contains("REDIS_REST_URL"));
    let a = answer(
        http.post(w.url("/v1/reservations"))
            .json(&json!({"items": [{"sku": "A", "qty": 1}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    // Health still answers.
    let resp = http.get(w.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let w = Worker::start_with_bindings(&json!({"MAX_ITEMS": "lots"})).await;
    let a = answer(http.get(w.url("/v1/stock/A")).send().await.unwrap()).await;
    assert_eq!(
        (a.0, code(&a)),
        (StatusCode::INTERNAL_SERVER_ERROR, "config_error")
    );
    assert!(a.2["error"]["request_id"].is_string(), "{:?}", a.2);
}
