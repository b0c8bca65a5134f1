//! The demo product page in a real headless Chromium against the whole stack (the worker in
//! workerd, the gateway, Redis, the origin and Postgres) plus the demo checkout backend: the
//! badge, reserve with its countdown, release, a lost answer retried with the same
//! Idempotency-Key, and place order → awaiting payment → the checkout confirms → CONFIRMED
//! (tests/browser/demo.test.mjs).

use std::time::Duration;

use serde_json::json;

use edgestock_core::domain::Sku;
use testkit::{redis_url, repo_root};
use testkit_stack::full::{FullStack, ADMIN_API_KEY, ORIGIN_API_KEY};

#[tokio::test]
async fn demo_page_reserves_releases_places_and_gets_confirmed_in_chromium() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} missing: scripts/test.sh installs Debian's chromium"
    );
    let s = FullStack::start(&redis_url(), json!({}), &[]).await;
    s.put_sku("DEMO-BROWSER", 3, 5).await;
    s.put_sku("DEMO-PAY", 3, 5).await;
    // A store that offers pickup and ships nothing, holding the only unit of DEMO-PICKUP.
    s.put_sku("DEMO-PICKUP", 1, 5).await;
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth(ADMIN_API_KEY);
    let res = admin(s.http.put(s.origin("/v1/admin/locations/demo-store")))
        .json(&json!({"name": "Store 12", "kind": "store", "priority": 5,
                      "active": true, "ships": false, "pickup": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let res = admin(
        s.http
            .post(s.origin("/v1/admin/skus/DEMO-PICKUP/transfers")),
    )
    .json(&json!({"from": "default", "to": "demo-store", "qty": 1, "movement_id": "demo-pickup-1"}))
    .send()
    .await
    .unwrap();
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let root = repo_root();
    // DEMO ONLY backend: confirms placed orders at the origin, as a payment webhook would.
    let listen = format!("127.0.0.1:{}", testkit::free_port());
    let mut checkout = tokio::process::Command::new("node")
        .arg("scripts/demo-checkout.mjs")
        .current_dir(&root)
        .env("DEMO_CHECKOUT_LISTEN", &listen)
        .env("ORIGIN_URL", &s.origin_url)
        .env("ORIGIN_API_KEY", ORIGIN_API_KEY)
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the demo checkout");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http
            .post(format!("http://{listen}/pay"))
            .body("{}")
            .send()
            .await
            .is_ok_and(|r| r.status() == 422)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the demo checkout came up on {listen}");
    let shots = root.join("tests/artifacts");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/browser/"])
        .current_dir(&root)
        .env("EDGE_URL", s.worker.base_url())
        .env("DEMO_SKU", "DEMO-BROWSER")
        .env("PAY_SKU", "DEMO-PAY")
        .env("PICKUP_SKU", "DEMO-PICKUP")
        .env("CHECKOUT_URL", format!("http://{listen}"))
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM_PATH", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out)
        .await
        .expect("the browser test finished in time")
        .expect("node runs");
    let _ = checkout.kill().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{stdout}");
    assert!(
        stdout.contains("pass 4") && stdout.contains("fail 0") && stdout.contains("skipped 0"),
        "{stdout}"
    );
    assert!(
        shots.join("demo-6-confirmed.png").exists(),
        "screenshot saved"
    );
    let redis = &s.origin_state.redis;
    let lvl = redis
        .stock(&[
            Sku::parse("DEMO-BROWSER").unwrap(),
            Sku::parse("DEMO-PAY").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(
        lvl[0].available(),
        3,
        "the page's release gave the unit back"
    );
    assert_eq!(
        (lvl[1].on_hand, lvl[1].reserved),
        (2, 0),
        "the confirmed order sold one unit"
    );
    let at_store = redis
        .stock_by_location(&Sku::parse("DEMO-PICKUP").unwrap())
        .await
        .unwrap();
    let store = at_store
        .iter()
        .find(|l| l.location.as_str() == "demo-store")
        .expect("the store's counters");
    assert_eq!((store.on_hand, store.reserved), (1, 1), "held at the store");
    let status: String = sqlx::query_scalar("select status::text from orders")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(status, "CONFIRMED");
    s.stop().await;
}
