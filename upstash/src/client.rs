//! The client: one command, pipelines, transactions and scripts over a [`Transport`].

use std::time::Duration;

use serde_json::Value as Json;

use crate::transport::{HttpRequest, Transport, DEFAULT_TIMEOUT};
use crate::value::{parse_item, truncate};
use crate::{cmd, Cmd, Error, Value};

/// A Lua script as the server caches it: its source and the lowercase hex SHA1 of that source
/// (what `EVALSHA` names). Computing the SHA1 once is the caller's business.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// Lowercase hex SHA1 of `source`.
    pub sha1: &'a str,
    /// The full script text, sent with `EVAL` when the server does not have it cached.
    pub source: &'a str,
}

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
        script: Script<'_>,
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
        match self.command(&build(sha_cmd, script.sha1)).await {
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

    /// One HTTP exchange; maps statuses per the protocol's status rules and returns the parsed JSON body.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{HttpResponse, TransportError};
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
        let sha1 = sha1_smol::Sha1::from("return 1").digest().to_string();
        let s = Script {
            sha1: &sha1,
            source: "return 1",
        };
        let c = Canned::default();
        let cl = client(
            &c,
            vec![
                (400, r#"{"error":"NOSCRIPT No matching script."}"#),
                (200, r#"{"result":1}"#),
            ],
        );
        assert_eq!(
            cl.eval(s, &["k".into()], &[], false).await,
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
