//! One record per request, through the platform seam: the exact data point and log line.

use serde_json::json;

use super::*;
use crate::telemetry::{DataPoint, RequestRecord};

fn recorded(p: &Fake) -> Vec<RequestRecord> {
    p.0.borrow().recorded.clone()
}

#[test]
fn a_reserve_is_one_data_point_with_its_route_status_code_sku_and_redis_time() {
    let p = Fake::default();
    p.0.borrow_mut().redis_call_ms = 12;
    p.redis(
        200,
        &format!(
            r#"{{"result":["{}","{}",0]}}"#,
            b64("insufficient"),
            b64("TEE-1")
        ),
    );
    let r = run(
        &p,
        &cfg(),
        &reserve_req(r#"{"items":[{"sku":"TEE-1","qty":2}]}"#),
    );
    assert_eq!(r.code(), 409);
    let recs = recorded(&p);
    assert_eq!(recs.len(), 1);
    let id = hex::encode([7u8; 16]);
    assert_eq!(
        recs[0].data_point(),
        DataPoint {
            indexes: vec!["TEE-1".into()],
            blobs: vec![
                "POST /v1/reservations".into(),
                "insufficient_stock".into(),
                "miss".into(),
                id.clone(),
                "s0".into(),
            ],
            doubles: vec![409.0, 12.0, 12.0, 1.0],
        }
    );
    let line: Value = serde_json::from_str(&recs[0].log_line()).expect("JSON");
    assert_eq!(
        line,
        json!({
            "msg": "request", "request_id": id, "route": "POST /v1/reservations",
            "status": 409, "error_code": "insufficient_stock", "sku": "TEE-1", "cache": "miss",
            "shard": 0, "duration_ms": 12.0, "redis_ms": 12.0, "redis_calls": 1
        })
    );
}

/// With several shards each record names its SKU's shard, so a lost shard's 503s can be told
/// apart from the others' answers; a request about no SKU names none.
#[test]
fn a_record_names_the_shard_of_its_sku() {
    let c = cfg_with(&[("REDIS_SHARDS", "8")]);
    let keys = c.as_ref().unwrap().keys();
    let sku = (0..100)
        .map(|i| format!("TEE-{i}"))
        .find(|s| keys.shard_of(s).0 != 0)
        .unwrap();
    let shard = keys.shard_of(&sku).0;
    let p = Fake::default();
    p.redis(
        503,
        r#"{"error":"ERR redis unavailable: Connection refused"}"#,
    );
    let r = run(&p, &c, &req("GET", &format!("/v1/stock/{sku}")));
    assert_eq!(r.code(), 503);
    assert_eq!(run(&p, &c, &req("GET", "/healthz")).code(), 200);
    let recs = recorded(&p);
    let seen: Vec<(Option<u32>, String, String)> = recs
        .iter()
        .map(|r| {
            let d = r.data_point();
            (r.shard, d.blobs[1].clone(), d.blobs[4].clone())
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some(shard), "redis_unavailable".into(), format!("s{shard}")),
            (None, String::new(), String::new()),
        ]
    );
}

#[test]
fn a_cached_read_records_a_hit_with_no_redis_call() {
    let p = Fake::default();
    p.redis(200, &stock_reply(1, 10, 0, 2));
    for _ in 0..2 {
        assert_eq!(run(&p, &cfg(), &req("GET", "/v1/stock/A")).code(), 200);
    }
    let points: Vec<(Vec<String>, f64)> = recorded(&p)
        .iter()
        .map(|r| {
            let d = r.data_point();
            (d.blobs[..3].to_vec(), d.doubles[3])
        })
        .collect();
    let blobs = |cache: &str| vec!["GET /v1/stock/{sku}".into(), String::new(), cache.into()];
    assert_eq!(points, vec![(blobs("miss"), 1.0), (blobs("hit"), 0.0)]);
    assert_eq!(recorded(&p)[1].sku.as_deref(), Some("A"));
}

#[test]
fn paths_are_recorded_as_templates_and_ids_never_leave() {
    let p = Fake::default();
    let cases = [
        (
            "GET",
            "/v1/reservations/rsv_secretid",
            "GET /v1/reservations/{id}",
            401,
        ),
        (
            "POST",
            "/v1/reservations/rsv_x/extend",
            "POST /v1/reservations/{id}/extend",
            401,
        ),
        ("GET", "/nope/../etc", "unmatched", 404),
        ("GET", "/healthz", "GET /healthz", 200),
        ("GET", "/v1/stock?sku=B&sku=A", "GET /v1/stock", 503),
    ];
    for (method, path, _, _) in cases {
        run(&p, &cfg(), &req(method, path));
    }
    let got: Vec<(String, u16, Option<String>)> = recorded(&p)
        .into_iter()
        .map(|r| (r.route, r.status, r.sku))
        .collect();
    let want: Vec<(String, u16, Option<String>)> = cases
        .iter()
        .map(|(_, _, route, status)| {
            let sku = route.contains("stock").then(|| "B".to_owned());
            ((*route).to_owned(), *status, sku)
        })
        .collect();
    assert_eq!(got, want);
    for r in recorded(&p) {
        assert!(!r.log_line().contains("secretid"), "{}", r.log_line());
    }
}

#[test]
fn a_5xx_record_carries_the_request_id_the_answer_shows() {
    let p = Fake::default();
    // No canned Redis reply: the transport fails, the edge answers 503.
    let r = run(&p, &cfg(), &req("GET", "/v1/stock/A"));
    assert_eq!(r.code(), 503);
    let rec = &recorded(&p)[0];
    assert_eq!(r.header("x-request-id"), Some(rec.request_id.as_str()));
    assert_eq!(rec.error_code.as_deref(), Some("redis_unavailable"));
    assert_eq!(json_of(&r)["error"]["request_id"], rec.request_id.as_str());
}
