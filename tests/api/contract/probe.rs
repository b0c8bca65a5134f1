//! The probe: sends a request, then checks the answer against the generated OpenAPI document
//! (the status and every documented header) and against the typed bodies of `edgestock-api`
//! (the JSON must deserialize into the documented type, strictly, and serialize back to exactly
//! the same JSON, so no field is missing, extra or of another type). Error answers must carry a
//! code whose status is the status answered.

use std::collections::BTreeSet;

use edgestock_api::{edge as e, origin as o, webhooks as w, ErrorBody};

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use testkit_stack::stack::{ORIGIN_SECRET, TOKEN_SECRET};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Which document (and which service) a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Api {
    Edge,
    Origin,
}

pub(crate) use Api::{Edge, Origin};

impl Api {
    fn name(self) -> &'static str {
        match self {
            Edge => "edge",
            Origin => "origin",
        }
    }
}

/// The generated document of `api`, as JSON (the golden test keeps `openapi/*.json` equal to it).
pub(crate) fn spec(api: Api) -> Value {
    let doc = match api {
        Edge => edgestock_api::openapi::edge(),
        Origin => origin::http::openapi(),
    };
    serde_json::from_str(&edgestock_api::openapi::to_json(&doc)).expect("the document is JSON")
}

/// Follows local `$ref`s until a non-reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                v = r
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"));
            }
            None => return v,
        }
    }
    panic!("$ref loop at {v}")
}

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

/// `v` must deserialize strictly into `T` and serialize back to exactly `v`.
fn exactly<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(), String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&t).map_err(|e| e.to_string())?;
    if &back == v {
        Ok(())
    } else {
        Err(format!("does not round-trip: typed form is {back}"))
    }
}

/// Checks `v` against the type the document names `schema` (a component name).
fn typed(api: Api, schema: &str, v: &Value) -> Result<(), String> {
    match (api, schema) {
        (_, "ErrorBody") => exactly::<ErrorBody>(v),
        (Edge, "Health") => exactly::<e::Health>(v),
        (Edge, "Stock") => exactly::<e::Stock>(v),
        (Edge, "StockList") => exactly::<e::StockList>(v),
        (Edge, "Reservation") => exactly::<e::Reservation>(v),
        (Edge, "ReservationView") => exactly::<e::ReservationView>(v),
        (Edge, "Extension") => exactly::<e::Extension>(v),
        (Edge, "Release") => exactly::<e::Release>(v),
        (_, "Order") => exactly::<o::Order>(v),
        (_, "PlacedOrder") => exactly::<o::PlacedOrder>(v),
        (_, "ReservationCancelled") => exactly::<o::ReservationCancelled>(v),
        (Origin, "Health") => exactly::<o::Health>(v),
        (Origin, "Readiness") => exactly::<o::Readiness>(v),
        (Origin, "SkuView") => exactly::<o::SkuView>(v),
        (Origin, "Adjustment") => exactly::<o::Adjustment>(v),
        (Origin, "SeedResult") => exactly::<o::SeedResult>(v),
        (Origin, "Reconcile") => exactly::<o::Reconcile>(v),
        (Origin, "Events") => exactly::<o::Events>(v),
        (Origin, "LocationView") => exactly::<o::LocationView>(v),
        (Origin, "Locations") => exactly::<o::Locations>(v),
        (Origin, "SkuLocations") => exactly::<o::SkuLocations>(v),
        (Origin, "Transfer") => exactly::<o::Transfer>(v),
        (Origin, "CreatedWebhook") => exactly::<w::CreatedWebhook>(v),
        (Origin, "Webhooks") => exactly::<w::Webhooks>(v),
        (Origin, "WebhookReplay") => exactly::<w::WebhookReplay>(v),
        (Origin, "WebhookAttempts") => exactly::<w::WebhookAttempts>(v),
        (api, other) => Err(format!("no typed body for {} schema {other}", api.name())),
    }
}

/// A request body the service accepted must be a valid typed request (explicit `null`s for
/// optional fields are accepted, so no round trip here).
fn accepts(api: Api, schema: &str, v: &Value) -> Result<(), String> {
    fn de<T: DeserializeOwned>(v: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match (api, schema) {
        (Edge, "ReserveRequest") => de::<e::ReserveRequest>(v),
        (Edge, "ExtendRequest") => de::<e::ExtendRequest>(v),
        (Edge, "ConfirmRequest") => de::<e::ConfirmRequest>(v),
        (Edge, "CancelRequest") => de::<e::CancelRequest>(v),
        (Origin, "CreateOrder") => de::<o::CreateOrder>(v),
        (Origin, "CancelOrder") => de::<o::CancelOrder>(v),
        (Origin, "PutSku") => de::<o::PutSku>(v),
        (Origin, "CreateAdjustment") => de::<o::CreateAdjustment>(v),
        (Origin, "PutLocation") => de::<o::PutLocation>(v),
        (Origin, "CreateTransfer") => de::<o::CreateTransfer>(v),
        (Origin, "CreateWebhook") => de::<w::CreateWebhook>(v),
        (api, other) => Err(format!(
            "no typed request for {} schema {other}",
            api.name()
        )),
    }
}

/// The component name a media type's schema refers to.
fn schema_name(media: &Value) -> Option<&str> {
    media["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts the status (the scenario must hit the case it means to).
    pub(crate) fn want(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.text
        );
        self
    }

    /// Asserts an error status and code.
    pub(crate) fn want_error(self, status: u16, code: &str) -> Self {
        let a = self.want(status);
        assert_eq!(a.body["error"]["code"], code, "{}", a.text);
        a
    }
}

/// Sends requests, checks every answer and counts the operations exercised.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) http: reqwest::Client,
    pub(crate) edge: Value,
    pub(crate) origin: Value,
    pub(crate) exercised: BTreeSet<(Api, String, String)>,
    pub(crate) calls: usize,
    pub(crate) next_ip: u32,
}

impl Probe {
    fn spec(&self, api: Api) -> &Value {
        match api {
            Edge => &self.edge,
            Origin => &self.origin,
        }
    }

    /// A client address of its own, so no two reserves share a rate-limit subject by accident.
    pub(crate) fn ip(&mut self) -> String {
        self.next_ip += 1;
        let i = self.next_ip;
        format!("10.77.{}.{}", i / 256, i % 256)
    }

    /// Sends `rb` (which must target an instance of `template`) and checks the answer.
    pub(crate) async fn call(&mut self, api: Api, template: &str, rb: RequestBuilder) -> Answer {
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
        for name in spec["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            assert!(
                headers.contains_key(name.as_str()),
                "{what}: documented header {name} is missing ({headers:?})"
            );
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
                    let name = schema_name(media)
                        .unwrap_or_else(|| panic!("{what}: the document names no body type"));
                    if let Err(e) = typed(api, name, &v) {
                        panic!("{what}: the body is not a {name}: {e}\nbody: {v}");
                    }
                    if status >= 400 {
                        let code = v["error"]["code"].as_str().unwrap_or_default();
                        let parsed: edgestock_api::ErrorCode =
                            serde_json::from_value(Value::from(code)).expect("a known code");
                        assert_eq!(
                            parsed.status(),
                            status,
                            "{what}: code {code} belongs to another status"
                        );
                    }
                    v
                } else {
                    assert!(!text.is_empty(), "{what}: empty {ctype} body");
                    Value::Null
                }
            }
        };
        if (200..300).contains(&status) {
            let request_body = resolve(doc, &op["requestBody"]);
            if let (Some(sent), Some(name)) = (
                &sent,
                schema_name(&request_body["content"]["application/json"]),
            ) {
                if let Err(e) = accepts(api, name, sent) {
                    panic!("{what}: the service accepted a body the contract rejects: {e}\nrequest: {sent}");
                }
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

    /// Every operation of both documents was called at least once.
    pub(crate) fn assert_all_exercised(&self) {
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

/// The reservation token of `id` expiring at `exp_secs`, computed like the edge does.
pub(crate) fn token_until(id: &str, exp_secs: i64) -> String {
    testkit::reservation_token(TOKEN_SECRET, id, exp_secs)
}

/// A valid token of `id` for the next hour.
pub(crate) fn token(id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    token_until(id, i64::try_from(now).expect("seconds fit") + 3600)
}

/// Adds the edge's signature headers for `method path body`.
pub(crate) fn signed(rb: RequestBuilder, method: &str, path: &str, body: &[u8]) -> RequestBuilder {
    let ts = origin::signature::unix_now();
    let sig = origin::signature::sign(ORIGIN_SECRET.as_bytes(), method, path, ts, body);
    rb.header("x-edgestock-timestamp", ts.to_string())
        .header("x-edgestock-signature", sig)
}

/// A syntactically valid reservation id nobody reserved.
pub(crate) const GHOST: &str = "0123456789abcdef0123456789abcdef";
