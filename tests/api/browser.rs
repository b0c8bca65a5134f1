//! The demo product page in a real headless Chromium against the worker in workerd, the gateway
//! and Redis: the badge, reserve with its countdown, release, and a lost answer retried with the
//! same Idempotency-Key (tests/browser/demo.test.mjs).

use std::time::Duration;

use serde_json::json;

use testkit::repo_root;
use testkit_stack::stack::Stack;

#[tokio::test]
async fn demo_page_shows_the_badge_reserves_counts_down_and_releases_in_chromium() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} missing: scripts/test.sh installs Debian's chromium"
    );
    let s = Stack::start(json!({})).await;
    s.seed("DEMO-BROWSER", 3, 5).await;
    let root = repo_root();
    let shots = root.join("tests/artifacts");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/browser/"])
        .current_dir(&root)
        .env("EDGE_URL", s.worker.base_url())
        .env("DEMO_SKU", "DEMO-BROWSER")
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM_PATH", &chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the browser test finished in time")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser test failed:\n{stdout}");
    assert!(
        stdout.contains("pass 2") && stdout.contains("fail 0"),
        "{stdout}"
    );
    assert!(shots.join("demo-2-held.png").exists(), "screenshot saved");
    // The page's release really gave the unit back.
    let lvl = s
        .engine
        .stock(&[edgestock_core::domain::Sku::parse("DEMO-BROWSER").unwrap()])
        .await
        .unwrap();
    assert_eq!(lvl[0].available(), 3);
}
