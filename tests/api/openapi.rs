//! The OpenAPI specs (`openapi/edge.json`, `openapi/origin.json`) against the running stack.
//!
//! Both specs must parse, every `$ref` must resolve and every path parameter must be declared.
//! Then every operation of both specs gets real requests (happy paths with real SKUs,
//! reservations, tokens and orders, and cheap failures: no or wrong auth, bad bodies, unknown
//! ids), and each answer must have a status the operation documents, a documented content type,
//! the documented required headers and a JSON body matching the documented schema (a small
//! checker: `$ref`, `allOf`/`oneOf`/`anyOf`/`not`, `type`, `const`, `enum`, `required`,
//! `properties`, `additionalProperties: false`, `items`, bounds). Bodies the services accept are
//! also checked against the documented request schema. Finally every operation must have been
//! exercised, so the specs cannot drift from the services without this test failing.

use std::collections::BTreeSet;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::full::{FullStack, ADMIN_API_KEY, ORIGIN_API_KEY};
use crate::support::repo_root;
use crate::support::stack::{redis_url, ORIGIN_SECRET, TOKEN_SECRET};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Which spec (and which service) a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Api {
    Edge,
    Origin,
}

use Api::{Edge, Origin};

impl Api {
    fn name(self) -> &'static str {
        match self {
            Edge => "edge",
            Origin => "origin",
        }
    }
}

fn load(file: &str) -> Value {
    let path = repo_root().join("openapi").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The target of a local `$ref` (`#/components/...`); JSON-pointer escapes are decoded.
fn pointer<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

/// Follows `$ref`s until a non-reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => v = pointer(doc, r).unwrap_or_else(|| panic!("unresolved $ref {r}")),
            None => return v,
        }
    }
    panic!("$ref loop at {v}")
}

fn check_refs(doc: &Value, node: &Value, at: &str, errors: &mut Vec<String>) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if v.as_str().and_then(|r| pointer(doc, r)).is_none() {
                        errors.push(format!("{at}: $ref {v} does not resolve"));
                    }
                } else {
                    check_refs(doc, v, &format!("{at}/{k}"), errors);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                check_refs(doc, v, &format!("{at}/{i}"), errors);
            }
        }
        _ => {}
    }
}

/// Every `(method, path template)` of a spec.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("the spec has paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.push((m.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// Structural checks of a spec: version, `$ref`s, unique operation ids, declared path parameters,
/// a response list per operation.
fn lint(name: &str, doc: &Value) {
    assert_eq!(doc["openapi"], "3.1.0", "{name}: not OpenAPI 3.1");
    let mut errors = Vec::new();
    check_refs(doc, doc, "#", &mut errors);
    let mut ids = BTreeSet::new();
    for (m, path) in operations(doc) {
        let item = &doc["paths"][&path];
        let op = &item[&m];
        let id = op["operationId"].as_str().unwrap_or_default();
        if id.is_empty() || !ids.insert(id.to_owned()) {
            errors.push(format!(
                "{m} {path}: missing or duplicate operationId {id:?}"
            ));
        }
        if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
            errors.push(format!("{m} {path}: no responses"));
        }
        let declared: BTreeSet<String> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| resolve(doc, p))
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        if declared != in_template {
            errors.push(format!(
                "{m} {path}: path parameters {declared:?} != template {in_template:?}"
            ));
        }
    }
    assert!(errors.is_empty(), "{name}:\n  {}", errors.join("\n  "));
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// The errors of `v` against `schema` (empty when it matches).
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
    let s = resolve(doc, schema);
    let mut e = Vec::new();
    for sub in s["allOf"].as_array().into_iter().flatten() {
        e.extend(validate(doc, sub, v, at));
    }
    if let Some(one) = s["oneOf"].as_array() {
        let n = one
            .iter()
            .filter(|sub| validate(doc, sub, v, at).is_empty())
            .count();
        if n != 1 {
            e.push(format!("{at}: matches {n} oneOf branches instead of 1"));
        }
    }
    if let Some(any) = s["anyOf"].as_array() {
        if !any.iter().any(|sub| validate(doc, sub, v, at).is_empty()) {
            e.push(format!("{at}: matches no anyOf branch"));
        }
    }
    if let Some(not) = s.get("not") {
        if validate(doc, not, v, at).is_empty() {
            e.push(format!("{at}: matches a `not` schema"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            e.push(format!("{at}: {v} is not the constant {c}"));
        }
    }
    if let Some(en) = s["enum"].as_array() {
        if !en.contains(v) {
            e.push(format!(
                "{at}: {v} is not one of {}",
                Value::from(en.clone())
            ));
        }
    }
    let types: Vec<&str> = match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
        e.push(format!("{at}: {v} is not of type {}", s["type"]));
        return e;
    }
    let num = |k: &str| s[k].as_f64();
    match v {
        Value::Object(m) => {
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if !m.contains_key(r) {
                    e.push(format!("{at}: required property `{r}` is missing"));
                }
            }
            for (k, val) in m {
                match s["properties"].get(k) {
                    Some(ps) => e.extend(validate(doc, ps, val, &format!("{at}.{k}"))),
                    None if s["additionalProperties"] == false => {
                        e.push(format!("{at}: property `{k}` is not allowed"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                for (i, x) in a.iter().enumerate() {
                    e.extend(validate(doc, items, x, &format!("{at}[{i}]")));
                }
            }
            let n = a.len() as f64;
            if num("minItems").is_some_and(|min| n < min)
                || num("maxItems").is_some_and(|max| n > max)
            {
                e.push(format!("{at}: {n} items is out of bounds"));
            }
        }
        Value::String(x) => {
            let n = x.chars().count() as f64;
            if num("minLength").is_some_and(|min| n < min)
                || num("maxLength").is_some_and(|max| n > max)
            {
                e.push(format!("{at}: length {n} is out of bounds"));
            }
        }
        Value::Number(x) => {
            let x = x.as_f64().unwrap_or_default();
            if num("minimum").is_some_and(|min| x < min)
                || num("maximum").is_some_and(|max| x > max)
            {
                e.push(format!("{at}: {x} is out of bounds"));
            }
        }
        _ => {}
    }
    e
}

/// True when concrete `path` fits `template` (`{name}` matches one non-empty segment).
fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// One answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts the status (the scenario must hit the case it means to).
    fn want(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        self
    }

    /// Asserts an error status and code.
    fn want_error(self, status: u16, code: &str) -> Self {
        let a = self.want(status);
        assert_eq!(a.body["error"]["code"], code, "{}", a.text);
        a
    }
}

/// Sends requests, checks every answer against the spec and counts the operations exercised.
#[derive(Debug)]
struct Probe {
    http: reqwest::Client,
    edge: Value,
    origin: Value,
    exercised: BTreeSet<(Api, String, String)>,
    calls: usize,
    next_ip: u32,
}

impl Probe {
    fn spec(&self, api: Api) -> &Value {
        match api {
            Edge => &self.edge,
            Origin => &self.origin,
        }
    }

    /// A client address of its own, so no two reserves share a rate-limit subject by accident.
    fn ip(&mut self) -> String {
        self.next_ip += 1;
        let i = self.next_ip;
        format!("10.77.{}.{}", i / 256, i % 256)
    }

    /// Sends `rb` (which must target an instance of `template`) and checks the answer.
    async fn call(&mut self, api: Api, template: &str, rb: RequestBuilder) -> Answer {
        let req = rb.build().expect("the request builds");
        let method = req.method().as_str().to_ascii_lowercase();
        let path = req.url().path().to_owned();
        assert!(
            path_matches(template, &path),
            "{path} is not an instance of {template}"
        );
        let sent_json = req
            .headers()
            .get("content-type")
            .is_some_and(|c| c.as_bytes().starts_with(b"application/json"));
        let sent: Option<Value> = req
            .body()
            .and_then(|b| b.as_bytes())
            .filter(|_| sent_json)
            .and_then(|b| serde_json::from_slice(b).ok());
        let resp = self
            .http
            .execute(req)
            .await
            .unwrap_or_else(|e| panic!("{} {method} {path}: {e}", api.name()));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("the body reads");
        let what = format!(
            "{} {} {path} -> {status}",
            api.name(),
            method.to_uppercase()
        );
        let doc = self.spec(api);
        let op = doc["paths"][template]
            .get(&method)
            .unwrap_or_else(|| panic!("{what}: the spec has no {method} {template}"));
        let documented: Vec<&String> = op["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        let spec = op["responses"]
            .get(status.to_string())
            .map(|r| resolve(doc, r))
            .unwrap_or_else(|| {
                panic!("{what}: status not documented (documented: {documented:?}); body: {text}")
            });
        for (name, h) in spec["headers"].as_object().into_iter().flatten() {
            if resolve(doc, h)["required"] == true {
                assert!(
                    headers.contains_key(name.as_str()),
                    "{what}: documented header {name} is missing ({headers:?})"
                );
            }
        }
        let body = match spec["content"].as_object() {
            None => {
                assert!(text.is_empty(), "{what}: documented without a body: {text}");
                Value::Null
            }
            Some(content) => {
                let ctype = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|c| c.split(';').next())
                    .map(|c| c.trim().to_ascii_lowercase())
                    .unwrap_or_default();
                let media = content.get(&ctype).unwrap_or_else(|| {
                    panic!(
                        "{what}: content type {ctype:?} not documented ({:?}); body: {text}",
                        content.keys().collect::<Vec<_>>()
                    )
                });
                if ctype == "application/json" {
                    let v: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
                    let errs = validate(doc, &media["schema"], &v, "body");
                    assert!(
                        errs.is_empty(),
                        "{what}: the body does not match the spec:\n  {}\nbody: {v}",
                        errs.join("\n  ")
                    );
                    v
                } else {
                    assert!(!text.is_empty(), "{what}: empty {ctype} body");
                    Value::Null
                }
            }
        };
        if (200..300).contains(&status) {
            let request_body = resolve(doc, &op["requestBody"]);
            if let (Some(sent), Some(schema)) = (
                &sent,
                request_body["content"]["application/json"].get("schema"),
            ) {
                let errs = validate(doc, schema, sent, "request");
                assert!(
                    errs.is_empty(),
                    "{what}: the service accepted a body the spec rejects:\n  {}\nrequest: {sent}",
                    errs.join("\n  ")
                );
            }
        }
        self.exercised.insert((api, method, template.to_owned()));
        self.calls += 1;
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Every operation of both specs was called at least once.
    fn assert_all_exercised(&self) {
        let mut missing = Vec::new();
        let mut total = 0;
        for api in [Edge, Origin] {
            for (m, path) in operations(self.spec(api)) {
                total += 1;
                if !self.exercised.contains(&(api, m.clone(), path.clone())) {
                    missing.push(format!("{} {} {path}", api.name(), m.to_uppercase()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "operations never exercised:\n  {}",
            missing.join("\n  ")
        );
        assert_eq!(self.exercised.len(), total);
        eprintln!(
            "openapi: {total} operations ({} edge, {} origin) exercised by {} requests",
            operations(&self.edge).len(),
            operations(&self.origin).len(),
            self.calls
        );
    }
}

/// The reservation token of `id`, computed like the edge does.
fn token(id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_SECRET.as_bytes()).expect("key");
    mac.update(format!("rsv:{id}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Adds the edge's signature headers for `method path body`.
fn signed(rb: RequestBuilder, method: &str, path: &str, body: &[u8]) -> RequestBuilder {
    let ts = origin::signature::unix_now();
    let sig = origin::signature::sign(ORIGIN_SECRET.as_bytes(), method, path, ts, body);
    rb.header("x-edgestock-timestamp", ts.to_string())
        .header("x-edgestock-signature", sig)
}

/// A syntactically valid reservation id nobody reserved.
const GHOST: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_specs_match_the_running_services() {
    let edge = load("edge.json");
    let origin = load("origin.json");
    lint("edge.json", &edge);
    lint("origin.json", &origin);

    let s = FullStack::start(&redis_url(), json!({"RATE_LIMIT_PER_MINUTE": "2"}), &[]).await;
    s.put_sku("OAS-A", 100, 5).await;
    s.put_sku("OAS-LOW", 1, 5).await;
    s.wait_until("the SKUs at the edge", || async {
        s.edge_stock("OAS-A").await["status"] == "in_stock"
            && s.edge_stock("OAS-LOW").await["status"] == "low_stock"
    })
    .await;

    let mut p = Probe {
        http: s.http.clone(),
        edge,
        origin,
        exercised: BTreeSet::new(),
        calls: 0,
        next_ip: 0,
    };
    edge_calls(&s, &mut p).await;
    origin_calls(&s, &mut p).await;
    p.assert_all_exercised();
    s.stop().await;
}

/// Reserves `body` at the edge from a fresh IP; returns the answer.
async fn reserve(s: &FullStack, p: &mut Probe, key: Option<&str>, body: Value) -> Answer {
    let mut rb = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("cf-connecting-ip", p.ip())
        .json(&body);
    if let Some(k) = key {
        rb = rb.header("idempotency-key", k);
    }
    p.call(Edge, "/v1/reservations", rb).await
}

/// A new hold of `qty` OAS-A: (id, token).
async fn hold(s: &FullStack, p: &mut Probe, qty: u32) -> (String, String) {
    let a = reserve(s, p, None, json!({"items": [{"sku": "OAS-A", "qty": qty}]}))
        .await
        .want(201);
    let id = a.body["reservation_id"].as_str().unwrap().to_owned();
    let t = a.body["token"].as_str().unwrap().to_owned();
    assert_eq!(t, token(&id));
    (id, t)
}

async fn edge_calls(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let e = |path: &str| s.edge(path);

    // Liveness and static files.
    p.call(Edge, "/healthz", http.get(e("/healthz")))
        .await
        .want(200);
    p.call(Edge, "/edgestock.js", http.get(e("/edgestock.js")))
        .await
        .want(200);
    p.call(Edge, "/demo.html", http.get(e("/demo.html")))
        .await
        .want(200);

    // Stock, one SKU.
    let t = "/v1/stock/{sku}";
    let a = p
        .call(Edge, t, http.get(e("/v1/stock/OAS-A")))
        .await
        .want(200);
    let etag = a.header("etag").to_owned();
    p.call(
        Edge,
        t,
        http.get(e("/v1/stock/OAS-A"))
            .header("if-none-match", &etag),
    )
    .await
    .want(304);
    p.call(Edge, t, http.get(e("/v1/stock/OAS-NONE")))
        .await
        .want_error(404, "unknown_sku");
    p.call(Edge, t, http.get(e("/v1/stock/bad%20sku")))
        .await
        .want_error(422, "invalid_sku");

    // Stock, many.
    let t = "/v1/stock";
    let a = p
        .call(
            Edge,
            t,
            http.get(e("/v1/stock?sku=OAS-A&sku=OAS-NONE,OAS-LOW")),
        )
        .await
        .want(200);
    assert_eq!(a.body["items"][1]["status"], "unknown");
    let etag = a.header("etag").to_owned();
    p.call(
        Edge,
        t,
        http.get(e("/v1/stock?sku=OAS-A&sku=OAS-NONE,OAS-LOW"))
            .header("if-none-match", &etag),
    )
    .await
    .want(304);
    p.call(Edge, t, http.get(e("/v1/stock")))
        .await
        .want_error(422, "invalid_request");
    let many: Vec<String> = (0..101).map(|i| format!("sku=S{i}")).collect();
    p.call(
        Edge,
        t,
        http.get(e(&format!("/v1/stock?{}", many.join("&")))),
    )
    .await
    .want_error(422, "too_many_skus");

    // Reserve: created, replayed, and every cheap refusal.
    let t = "/v1/reservations";
    let body =
        json!({"items": [{"sku": "OAS-A", "qty": 2}], "cart_id": "oas-cart-1", "ttl_seconds": 120});
    let a = reserve(s, p, Some("oas-r1"), body.clone()).await.want(201);
    let r1 = a.body["reservation_id"].as_str().unwrap().to_owned();
    let t1 = a.body["token"].as_str().unwrap().to_owned();
    assert_eq!(a.header("location"), format!("/v1/reservations/{r1}"));
    let a = reserve(s, p, Some("oas-r1"), body).await.want(200);
    assert_eq!(a.header("idempotency-replayed"), "true");
    assert_eq!(a.body["reservation_id"], r1.as_str());
    reserve(
        s,
        p,
        Some("oas-r1"),
        json!({"items": [{"sku": "OAS-A", "qty": 3}], "cart_id": "oas-cart-1", "ttl_seconds": 120}),
    )
    .await
    .want_error(422, "idempotency_key_reused");
    for (body, code) in [
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "extra": 1}),
            "invalid_request",
        ),
        (json!({"items": []}), "invalid_request"),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 0}]}),
            "invalid_quantity",
        ),
        (json!({"items": [{"sku": "a b", "qty": 1}]}), "invalid_sku"),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}, {"sku": "OAS-A", "qty": 1}]}),
            "duplicate_sku",
        ),
        (
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "ttl_seconds": 0}),
            "invalid_ttl",
        ),
    ] {
        reserve(s, p, None, body).await.want_error(422, code);
    }
    reserve(
        s,
        p,
        None,
        json!({"items": [{"sku": "OAS-NONE", "qty": 1}]}),
    )
    .await
    .want_error(404, "unknown_sku");
    let a = reserve(s, p, None, json!({"items": [{"sku": "OAS-LOW", "qty": 2}]}))
        .await
        .want_error(409, "insufficient_stock");
    assert_eq!(a.body["error"]["sku"], "OAS-LOW");
    let post = |body: &str, ctype: &str| {
        http.post(e(t))
            .header("content-type", ctype)
            .body(body.to_owned())
    };
    p.call(Edge, t, post("{", "application/json"))
        .await
        .want_error(400, "malformed_json");
    p.call(Edge, t, post(r#"{"items":[]}"#, "text/plain"))
        .await
        .want_error(415, "unsupported_media_type");
    let big = format!(r#"{{"cart_id":"{}"}}"#, "x".repeat(17 * 1024));
    p.call(Edge, t, post(&big, "application/json"))
        .await
        .want_error(413, "body_too_large");
    // Rate limit (2 per minute here) on one cart.
    for i in 0..3 {
        let a = reserve(
            s,
            p,
            None,
            json!({"items": [{"sku": "OAS-A", "qty": 1}], "cart_id": "oas-rl"}),
        )
        .await;
        if i < 2 {
            a.want(201);
        } else {
            let a = a.want_error(429, "rate_limited");
            assert!(!a.header("retry-after").is_empty());
        }
    }

    // CORS preflights of every API path.
    for (template, path) in [
        ("/v1/stock", "/v1/stock".to_owned()),
        ("/v1/stock/{sku}", "/v1/stock/OAS-A".to_owned()),
        ("/v1/reservations", "/v1/reservations".to_owned()),
        ("/v1/reservations/{id}", format!("/v1/reservations/{r1}")),
        (
            "/v1/reservations/{id}/extend",
            format!("/v1/reservations/{r1}/extend"),
        ),
        (
            "/v1/reservations/{id}/confirm",
            format!("/v1/reservations/{r1}/confirm"),
        ),
        (
            "/v1/reservations/{id}/cancel",
            format!("/v1/reservations/{r1}/cancel"),
        ),
    ] {
        let preflight = |origin: &str| {
            http.request(reqwest::Method::OPTIONS, e(&path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
        };
        let a = p
            .call(Edge, template, preflight("https://shop.example"))
            .await
            .want(204);
        assert_eq!(a.header("access-control-max-age"), "600");
        p.call(Edge, template, preflight("https://evil.example"))
            .await
            .want_error(403, "cors_origin_denied");
    }

    // Reading a reservation.
    let t = "/v1/reservations/{id}";
    let path = format!("/v1/reservations/{r1}");
    let a = p
        .call(Edge, t, http.get(e(&path)).bearer_auth(&t1))
        .await
        .want(200);
    assert_eq!(a.body["status"], "held");
    p.call(Edge, t, http.get(e(&path)))
        .await
        .want_error(401, "missing_token");
    p.call(Edge, t, http.get(e(&path)).bearer_auth("nope"))
        .await
        .want_error(403, "invalid_token");
    p.call(
        Edge,
        t,
        http.get(e(&format!("/v1/reservations/{GHOST}")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");

    // Extending.
    let t = "/v1/reservations/{id}/extend";
    let path = format!("/v1/reservations/{r1}/extend");
    let extend = |body: &str, ctype: &str| {
        http.post(e(&path))
            .bearer_auth(&t1)
            .header("content-type", ctype)
            .body(body.to_owned())
    };
    p.call(Edge, t, extend(r#"{"seconds":60}"#, "application/json"))
        .await
        .want(200);
    p.call(Edge, t, extend(r#"{"seconds":900}"#, "application/json"))
        .await
        .want(200);
    p.call(Edge, t, extend(r#"{"seconds":900}"#, "application/json"))
        .await
        .want_error(409, "hold_limit_reached");
    p.call(Edge, t, extend(r#"{"seconds":0}"#, "application/json"))
        .await
        .want_error(422, "invalid_ttl");
    p.call(
        Edge,
        t,
        extend(r#"{"seconds":1,"x":1}"#, "application/json"),
    )
    .await
    .want_error(422, "invalid_request");
    p.call(Edge, t, extend("{", "application/json"))
        .await
        .want_error(400, "malformed_json");
    p.call(Edge, t, extend(r#"{"seconds":60}"#, "text/plain"))
        .await
        .want_error(415, "unsupported_media_type");
    p.call(Edge, t, http.post(e(&path)).json(&json!({"seconds": 60})))
        .await
        .want_error(401, "missing_token");

    // Releasing (idempotent), then extending a released hold.
    let (r2, t2) = hold(s, p, 1).await;
    let t = "/v1/reservations/{id}";
    let path = format!("/v1/reservations/{r2}");
    let a = p
        .call(Edge, t, http.delete(e(&path)).bearer_auth(&t2))
        .await
        .want(200);
    assert_eq!(a.body["released"], true);
    let a = p
        .call(Edge, t, http.delete(e(&path)).bearer_auth(&t2))
        .await
        .want(200);
    assert_eq!(a.body["released"], false);
    p.call(Edge, t, http.delete(e(&path)).bearer_auth(&t1))
        .await
        .want_error(403, "invalid_token");
    p.call(
        Edge,
        "/v1/reservations/{id}/extend",
        http.post(e(&format!("{path}/extend")))
            .bearer_auth(&t2)
            .json(&json!({"seconds": 60})),
    )
    .await
    .want_error(409, "reservation_not_held");

    // Confirming through the edge (forwarded to the origin).
    let t = "/v1/reservations/{id}/confirm";
    let path = format!("/v1/reservations/{r1}/confirm");
    let confirm = |key: &str, body: Value| {
        http.post(e(&path))
            .bearer_auth(&t1)
            .header("idempotency-key", key.to_owned())
            .json(&body)
    };
    let a = p
        .call(
            Edge,
            t,
            confirm("oas-c1", json!({"customer_ref": "cust-1"})),
        )
        .await
        .want(201);
    assert_eq!(a.body["status"], "CONFIRMED");
    let o1 = a.body["order_id"].as_str().unwrap().to_owned();
    let a = p
        .call(
            Edge,
            t,
            confirm("oas-c1", json!({"customer_ref": "cust-1"})),
        )
        .await
        .want(200);
    assert_eq!(a.body["order_id"], o1.as_str());
    p.call(Edge, t, confirm("oas-c1-other", json!({})))
        .await
        .want_error(422, "idempotency_key_reused");
    p.call(Edge, t, confirm("oas-c1", json!({"coupon": "x"})))
        .await
        .want_error(422, "invalid_request");
    p.call(
        Edge,
        t,
        http.post(e(&path))
            .bearer_auth(&t1)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "malformed_json");
    p.call(
        Edge,
        t,
        http.post(e(&path))
            .bearer_auth(&t1)
            .header("content-type", "text/plain")
            .body("customer"),
    )
    .await
    .want_error(415, "unsupported_media_type");
    p.call(Edge, t, http.post(e(&path)).bearer_auth(&t2))
        .await
        .want_error(403, "invalid_token");
    p.call(Edge, t, http.post(e(&path)))
        .await
        .want_error(401, "missing_token");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r2}/confirm")))
            .bearer_auth(&t2),
    )
    .await
    .want_error(409, "reservation_expired");
    // The origin's code for an unknown reservation passes through (`not_found`, not the edge's
    // `reservation_not_found`).
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{GHOST}/confirm")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");

    // A confirmed hold cannot be released.
    p.call(
        Edge,
        "/v1/reservations/{id}",
        http.delete(e(&format!("/v1/reservations/{r1}")))
            .bearer_auth(&t1),
    )
    .await
    .want_error(409, "reservation_committed");

    // Cancelling through the edge: a held reservation, then the confirmed one (its order).
    let t = "/v1/reservations/{id}/cancel";
    let (r3, t3) = hold(s, p, 1).await;
    let a = p
        .call(
            Edge,
            t,
            http.post(e(&format!("/v1/reservations/{r3}/cancel")))
                .bearer_auth(&t3)
                .json(&json!({"reason": "changed my mind"})),
        )
        .await
        .want(200);
    assert_eq!(a.body["status"], "released");
    let a = p
        .call(
            Edge,
            t,
            http.post(e(&format!("/v1/reservations/{r1}/cancel")))
                .bearer_auth(&t1),
        )
        .await
        .want(200);
    assert_eq!(
        (a.body["order_id"].as_str(), a.body["status"].as_str()),
        (Some(o1.as_str()), Some("CANCELLED"))
    );
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r3}/cancel")))
            .bearer_auth(&t3)
            .json(&json!({"why": "x"})),
    )
    .await
    .want_error(422, "invalid_request");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{r3}/cancel"))),
    )
    .await
    .want_error(401, "missing_token");
    p.call(
        Edge,
        t,
        http.post(e(&format!("/v1/reservations/{GHOST}/cancel")))
            .bearer_auth(token(GHOST)),
    )
    .await
    .want_error(404, "reservation_not_found");
}

async fn origin_calls(s: &FullStack, p: &mut Probe) {
    let http = &s.http;
    let o = |path: &str| s.origin(path);

    // Operations endpoints.
    p.call(Origin, "/healthz", http.get(o("/healthz")))
        .await
        .want(200);
    let a = p
        .call(Origin, "/readyz", http.get(o("/readyz")))
        .await
        .want(200);
    assert_eq!(a.body, json!({"postgres": true, "redis": true}));
    let a = p
        .call(Origin, "/metrics", http.get(o("/metrics")))
        .await
        .want(200);
    assert!(a.text.contains("origin_"), "{}", a.text);

    // Admin: SKUs.
    let t = "/v1/admin/skus/{sku}";
    let put = |sku: &str, body: &Value| {
        http.put(o(&format!("/v1/admin/skus/{sku}")))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };
    let body = json!({"name": "OpenAPI B", "on_hand": 10, "low_stock_threshold": 2});
    p.call(Origin, t, put("OAS-B", &body)).await.want(201);
    let body = json!({"name": "OpenAPI B", "on_hand": 12, "low_stock_threshold": 2});
    let a = p.call(Origin, t, put("OAS-B", &body)).await.want(200);
    assert!(a.body["movement_id"].is_string());
    // The backend key is not an admin key.
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ORIGIN_API_KEY)
            .json(&body),
    )
    .await
    .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        put(
            "OAS-B",
            &json!({"name": "B", "on_hand": -1, "low_stock_threshold": 0}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        put(
            "OAS-B",
            &json!({"name": "B", "on_hand": 1, "low_stock_threshold": 0, "x": 1}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(Origin, t, put("bad%20sku", &body))
        .await
        .want_error(422, "invalid_sku");
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ADMIN_API_KEY)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "bad_request");
    p.call(
        Origin,
        t,
        http.put(o("/v1/admin/skus/OAS-B"))
            .bearer_auth(ADMIN_API_KEY)
            .header("content-type", "application/json")
            .body(vec![b' '; 65 * 1024]),
    )
    .await
    .want(413);

    // Admin: adjustments.
    let t = "/v1/admin/skus/{sku}/adjustments";
    let adjust = |sku: &str, body: &Value| {
        http.post(o(&format!("/v1/admin/skus/{sku}/adjustments")))
            .bearer_auth(ADMIN_API_KEY)
            .json(body)
    };
    let body = json!({"delta": 5, "reason": "restock", "movement_id": "oas-adj-1"});
    let a = p.call(Origin, t, adjust("OAS-B", &body)).await.want(201);
    assert_eq!(a.body["kind"], "restock");
    let a = p.call(Origin, t, adjust("OAS-B", &body)).await.want(200);
    assert_eq!(a.body["replay"], true);
    p.call(
        Origin,
        t,
        adjust(
            "OAS-B",
            &json!({"delta": 6, "reason": "restock", "movement_id": "oas-adj-1"}),
        ),
    )
    .await
    .want_error(422, "movement_id_reused");
    p.call(
        Origin,
        t,
        adjust(
            "OAS-B",
            &json!({"delta": 0, "reason": "x", "movement_id": "oas-adj-0"}),
        ),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        adjust(
            "OAS-NONE",
            &json!({"delta": 1, "reason": "restock", "movement_id": "oas-adj-2"}),
        ),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.post(o("/v1/admin/skus/OAS-B/adjustments")).json(&body),
    )
    .await
    .want_error(401, "unauthorized");

    // Admin: seed and reconcile.
    let t = "/v1/admin/seed";
    let a = p
        .call(Origin, t, http.post(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert!(a.body["seeded"].as_i64().unwrap() >= 3, "{}", a.text);
    p.call(Origin, t, http.post(o(t)))
        .await
        .want_error(401, "unauthorized");
    let t = "/v1/admin/reconcile";
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert_eq!(a.body["repair"], false);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/reconcile?repair=true&sku=OAS-A"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(200);
    p.call(
        Origin,
        t,
        http.get(o("/v1/admin/reconcile?repair=maybe"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(400);
    p.call(Origin, t, http.get(o(t)).bearer_auth("wrong"))
        .await
        .want_error(401, "unauthorized");

    // Orders: confirm with the backend key, then with the edge's signature.
    let (r4, _) = hold(s, p, 1).await;
    let (r5, _) = hold(s, p, 1).await;
    let (r6, _) = hold(s, p, 1).await;
    let t = "/v1/orders";
    let create = |key: &str, body: &Value| {
        http.post(o(t))
            .bearer_auth(ORIGIN_API_KEY)
            .header("idempotency-key", key.to_owned())
            .json(body)
    };
    let body = json!({"reservation_id": r4, "customer_ref": "cust-4", "payment_ref": null});
    let a = p.call(Origin, t, create("oas-o4", &body)).await.want(201);
    let o4 = a.body["order_id"].as_str().unwrap().to_owned();
    let a = p.call(Origin, t, create("oas-o4", &body)).await.want(200);
    assert_eq!(a.body["order_id"], o4.as_str());
    p.call(Origin, t, create("oas-o4-other", &body))
        .await
        .want_error(422, "idempotency_key_mismatch");
    let raw = serde_json::to_vec(&json!({"reservation_id": r5})).unwrap();
    let a = p
        .call(
            Origin,
            t,
            signed(
                http.post(o(t))
                    .header("content-type", "application/json")
                    .body(raw.clone()),
                "POST",
                t,
                &raw,
            ),
        )
        .await
        .want(201);
    assert_eq!(a.body["reservation_id"], r5.as_str());
    p.call(
        Origin,
        t,
        signed(
            http.post(o(t))
                .header("content-type", "application/json")
                .body(raw.clone()),
            "POST",
            t,
            b"another body",
        ),
    )
    .await
    .want_error(401, "unauthorized");
    p.call(Origin, t, http.post(o(t)).json(&body))
        .await
        .want_error(401, "unauthorized");
    p.call(
        Origin,
        t,
        create("oas-ghost", &json!({"reservation_id": GHOST})),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        create("oas-x", &json!({"reservation_id": r6, "coupon": "x"})),
    )
    .await
    .want_error(422, "invalid_body");
    p.call(
        Origin,
        t,
        http.post(o(t))
            .bearer_auth(ORIGIN_API_KEY)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await
    .want_error(400, "bad_request");

    // Orders: read, cancel.
    let t = "/v1/orders/{id}";
    let path = format!("/v1/orders/{o4}");
    let a = p
        .call(Origin, t, http.get(o(&path)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want(200);
    assert_eq!(a.body["customer_ref"], "cust-4");
    p.call(Origin, t, signed(http.get(o(&path)), "GET", &path, b""))
        .await
        .want(200);
    p.call(
        Origin,
        t,
        http.get(o("/v1/orders/00000000-0000-7000-8000-000000000000"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.get(o("/v1/orders/not-a-uuid"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(Origin, t, http.get(o(&path)))
        .await
        .want_error(401, "unauthorized");
    let t = "/v1/orders/{id}/cancel";
    let path = format!("/v1/orders/{o4}/cancel");
    for _ in 0..2 {
        let a = p
            .call(Origin, t, http.post(o(&path)).bearer_auth(ORIGIN_API_KEY))
            .await
            .want(200);
        assert_eq!(a.body["status"], "CANCELLED");
    }
    p.call(
        Origin,
        t,
        http.post(o("/v1/orders/00000000-0000-7000-8000-000000000000/cancel"))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(Origin, t, http.post(o(&path)))
        .await
        .want_error(401, "unauthorized");

    // Reservations: cancel a hold directly at the origin.
    let t = "/v1/reservations/{id}/cancel";
    let a = p
        .call(
            Origin,
            t,
            http.post(o(&format!("/v1/reservations/{r6}/cancel")))
                .bearer_auth(ORIGIN_API_KEY),
        )
        .await
        .want(200);
    assert_eq!(a.body["status"], "released");
    p.call(
        Origin,
        t,
        http.post(o(&format!("/v1/reservations/{GHOST}/cancel")))
            .bearer_auth(ORIGIN_API_KEY),
    )
    .await
    .want_error(404, "not_found");
    p.call(
        Origin,
        t,
        http.post(o(&format!("/v1/reservations/{r6}/cancel"))),
    )
    .await
    .want_error(401, "unauthorized");
    // The released hold can no longer become an order.
    p.call(
        Origin,
        "/v1/orders",
        create("oas-o6", &json!({"reservation_id": r6})),
    )
    .await
    .want_error(409, "reservation_expired");

    // The audit trail, paginated.
    let t = "/v1/events";
    let a = p
        .call(Origin, t, http.get(o(t)).bearer_auth(ADMIN_API_KEY))
        .await
        .want(200);
    assert!(!a.body["events"].as_array().unwrap().is_empty());
    let a = p
        .call(
            Origin,
            t,
            http.get(o("/v1/events?sku=OAS-B&limit=1"))
                .bearer_auth(ADMIN_API_KEY),
        )
        .await
        .want(200);
    let cursor = a.body["next_before"]
        .as_str()
        .expect("a next page")
        .to_owned();
    p.call(
        Origin,
        t,
        http.get(o(&format!("/v1/events?sku=OAS-B&limit=1&before={cursor}")))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(200);
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?limit=0")).bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(422, "invalid_query");
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?before=nope"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want_error(422, "invalid_query");
    p.call(
        Origin,
        t,
        http.get(o("/v1/events?limit=many"))
            .bearer_auth(ADMIN_API_KEY),
    )
    .await
    .want(400);
    p.call(Origin, t, http.get(o(t)).bearer_auth(ORIGIN_API_KEY))
        .await
        .want_error(401, "unauthorized");
}
