//! Golden file: `openapi/edge.json` is exactly what the types generate (the origin's document is
//! checked by the origin's own golden test, since its operations live on its handlers). A field added to a body without regenerating fails here; regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p edgestock-api --test openapi`.

use std::path::PathBuf;

fn check(name: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(format!("{name}.json"));
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, generated).expect("write the golden file");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} differs from what the types generate; run \
         `UPDATE_OPENAPI=1 cargo test -p edgestock-api --test openapi` and commit the result",
        path.display()
    );
}

#[test]
fn the_checked_in_edge_spec_is_what_the_types_generate() {
    check(
        "edge",
        &edgestock_api::openapi::to_json(&edgestock_api::openapi::edge()),
    );
}

#[test]
fn the_generated_specs_are_openapi_3_1_and_name_every_error_code() {
    let edge: serde_json::Value = serde_json::from_str(&edgestock_api::openapi::to_json(
        &edgestock_api::openapi::edge(),
    ))
    .unwrap();
    assert_eq!(edge["openapi"], "3.1.0");
    let codes = edge["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum of strings");
    for code in ["insufficient_stock", "rate_limited", "origin_unavailable"] {
        assert!(codes.iter().any(|c| c == code), "{code} missing");
    }
}
