//! A small typed client for the Upstash REST protocol (`shared/docs/upstash-rest-protocol.md`).
//!
//! It speaks exactly what the official clients speak: `POST /` with a JSON array,
//! `POST /pipeline` and `POST /multi-exec` with a 2-D array, `Authorization: Bearer`,
//! and `Upstash-Encoding: base64` so binary values survive the JSON envelope (§6).
//! Scripts go out as `EVALSHA` and fall back to `EVAL` on `NOSCRIPT` (§8).
//!
//! The HTTP exchange itself is a [`Transport`]: `reqwest` natively, `worker::Fetch`
//! in the Cloudflare Worker. Every call carries the client's timeout.

use std::time::Duration;

use base64::Engine as _;
use edgestock_lua::Script;
use serde_json::Value as Json;

/// Default timeout of one HTTP exchange with the REST endpoint.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers every request carries besides `Authorization`: a JSON body, and base64
/// responses so binary values survive the JSON envelope (protocol §6.1).
pub const FIXED_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("upstash-encoding", "base64"),
];

/// One HTTP `POST` the client wants sent, with [`FIXED_HEADERS`] and `authorization`.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Absolute URL.
    pub url: String,
    /// `Authorization` header value (`Bearer …`).
    pub authorization: String,
    /// JSON body.
    pub body: Vec<u8>,
    /// The transport must give up after this long and return [`TransportError::Timeout`].
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Raw body.
    pub body: Vec<u8>,
}

/// Why an HTTP exchange did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No response within the request's timeout.
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset, DNS, TLS, ...
    #[error("{0}")]
    Failed(String),
}

/// Sends one HTTP request. Implemented by `reqwest` (native) and `worker::Fetch` (wasm).
///
/// Futures are not required to be `Send`: the worker's are not.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends `req`, honouring `req.timeout`.
    ///
    /// # Errors
    /// [`TransportError`] when no HTTP response arrived.
    async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Everything that can go wrong with one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Redis answered with an error; the text is Redis's own, verbatim (`NOSCRIPT …`, `ERR …`).
    #[error("redis error: {0}")]
    Redis(String),
    /// The REST endpoint refused the token (401/403).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The endpoint answered 5xx (for example the gateway cannot reach Redis).
    #[error("unavailable (HTTP {status}): {message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The `error` text of the body, or the raw body.
        message: String,
    },
    /// No HTTP response: connection failure.
    #[error("transport failure: {0}")]
    Transport(String),
    /// No HTTP response within the timeout.
    #[error("timed out")]
    Timeout,
    /// A response that does not follow the protocol.
    #[error("malformed reply: {0}")]
    Malformed(String),
}

impl Error {
    /// True for `NOSCRIPT` errors (case-insensitive, as the official client checks).
    pub fn is_noscript(&self) -> bool {
        matches!(self, Error::Redis(m) if m.to_ascii_lowercase().contains("noscript"))
    }

    /// True when the caller may retry later (Redis or the endpoint unreachable).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Transport(_) | Error::Timeout
        )
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout => Error::Timeout,
            TransportError::Failed(m) => Error::Transport(m),
        }
    }
}

/// A decoded Redis reply (RESP2 shapes, as the protocol maps them to JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Nil bulk or nil array.
    Nil,
    /// Integer reply.
    Int(i64),
    /// Bulk or simple string, bytes as stored.
    Bytes(Vec<u8>),
    /// Array reply.
    Array(Vec<Value>),
}

impl Value {
    /// The value as UTF-8 text, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The value as an integer: an integer reply, or a string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bytes(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Consumes an array.
    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One command: a name and its arguments, all sent as JSON strings or integers.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmd(Vec<Json>);

/// Starts a command: `cmd("HSET").arg(key).arg("f").arg(1)`.
pub fn cmd(name: &str) -> Cmd {
    Cmd(vec![Json::from(name)])
}

impl Cmd {
    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, a: impl ToArg) -> Self {
        self.0.push(a.to_arg());
        self
    }

    /// Appends many arguments.
    #[must_use]
    pub fn args<A: ToArg>(mut self, items: impl IntoIterator<Item = A>) -> Self {
        self.0.extend(items.into_iter().map(|a| a.to_arg()));
        self
    }

    /// The JSON array sent on the wire.
    pub fn as_json(&self) -> &[Json] {
        &self.0
    }
}

/// A value usable as a command argument.
pub trait ToArg {
    /// JSON form of the argument (string or integer).
    fn to_arg(&self) -> Json;
}

impl ToArg for &str {
    fn to_arg(&self) -> Json {
        Json::from(*self)
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Json {
        Json::from(self.as_str())
    }
}
impl ToArg for &String {
    fn to_arg(&self) -> Json {
        Json::from(self.as_str())
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Json { Json::from(*self) }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize);

/// Per-command outcome inside a pipeline or transaction.
pub type ItemResult = Result<Value, Error>;

/// The client. Cheap to clone when its transport is.
#[derive(Debug, Clone)]
pub struct Client<T> {
    transport: T,
    base_url: String,
    authorization: String,
    timeout: Duration,
}

impl<T: Transport> Client<T> {
    /// A client for the REST endpoint at `base_url` with `token`.
    pub fn new(transport: T, base_url: &str, token: &str) -> Self {
        Self {
            transport,
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the timeout of every call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs one command (`POST /`).
    ///
    /// # Errors
    /// [`Error::Redis`] with Redis's own text when the command failed; the other variants otherwise.
    pub async fn command(&self, c: &Cmd) -> Result<Value, Error> {
        let body = serde_json::to_vec(c.as_json()).map_err(|e| Error::Malformed(e.to_string()))?;
        let json = self.exchange("", body).await?;
        parse_item(json)
    }

    /// Runs commands as one pipeline (`POST /pipeline`): in order, not atomic.
    ///
    /// # Errors
    /// Only for failures of the request as a whole; a failing command is an `Err` item.
    pub async fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<ItemResult>, Error> {
        self.batch("/pipeline", cmds).await
    }

    /// Runs commands atomically (`POST /multi-exec`).
    ///
    /// # Errors
    /// [`Error::Redis`] when the transaction was discarded as a whole; run-time errors are `Err` items.
    pub async fn multi_exec(&self, cmds: &[Cmd]) -> Result<Vec<ItemResult>, Error> {
        self.batch("/multi-exec", cmds).await
    }

    /// Runs a script with `EVALSHA` (or `EVALSHA_RO`), falling back to `EVAL` (`EVAL_RO`) on `NOSCRIPT`.
    ///
    /// # Errors
    /// As [`Client::command`].
    pub async fn eval(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
        read_only: bool,
    ) -> Result<Value, Error> {
        let (sha_cmd, src_cmd) = if read_only {
            ("EVALSHA_RO", "EVAL_RO")
        } else {
            ("EVALSHA", "EVAL")
        };
        let build =
            |name: &str, first: &str| cmd(name).arg(first).arg(keys.len()).args(keys).args(args);
        match self.command(&build(sha_cmd, script.sha1())).await {
            Err(e) if e.is_noscript() => self.command(&build(src_cmd, script.source)).await,
            other => other,
        }
    }

    /// Loads a script into the server's cache and returns the SHA1 the server computed.
    ///
    /// # Errors
    /// As [`Client::command`].
    pub async fn script_load(&self, source: &str) -> Result<String, Error> {
        let v = self.command(&cmd("SCRIPT").arg("LOAD").arg(source)).await?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Malformed(format!("SCRIPT LOAD returned {v:?}")))
    }

    /// `PING`, as a reachability check.
    ///
    /// # Errors
    /// As [`Client::command`].
    pub async fn ping(&self) -> Result<(), Error> {
        self.command(&cmd("PING")).await.map(|_| ())
    }

    async fn batch(&self, path: &str, cmds: &[Cmd]) -> Result<Vec<ItemResult>, Error> {
        let arr: Vec<&[Json]> = cmds.iter().map(Cmd::as_json).collect();
        let body = serde_json::to_vec(&arr).map_err(|e| Error::Malformed(e.to_string()))?;
        match self.exchange(path, body).await? {
            Json::Array(items) if items.len() == cmds.len() => {
                Ok(items.into_iter().map(parse_item).collect())
            }
            other => Err(Error::Malformed(format!(
                "expected {} items, got {}",
                cmds.len(),
                truncate(&other.to_string())
            ))),
        }
    }

    /// One HTTP exchange; maps statuses per protocol §4 and returns the parsed JSON body.
    async fn exchange(&self, path: &str, body: Vec<u8>) -> Result<Json, Error> {
        let req = HttpRequest {
            url: format!("{}{path}", self.base_url),
            authorization: self.authorization.clone(),
            body,
            timeout: self.timeout,
        };
        let resp = self.transport.post(req).await?;
        let parsed: Result<Json, _> = serde_json::from_slice(&resp.body);
        let error_text = || match &parsed {
            Ok(Json::Object(o)) => o
                .get("error")
                .and_then(Json::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| truncate(&String::from_utf8_lossy(&resp.body))),
            _ => truncate(&String::from_utf8_lossy(&resp.body)),
        };
        match resp.status {
            200..=299 => parsed.map_err(|e| Error::Malformed(format!("invalid JSON: {e}"))),
            401 | 403 => Err(Error::Unauthorized(error_text())),
            500..=599 => Err(Error::Unavailable {
                status: resp.status,
                message: error_text(),
            }),
            400..=499 if matches!(&parsed, Ok(Json::Object(o)) if o.contains_key("error")) => {
                Err(Error::Redis(error_text()))
            }
            s => Err(Error::Malformed(format!("HTTP {s}: {}", error_text()))),
        }
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Parses one `{"result": …}` / `{"error": …}` envelope.
fn parse_item(json: Json) -> Result<Value, Error> {
    let Json::Object(mut obj) = json else {
        return Err(Error::Malformed(format!(
            "expected an object, got {}",
            truncate(&json.to_string())
        )));
    };
    if let Some(err) = obj.remove("error") {
        return Err(Error::Redis(match err {
            Json::String(s) => s,
            other => other.to_string(),
        }));
    }
    match obj.remove("result") {
        Some(r) => decode(r, true),
        None => Err(Error::Malformed("neither result nor error".into())),
    }
}

/// Decodes a base64-encoded result (protocol §6.1): every string is base64 except a
/// top-level `"OK"` status.
fn decode(json: Json, top_level: bool) -> Result<Value, Error> {
    match json {
        Json::Null => Ok(Value::Nil),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .ok_or_else(|| Error::Malformed(format!("non-integer number {n}"))),
        Json::String(s) if top_level && s == "OK" => Ok(Value::Bytes(b"OK".to_vec())),
        Json::String(s) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Value::Bytes)
            .map_err(|e| Error::Malformed(format!("bad base64 {}: {e}", truncate(&s)))),
        Json::Array(items) => items
            .into_iter()
            .map(|j| decode(j, false))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Err(Error::Malformed(format!(
            "unexpected JSON {}",
            truncate(&other.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A transport that answers from a queue and records what it was sent.
    #[derive(Default)]
    struct Canned {
        replies: RefCell<Vec<(u16, &'static str)>>,
        sent: RefCell<Vec<String>>,
    }

    impl Transport for &Canned {
        async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(format!(
                "{} {}",
                req.url,
                String::from_utf8_lossy(&req.body)
            ));
            let (status, body) = self.replies.borrow_mut().remove(0);
            Ok(HttpResponse {
                status,
                body: body.as_bytes().to_vec(),
            })
        }
    }

    fn client<'a>(c: &'a Canned, replies: Vec<(u16, &'static str)>) -> Client<&'a Canned> {
        *c.replies.borrow_mut() = replies;
        Client::new(c, "http://h/", "t")
    }

    #[tokio::test]
    async fn top_level_ok_stays_raw_and_other_strings_are_base64_decoded() {
        let c = Canned::default();
        let cl = client(
            &c,
            vec![
                (200, r#"{"result":"OK"}"#),
                (200, r#"{"result":["T0s=",1,null]}"#),
            ],
        );
        assert_eq!(
            cl.command(&cmd("SET")).await,
            Ok(Value::Bytes(b"OK".to_vec()))
        );
        assert_eq!(
            cl.command(&cmd("X")).await,
            Ok(Value::Array(vec![
                Value::Bytes(b"OK".to_vec()),
                Value::Int(1),
                Value::Nil
            ]))
        );
    }

    #[tokio::test]
    async fn statuses_map_to_typed_errors_with_redis_text_verbatim() {
        let c = Canned::default();
        let cl = client(
            &c,
            vec![
                (400, r#"{"error":"ERR wrong number of arguments"}"#),
                (401, r#"{"error":"Unauthorized"}"#),
                (503, r#"{"error":"redis unreachable"}"#),
                (200, "not json"),
            ],
        );
        assert_eq!(
            cl.command(&cmd("GET")).await,
            Err(Error::Redis("ERR wrong number of arguments".into()))
        );
        assert_eq!(
            cl.command(&cmd("GET")).await,
            Err(Error::Unauthorized("Unauthorized".into()))
        );
        assert!(cl.command(&cmd("GET")).await.unwrap_err().is_unavailable());
        assert!(matches!(
            cl.command(&cmd("GET")).await,
            Err(Error::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn eval_falls_back_to_eval_on_noscript() {
        static S: Script = Script::new("t", "return 1");
        let c = Canned::default();
        let cl = client(
            &c,
            vec![
                (400, r#"{"error":"NOSCRIPT No matching script."}"#),
                (200, r#"{"result":1}"#),
            ],
        );
        assert_eq!(
            cl.eval(&S, &["k".into()], &[], false).await,
            Ok(Value::Int(1))
        );
        let sent = c.sent.borrow();
        assert!(
            sent[0].contains(r#"["EVALSHA","e0e1f9fabfc9d4800c877a703b823ac0578ff8db",1,"k"]"#),
            "{}",
            sent[0]
        );
        assert!(
            sent[1].contains(r#"["EVAL","return 1",1,"k"]"#),
            "{}",
            sent[1]
        );
    }

    #[tokio::test]
    async fn pipeline_keeps_per_item_errors() {
        let c = Canned::default();
        let cl = client(&c, vec![(200, r#"[{"result":"YQ=="},{"error":"ERR x"}]"#)]);
        let out = cl
            .pipeline(&[cmd("GET").arg("a"), cmd("INCR").arg("b")])
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                Ok(Value::Bytes(b"a".to_vec())),
                Err(Error::Redis("ERR x".into()))
            ]
        );
        assert!(c.sent.borrow()[0].starts_with("http://h/pipeline "));
    }
}
