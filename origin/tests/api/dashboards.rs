//! The Grafana dashboards under `ops/grafana/` are valid JSON, every panel queries at least one
//! metric, and every metric a panel names is in the `/metrics` output of the service it watches
//! (the origin, or the gateway the origin talks to), taken after some real traffic.

use std::path::PathBuf;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{pool, Env, TestApp, GATEWAY_TOKEN};

fn dashboard(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ops/grafana")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("dashboard file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Metric names in a PromQL expression: the dashboards write every selector as `name{...}`.
fn metric_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        match (ident, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if b == b'{' && !bytes[s].is_ascii_digit() {
                    names.push(expr[s..i].to_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    names
}

/// True when `/metrics` text declares the family of `name` or has a sample of it.
fn exposes(text: &str, name: &str) -> bool {
    let family = ["_total", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    text.lines().any(|l| {
        l.starts_with(&format!("# TYPE {family} "))
            || l.starts_with(&format!("{name}{{"))
            || l.starts_with(&format!("{name} "))
    })
}

/// Every panel's metrics, with the panel's title.
fn panel_metrics(d: &Value) -> Vec<(String, Vec<String>)> {
    d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| {
            let title = p["title"].as_str().expect("title").to_owned();
            let names = p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .flat_map(|t| metric_names(t["expr"].as_str().expect("expr")))
                .collect();
            (title, names)
        })
        .collect()
}

#[test]
fn metric_names_are_the_selectors_of_an_expression() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(a_b_bucket{job="x"}[5m]))) / c:d{}"#
        ),
        ["a_b_bucket", "c:d"]
    );
}

#[sqlx::test(migrations = false)]
async fn every_dashboard_panel_queries_metrics_the_services_expose(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[])).await;
    app.create_sku("DASH", 5).await;
    let rid = app.reserve("DASH", 1).await;
    let _held = app.reserve("DASH", 1).await;
    assert_eq!(app.confirm(&rid).await.0, 201);
    let origin = app.metrics().await;
    let gateway = app
        .http
        .get(format!("{}/metrics", env.gateway.url()))
        .bearer_auth(GATEWAY_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (file, text) in [("origin.json", &origin), ("gateway.json", &gateway)] {
        let d = dashboard(file);
        assert!(d["uid"].is_string() && d["title"].is_string(), "{file}");
        let panels = panel_metrics(&d);
        assert!(!panels.is_empty(), "{file} has no panels");
        for (title, names) in panels {
            assert!(
                !names.is_empty(),
                "{file}: panel {title:?} queries no metric"
            );
            for name in names {
                assert!(
                    exposes(text, &name),
                    "{file}: panel {title:?}: {name} not in {text}"
                );
            }
        }
    }
    app.stop().await;
}
