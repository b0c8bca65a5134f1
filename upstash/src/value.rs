//! Redis replies as the protocol carries them in JSON, and their decoding.

use base64::Engine as _;
use serde_json::Value as Json;

use crate::Error;

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

pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Parses one `{"result": …}` / `{"error": …}` envelope.
pub(crate) fn parse_item(json: Json) -> Result<Value, Error> {
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

/// Decodes a base64-encoded result (`Upstash-Encoding: base64`): every string is base64 except a
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
