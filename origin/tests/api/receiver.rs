//! A webhook receiver for the tests: axum on 127.0.0.1, checking every request's signature with
//! the Standard Webhooks algorithm written out here (not the origin's code), answering as each
//! SKU's plan says (a status, or a hang past the origin's timeout), and recording everything;
//! with the helpers that subscribe it and wait for its messages.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edgestock_api::webhooks::WebhookMessage;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{eventually, Env, TestApp, ADMIN_KEY};

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// This status, at once.
    Status(u16),
    /// Nothing for this long (past the origin's timeout).
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) message: WebhookMessage,
    /// What the receiver answered.
    pub(crate) answer: Answer,
}

#[derive(Default)]
struct Inner {
    secret: Option<String>,
    plans: HashMap<String, VecDeque<Answer>>,
    /// The answer once a SKU's plan is used up.
    default: Option<Answer>,
    received: Vec<Received>,
    bad_signatures: usize,
}

/// A running receiver.
#[derive(Clone)]
pub(crate) struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub(crate) addr: SocketAddr,
}

/// The expected `v1,` signature: base64 of HMAC-SHA256 over `id.timestamp.body`, keyed by the
/// base64-decoded part of `whsec_...`.
fn expected_signature(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (id, ts) = (
        header(&headers, "webhook-id"),
        header(&headers, "webhook-timestamp"),
    );
    let signatures = header(&headers, "webhook-signature");
    let answer = {
        let mut inner = r.inner.lock().unwrap();
        let secret = inner.secret.clone().expect("secret set before events");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300);
        let want = expected_signature(&secret, id, ts, &body);
        let signed = fresh && signatures.split(' ').any(|s| s == want);
        let message: Option<WebhookMessage> = serde_json::from_slice(&body).ok();
        match (signed, message) {
            (true, Some(message)) => {
                let answer = inner
                    .plans
                    .get_mut(&message.data.sku)
                    .and_then(VecDeque::pop_front)
                    .or(inner.default)
                    .unwrap_or(Answer::Status(204));
                inner.received.push(Received {
                    id: id.to_owned(),
                    message,
                    answer,
                });
                answer
            }
            _ => {
                inner.bad_signatures += 1;
                Answer::Status(400)
            }
        }
    };
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Hang(d) => {
            tokio::time::sleep(d).await;
            StatusCode::NO_CONTENT
        }
    }
}

impl Receiver {
    /// Listens on 127.0.0.1 (port 0) until the test ends.
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Self {
            inner: Arc::default(),
            addr: listener.local_addr().unwrap(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub(crate) fn set_secret(&self, secret: &str) {
        self.inner.lock().unwrap().secret = Some(secret.to_owned());
    }

    /// Answers the next requests about `sku` in turn with `answers`.
    pub(crate) fn plan(&self, sku: &str, answers: &[Answer]) {
        self.inner
            .lock()
            .unwrap()
            .plans
            .insert(sku.to_owned(), answers.iter().copied().collect());
    }

    /// The answer once a SKU's plan is used up (204 unless set).
    pub(crate) fn answer_by_default(&self, answer: Answer) {
        self.inner.lock().unwrap().default = Some(answer);
    }

    /// Every correctly signed request so far, in arrival order.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Requests whose signature (or body) did not verify.
    pub(crate) fn bad_signatures(&self) -> usize {
        self.inner.lock().unwrap().bad_signatures
    }

    /// `(type, sku, available or qty)` of the requests answered 2xx, in arrival order.
    pub(crate) fn delivered(&self) -> Vec<(String, String, i64)> {
        self.received()
            .into_iter()
            .filter(|r| matches!(r.answer, Answer::Status(s) if (200..300).contains(&s)))
            .map(|r| {
                let d = &r.message.data;
                (
                    r.message.event_type.as_str().to_owned(),
                    d.sku.clone(),
                    d.available.or(d.qty).unwrap_or(-1),
                )
            })
            .collect()
    }
}

/// Fast delivery for tests; loopback receivers allowed.
pub(crate) const FAST: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_INSECURE", "true"),
    ("WEBHOOK_INTERVAL_MS", "50"),
    ("WEBHOOK_RETRY_BASE_MS", "50"),
    ("WEBHOOK_RETRY_MAX_MS", "200"),
    ("WEBHOOK_TIMEOUT_MS", "500"),
];

/// A test configuration with [`FAST`] delivery and `extra`.
pub(crate) fn fast_config(env: &Env, extra: &[(&str, &str)]) -> origin::config::Config {
    let mut vars = FAST.to_vec();
    vars.extend_from_slice(extra);
    env.config(&vars)
}

/// The origin on a fresh database with [`fast_config`] and `extra`.
pub(crate) async fn spawn(
    env: &Env,
    opts: sqlx::postgres::PgPoolOptions,
    c: sqlx::postgres::PgConnectOptions,
    extra: &[(&str, &str)],
) -> TestApp {
    TestApp::spawn(crate::helpers::pool(opts, c).await, fast_config(env, extra)).await
}

/// Subscribes `r` and hands it the secret; returns the webhook's JSON.
pub(crate) async fn subscribe(
    app: &TestApp,
    r: &Receiver,
    types: &[&str],
    skus: Option<&[&str]>,
) -> Value {
    let mut body = json!({"url": r.url(), "event_types": types});
    if let Some(skus) = skus {
        body["skus"] = json!(skus);
    }
    let (status, created) = app.post("/v1/admin/webhooks", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{created}");
    r.set_secret(created["secret"].as_str().unwrap());
    created["webhook"].clone()
}

/// Owned `(type, sku, n)` triples, as [`Receiver::delivered`] answers.
pub(crate) fn seq(items: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    items
        .iter()
        .map(|(t, s, n)| ((*t).to_owned(), (*s).to_owned(), *n))
        .collect()
}

/// Waits (15 s at most) until `r` has `n` delivered messages.
pub(crate) async fn wait_delivered(r: &Receiver, n: usize, what: &str) {
    eventually(Duration::from_secs(15), what, || {
        let r = r.clone();
        async move { r.delivered().len() >= n }
    })
    .await;
}
