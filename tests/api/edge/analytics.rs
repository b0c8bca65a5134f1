//! One data point and one JSON log line per request, in workerd: the worker's `ANALYTICS`
//! dataset is a recording stand-in that forwards every point to a receiver here.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::Json;

use super::*;

type Points = Arc<Mutex<Vec<Value>>>;

async fn receive(State(points): State<Points>, Json(point): Json<Value>) -> &'static str {
    points.lock().expect("points").push(point);
    "ok"
}

async fn receiver() -> (String, Points) {
    let points = Points::default();
    let app = axum::Router::new()
        .route("/", axum::routing::post(receive))
        .with_state(points.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, points)
}

/// The request ids of the worker's JSON log lines, in order, with each line.
fn logged(s: &Stack) -> Vec<(String, Value)> {
    s.worker
        .request_log()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON log line");
            (v["request_id"].as_str().expect("request_id").to_owned(), v)
        })
        .collect()
}

#[tokio::test]
async fn every_request_is_one_data_point_and_one_log_line_with_exact_fields() {
    let (sink, points) = receiver().await;
    let s = Stack::start_with(
        &testkit_stack::stack::redis_url(),
        json!({"SOLD_OUT_CACHE_SECONDS": "30", "REQUEST_LOG": "true"}),
        Some(&sink),
    )
    .await;
    s.seed("W", 10, 0).await;
    s.seed("A", 1, 0).await;
    // Warm the script cache (a first call may be NOSCRIPT + EVAL), then start counting.
    assert_eq!(reserve(&s, one("W")).await.0, StatusCode::CREATED);
    assert_eq!(get(&s, "/v1/stock/W").await.0, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while points.lock().expect("points").len() < 2 || s.worker.request_log().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the warm-up points and lines never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    points.lock().expect("points").clear();
    let skip = s.worker.request_log().len();

    assert_eq!(reserve(&s, one("A")).await.0, StatusCode::CREATED);
    assert_eq!(reserve(&s, one("A")).await.0, StatusCode::CONFLICT);
    assert_eq!(reserve(&s, one("A")).await.0, StatusCode::CONFLICT);
    assert_eq!(get(&s, "/v1/stock/A").await.0, StatusCode::OK);
    assert_eq!(get(&s, "/healthz").await.0, StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(10);
    while points.lock().expect("points").len() < 5 || logged(&s).len() < skip + 5 {
        assert!(
            Instant::now() < deadline,
            "5 points and 5 log lines never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let points = points.lock().expect("points").clone();
    let lines: Vec<(String, Value)> = logged(&s).split_off(skip);
    assert_eq!((points.len(), lines.len()), (5, 5), "{points:?}");

    // The points in request order (by the log lines' request ids), with their fixed fields.
    let by_id = |id: &str| {
        points
            .iter()
            .find(|p| p["blobs"][3] == id)
            .unwrap_or_else(|| panic!("no point for request {id}: {points:?}"))
            .clone()
    };
    let fixed: Vec<Value> = lines
        .iter()
        .map(|(id, _)| {
            let p = by_id(id);
            json!([
                p["indexes"],
                p["blobs"][0],
                p["blobs"][1],
                p["blobs"][2],
                p["blobs"][4],
                p["doubles"][0],
                p["doubles"][3]
            ])
        })
        .collect();
    assert_eq!(
        fixed,
        vec![
            json!([["A"], "POST /v1/reservations", "", "", "s0", 201, 1]),
            json!([
                ["A"],
                "POST /v1/reservations",
                "insufficient_stock",
                "miss",
                "s0",
                409,
                1
            ]),
            json!([
                ["A"],
                "POST /v1/reservations",
                "insufficient_stock",
                "hit",
                "s0",
                409,
                0
            ]),
            json!([["A"], "GET /v1/stock/{sku}", "", "miss", "s0", 200, 1]),
            json!([[""], "GET /healthz", "", "", "", 200, 0]),
        ]
    );
    for (id, line) in &lines {
        let p = by_id(id);
        let (duration, redis_ms) = (
            p["doubles"][1].as_f64().expect("duration"),
            p["doubles"][2].as_f64().expect("redis ms"),
        );
        assert!((0.0..=duration).contains(&redis_ms), "{p}");
        if p["doubles"][3] == 0.0 {
            assert_eq!(redis_ms, 0.0, "{p}");
        }
        // The log line says the same.
        assert_eq!(line["route"], p["blobs"][0], "{line}");
        assert_eq!(line["status"].as_f64(), p["doubles"][0].as_f64(), "{line}");
        assert_eq!(
            line["redis_calls"].as_f64(),
            p["doubles"][3].as_f64(),
            "{line}"
        );
        assert_eq!(line["duration_ms"].as_f64(), Some(duration), "{line}");
    }
}

fn one(sku: &str) -> Value {
    json!({"items": [{"sku": sku, "qty": 1}]})
}
