//! The Upstash REST wire format: JSON command arrays in, `{result}` / `{error}` JSON out.

use base64::Engine as _;
use redis::Value;
use serde_json::{Map, Value as Json};

/// Which endpoint a request is for (routing and metrics).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint {
    Command = 0,
    Pipeline = 1,
    MultiExec = 2,
    Other = 3,
}

impl Endpoint {
    pub(crate) fn of(path: &str) -> Self {
        match path {
            "/" | "" => Self::Command,
            "/pipeline" | "/pipeline/" => Self::Pipeline,
            "/multi-exec" | "/multi-exec/" => Self::MultiExec,
            _ => Self::Other,
        }
    }

    /// The `endpoint` label of the metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Pipeline => "pipeline",
            Self::MultiExec => "multi_exec",
            Self::Other => "other",
        }
    }
}

/// One command: the upper-cased name and its arguments as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    /// Upper-cased command name, for policy checks.
    pub(crate) name: String,
    /// Every word including the name as the client sent it.
    pub(crate) words: Vec<Vec<u8>>,
}

impl Command {
    pub(crate) fn args(&self) -> &[Vec<u8>] {
        &self.words[1..]
    }

    pub(crate) fn from_words(words: Vec<Vec<u8>>) -> Result<Self, String> {
        let first = words
            .first()
            .ok_or_else(|| "ERR empty command".to_owned())?;
        let name = std::str::from_utf8(first)
            .map_err(|_| "ERR command name must be UTF-8".to_owned())?
            .to_ascii_uppercase();
        if name.is_empty() {
            return Err("ERR empty command name".to_owned());
        }
        Ok(Self { name, words })
    }
}

/// Converts one JSON argument to the bytes Redis receives: strings as UTF-8, numbers as their
/// JSON text (`100`, `2.5`), booleans as `true`/`false` (what the official clients store).
fn arg_bytes(v: &Json, pos: usize) -> Result<Vec<u8>, String> {
    match v {
        Json::String(s) => Ok(s.as_bytes().to_vec()),
        Json::Number(n) => Ok(n.to_string().into_bytes()),
        Json::Bool(b) => Ok(b.to_string().into_bytes()),
        Json::Null | Json::Array(_) | Json::Object(_) => Err(format!(
            "ERR argument {pos} must be a string, a number or a boolean"
        )),
    }
}

/// Parses one command array: `["SET", "k", "v", "EX", 100]`.
pub(crate) fn parse_command(v: &Json) -> Result<Command, String> {
    let Json::Array(items) = v else {
        return Err("ERR a command must be a JSON array like [\"GET\",\"key\"]".to_owned());
    };
    let words = items
        .iter()
        .enumerate()
        .map(|(i, a)| arg_bytes(a, i))
        .collect::<Result<Vec<_>, _>>()?;
    Command::from_words(words)
}

/// Parses a `/pipeline` or `/multi-exec` body: `[["SET","a","1"],["GET","a"]]`.
/// Returns one parse result per command so a pipeline can answer bad items individually.
pub(crate) fn parse_batch(body: &[u8], max: usize) -> Result<Vec<Result<Command, String>>, String> {
    let v: Json =
        serde_json::from_slice(body).map_err(|e| format!("ERR invalid JSON body: {e}"))?;
    let Json::Array(items) = v else {
        return Err("ERR the body must be a JSON array of command arrays".to_owned());
    };
    if items.is_empty() {
        return Err("ERR empty pipeline".to_owned());
    }
    if items.len() > max {
        return Err(format!(
            "ERR too many commands in one request: {} (max {max})",
            items.len()
        ));
    }
    Ok(items.iter().map(parse_command).collect())
}

/// Parses a `POST /` body.
pub(crate) fn parse_single(body: &[u8]) -> Result<Command, String> {
    let v: Json =
        serde_json::from_slice(body).map_err(|e| format!("ERR invalid JSON body: {e}"))?;
    parse_command(&v)
}

/// Parses a path-style command: `/set/foo/bar?EX=100`, with the raw POST body, when present,
/// appended as the value (DOCS-REST "JSON or Binary Value").
pub(crate) fn parse_path(
    path: &str,
    query: Option<&str>,
    body: Option<&[u8]>,
) -> Result<Command, String> {
    let mut words: Vec<Vec<u8>> = path
        .trim_start_matches('/')
        .split('/')
        .map(|seg| percent_encoding::percent_decode_str(seg).collect())
        .collect();
    if let Some(body) = body {
        words.push(body.to_vec());
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "_token" {
            continue;
        }
        words.push(decode_query(k));
        if !v.is_empty() {
            words.push(decode_query(v));
        }
    }
    Command::from_words(words)
}

fn decode_query(s: &str) -> Vec<u8> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).collect()
}

/// Response encoding requested by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Strings as UTF-8 text (invalid bytes become U+FFFD).
    Text,
    /// `Upstash-Encoding: base64`: every string base64, except a top-level `OK` status.
    Base64,
}

fn string(bytes: &[u8], enc: Encoding) -> Json {
    match enc {
        Encoding::Text => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Encoding::Base64 => Json::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

/// Formats a Redis error reply the way Redis prints it: `CODE detail`.
pub(crate) fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {d}", e.code()),
        None => e.code().to_owned(),
    }
}

/// A reply as an item: `Ok(json)` for `{result}`, `Err(text)` for `{error}`.
pub(crate) fn reply(v: Value, enc: Encoding) -> Result<Json, String> {
    match v {
        Value::ServerError(e) => Err(server_error_text(&e)),
        Value::Okay => Ok(Json::String("OK".to_owned())),
        Value::SimpleString(s) if s == "OK" => Ok(Json::String(s)),
        other => Ok(nested(other, enc)),
    }
}

/// Converts a nested reply (RESP2 shapes; RESP3-only types folded back to their RESP2 forms).
fn nested(v: Value, enc: Encoding) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Int(i) => Json::from(i),
        Value::BulkString(b) => string(&b, enc),
        Value::SimpleString(s) => string(s.as_bytes(), enc),
        Value::Okay => string(b"OK", enc),
        Value::Array(items) | Value::Set(items) => {
            Json::Array(items.into_iter().map(|i| nested(i, enc)).collect())
        }
        Value::Map(pairs) => Json::Array(
            pairs
                .into_iter()
                .flat_map(|(k, v)| [nested(k, enc), nested(v, enc)])
                .collect(),
        ),
        Value::Attribute { data, .. } => nested(*data, enc),
        Value::Double(d) => string(d.to_string().as_bytes(), enc),
        Value::Boolean(b) => Json::from(i64::from(b)),
        Value::VerbatimString { text, .. } => string(text.as_bytes(), enc),
        Value::BigNumber(n) => string(&n, enc),
        Value::Push { data, .. } => Json::Array(data.into_iter().map(|i| nested(i, enc)).collect()),
        // Inside an array (EXEC replies, script tables) an error stays an error string.
        Value::ServerError(e) => Json::String(server_error_text(&e)),
        _ => Json::Null,
    }
}

/// `{"result": ...}` or `{"error": "..."}`.
pub(crate) fn item(r: Result<Json, String>) -> Json {
    let mut m = Map::with_capacity(1);
    match r {
        Ok(v) => m.insert("result".to_owned(), v),
        Err(e) => m.insert("error".to_owned(), Json::String(e)),
    };
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_follow_the_clients_serializer() {
        let c = parse_single(br#"["set","k",true,2.5,100]"#).unwrap();
        assert_eq!(c.name, "SET");
        assert_eq!(
            c.words,
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"true".to_vec(),
                b"2.5".to_vec(),
                b"100".to_vec()
            ]
        );
        assert!(parse_single(br#"["set","k",null]"#)
            .unwrap_err()
            .contains("argument 2"));
        assert!(parse_single(br#"[]"#).unwrap_err().contains("empty"));
        assert!(parse_single(br#"{"a":1}"#).is_err());
        assert!(parse_single(b"not json")
            .unwrap_err()
            .starts_with("ERR invalid JSON"));
    }

    #[test]
    fn batches_are_bounded() {
        assert!(parse_batch(br#"[["ping"],["ping"],["ping"]]"#, 2)
            .unwrap_err()
            .contains("max 2"));
        assert_eq!(parse_batch(br#"[["ping"],[1]]"#, 10).unwrap().len(), 2);
        assert!(parse_batch(br#"[]"#, 10).is_err());
    }

    #[test]
    fn path_style_commands() {
        let c = parse_path("/set/foo%2Fbar/baz", Some("EX=100&_token=t&NX"), None).unwrap();
        assert_eq!(
            c.words,
            vec![
                b"set".to_vec(),
                b"foo/bar".to_vec(),
                b"baz".to_vec(),
                b"EX".to_vec(),
                b"100".to_vec(),
                b"NX".to_vec()
            ]
        );
        let c = parse_path("/set/k", None, Some(b"\x00\xff")).unwrap();
        assert_eq!(c.words[2], b"\x00\xff");
    }

    #[test]
    fn base64_keeps_only_a_top_level_ok() {
        let enc = Encoding::Base64;
        assert_eq!(reply(Value::Okay, enc).unwrap(), json!("OK"));
        assert_eq!(
            reply(Value::BulkString(b"OK".to_vec()), enc).unwrap(),
            json!("T0s=")
        );
        assert_eq!(
            reply(Value::SimpleString("PONG".into()), enc).unwrap(),
            json!("UE9ORw==")
        );
        assert_eq!(
            reply(
                Value::Array(vec![Value::Okay, Value::Int(3), Value::Nil]),
                enc
            )
            .unwrap(),
            json!(["T0s=", 3, null])
        );
        assert_eq!(
            reply(Value::BulkString(vec![0xff]), Encoding::Text).unwrap(),
            json!("\u{fffd}")
        );
    }
}
