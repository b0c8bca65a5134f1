//! Answering one request: authentication, the endpoint (`/`, `/pipeline`, `/multi-exec`, path
//! commands, `/metrics`), the policy check of every command, the Redis round trip, and the JSON
//! envelope with its common headers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value as Json};
use subtle::ConstantTimeEq;

use crate::backend::{self, BackendError};
use crate::policy::Access;
use crate::protocol::{Command, Encoding, Endpoint};
use crate::AppState;
use crate::{policy, protocol};

/// A finished HTTP answer before the common headers are added.
struct Answer {
    status: StatusCode,
    body: Json,
    retry_after: bool,
}

impl Answer {
    fn ok(body: Json) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: false,
        }
    }
    fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            retry_after: status == StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<BackendError> for Answer {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Server(text) => Answer::error(StatusCode::BAD_REQUEST, text),
            BackendError::Unavailable(text) => {
                tracing::warn!(error = %text, "redis unavailable");
                Answer::error(StatusCode::SERVICE_UNAVAILABLE, text)
            }
        }
    }
}

pub(crate) async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let endpoint = Endpoint::of(req.uri().path());
    if req.uri().path() == "/metrics" && req.method() == Method::GET {
        return metrics(&state, &req);
    }
    let answer = route(&state, endpoint, req).await;
    state
        .metrics
        .observe(endpoint, answer.status.as_u16(), started.elapsed());
    respond(&state, &answer)
}

/// The JSON response of an [`Answer`], with a fresh `upstash-sync-token`.
fn respond(state: &AppState, answer: &Answer) -> Response {
    let token = format!(
        "{}-{}",
        state.sync_prefix,
        state.sync_counter.fetch_add(1, Ordering::Relaxed)
    );
    let mut res = Response::new(Body::from(
        serde_json::to_vec(&answer.body).unwrap_or_default(),
    ));
    *res.status_mut() = answer.status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&token) {
        h.insert("upstash-sync-token", v);
    }
    if answer.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

fn unauthorized() -> Answer {
    Answer::error(
        StatusCode::UNAUTHORIZED,
        "WRONGPASS invalid or missing auth token",
    )
}

/// `GET /metrics` (Prometheus text), with any token: it shows traffic, never data.
fn metrics(state: &AppState, req: &Request) -> Response {
    if authenticate(state, req.headers(), req.uri().query()).is_none() {
        return respond(state, &unauthorized());
    }
    let in_flight = state.max_in_flight - state.in_flight.available_permits();
    let mut res = Response::new(Body::from(state.metrics.render(in_flight)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    res
}

fn authenticate(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Option<Access> {
    let presented: Option<String> = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .or_else(|| {
            query?.split('&').find_map(|pair| {
                let v = pair.strip_prefix("_token=")?;
                Some(
                    percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
        });
    let presented = presented?.into_bytes();
    // Every configured token is compared (in constant time), whichever matches.
    let matches = |token: Option<&Vec<u8>>| token.is_some_and(|t| bool::from(presented.ct_eq(t)));
    let full = matches(Some(&state.token));
    let read_only = matches(state.readonly_token.as_ref());
    let admin = matches(state.admin_token.as_ref());
    if admin {
        Some(Access::Admin)
    } else if full {
        Some(Access::Full)
    } else if read_only {
        Some(Access::ReadOnly)
    } else {
        None
    }
}

async fn route(state: &AppState, endpoint: Endpoint, req: Request) -> Answer {
    let method = req.method().clone();
    if !matches!(
        method,
        Method::GET | Method::HEAD | Method::POST | Method::PUT
    ) {
        return Answer::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("ERR method {method} is not allowed: use GET, HEAD, POST or PUT"),
        );
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    if path == "/healthz" {
        return Answer::ok(json!({ "status": "ok" }));
    }
    let Some(access) = authenticate(state, req.headers(), query.as_deref()) else {
        return unauthorized();
    };
    let encoding = match req.headers().get("upstash-encoding") {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"base64") => Encoding::Base64,
        _ => Encoding::Text,
    };
    if let Some(format) = req.headers().get("upstash-response-format") {
        if !format.as_bytes().eq_ignore_ascii_case(b"json") {
            return Answer::error(
                StatusCode::BAD_REQUEST,
                "ERR only the json response format is supported by this gateway",
            );
        }
    }
    let too_big = Answer::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ERR max request size exceeded",
    );
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.max_request_bytes) {
        return too_big;
    }
    let body = match axum::body::to_bytes(req.into_body(), state.max_request_bytes).await {
        Ok(b) => b,
        Err(_) => return too_big,
    };

    // Bounded wait for an in-flight slot: a flood gets a fast 503, not an unbounded queue.
    let _permit = match tokio::time::timeout(state.queue_timeout, state.in_flight.acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ERR gateway busy: too many requests in flight, retry shortly",
            )
        }
    };
    match endpoint {
        Endpoint::Pipeline => pipeline(state, &body, encoding, access).await,
        Endpoint::MultiExec => multi_exec(state, &body, encoding, access).await,
        Endpoint::Command => {
            if body.is_empty() {
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    "ERR no command: POST a JSON array such as [\"GET\",\"key\"]",
                );
            }
            match protocol::parse_single(&body) {
                Ok(cmd) => single(state, cmd, encoding, access).await,
                Err(e) => Answer::error(StatusCode::BAD_REQUEST, e),
            }
        }
        Endpoint::Other if matches!(path.as_str(), "/subscribe" | "/psubscribe" | "/monitor") => {
            Answer::error(
                StatusCode::NOT_FOUND,
                "ERR streaming endpoints are not supported by this gateway",
            )
        }
        Endpoint::Other => {
            let value = (matches!(method, Method::POST | Method::PUT) && !body.is_empty())
                .then_some(&body[..]);
            match protocol::parse_path(&path, query.as_deref(), value) {
                Ok(cmd) => single(state, cmd, encoding, access).await,
                Err(e) => Answer::error(StatusCode::BAD_REQUEST, e),
            }
        }
    }
}

/// What the gateway will send for one client command, after policy and script translation.
enum Prepared {
    Send(backend::Outgoing),
    Refused(String),
}

fn prepare(state: &AppState, cmd: Command, access: Access) -> Prepared {
    if let Err(refusal) = policy::check(&cmd.name, cmd.args(), access) {
        return Prepared::Refused(refusal.message());
    }
    Prepared::Send(state.backend.translate(cmd))
}

async fn single(state: &AppState, cmd: Command, enc: Encoding, access: Access) -> Answer {
    let out = match prepare(state, cmd, access) {
        Prepared::Send(o) => o,
        Prepared::Refused(msg) => return Answer::error(StatusCode::BAD_REQUEST, msg),
    };
    state.metrics.commands(1);
    match state.backend.run(vec![out]).await {
        Ok(mut replies) => match replies.pop().map(|r| protocol::reply(r, enc)) {
            Some(Ok(v)) => Answer::ok(json!({ "result": v })),
            Some(Err(e)) => Answer::error(StatusCode::BAD_REQUEST, e),
            None => Answer::error(StatusCode::BAD_GATEWAY, "ERR redis sent no reply"),
        },
        Err(e) => e.into(),
    }
}

async fn pipeline(state: &AppState, body: &[u8], enc: Encoding, access: Access) -> Answer {
    let parsed = match protocol::parse_batch(body, state.max_commands) {
        Ok(p) => p,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
    };
    // Refused or malformed items answer `{error}` in place; the rest run as one RESP pipeline.
    let mut slots: Vec<Result<usize, String>> = Vec::with_capacity(parsed.len());
    let mut outgoing = Vec::with_capacity(parsed.len());
    for p in parsed {
        match p.map(|c| prepare(state, c, access)) {
            Ok(Prepared::Send(o)) => {
                slots.push(Ok(outgoing.len()));
                outgoing.push(o);
            }
            Ok(Prepared::Refused(e)) | Err(e) => slots.push(Err(e)),
        }
    }
    let mut replies: Vec<Option<redis::Value>> = if outgoing.is_empty() {
        Vec::new()
    } else {
        state.metrics.commands(outgoing.len());
        match state.backend.run(outgoing).await {
            Ok(r) => r.into_iter().map(Some).collect(),
            Err(e) => return e.into(),
        }
    };
    let items: Vec<Json> = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(i) => match replies.get_mut(i).and_then(Option::take) {
                Some(v) => protocol::item(protocol::reply(v, enc)),
                None => protocol::item(Err("ERR redis sent no reply".to_owned())),
            },
            Err(e) => protocol::item(Err(e)),
        })
        .collect();
    Answer::ok(Json::Array(items))
}

async fn multi_exec(state: &AppState, body: &[u8], enc: Encoding, access: Access) -> Answer {
    let parsed = match protocol::parse_batch(body, state.max_commands) {
        Ok(p) => p,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
    };
    // Any bad command discards the whole transaction (DOCS-REST "Transactions"): 400, nothing runs.
    let mut outgoing = Vec::with_capacity(parsed.len());
    for (i, p) in parsed.into_iter().enumerate() {
        match p.map(|c| prepare(state, c, access)) {
            Ok(Prepared::Send(o)) => outgoing.push(o),
            Ok(Prepared::Refused(e)) | Err(e) => {
                return Answer::error(
                    StatusCode::BAD_REQUEST,
                    format!("{e} (command {}; transaction discarded)", i + 1),
                )
            }
        }
    }
    state.metrics.commands(outgoing.len());
    match state.backend.transaction(outgoing).await {
        Ok(replies) => Answer::ok(Json::Array(
            replies
                .into_iter()
                .map(|v| protocol::item(protocol::reply(v, enc)))
                .collect(),
        )),
        Err(e) => e.into(),
    }
}
