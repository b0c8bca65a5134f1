//! One record per request, for operators: a data point for Workers Analytics Engine (when the
//! `ANALYTICS` dataset is bound) and one JSON log line (for `wrangler tail` and Logpush). Built
//! here, on the host, from the request and its answer; the platform only writes them, and never
//! before the response is on its way.
//!
//! The data point's layout is fixed (the SQL in docs/operations.md relies on it):
//!
//! | field | holds |
//! |---|---|
//! | `index1` | the SKU (a stock read's or reservation's first), else empty |
//! | `blob1` | the route: method and path template, e.g. `POST /v1/reservations` |
//! | `blob2` | the error code of an error answer, else empty |
//! | `blob3` | `hit` / `miss` of the edge cache or loser memory, else empty |
//! | `blob4` | the request id |
//! | `blob5` | the SKU's logical shard (`s<n>`), else empty |
//! | `double1` | the HTTP status |
//! | `double2` | the request's duration (ms) |
//! | `double3` | time spent in Redis calls (ms) |
//! | `double4` | Redis calls made |

use serde::Serialize;

use crate::platform::{ApiRequest, ApiResponse, RequestExt, ResponseExt};
use crate::router::Route;

/// Redis calls a request made and the time they took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RedisUsage {
    /// Calls (REST requests) made.
    pub calls: u32,
    /// Their total duration, ms.
    pub ms: f64,
}

/// What is recorded of one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// The request id (also in a 5xx answer's `X-Request-Id`).
    pub request_id: String,
    /// Method and path template (`GET /v1/stock/{sku}`), or `unmatched`.
    pub route: String,
    /// HTTP status answered.
    pub status: u16,
    /// The error code of an error answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The SKU the request was about (the first, for several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// `hit` or `miss` (`X-Edgestock-Cache`), when the answer says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// The logical shard of `sku` (see [`RequestRecord::on_shards`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Whole request, ms (the runtime's clock advances only across I/O).
    pub duration_ms: f64,
    /// Time in Redis calls, ms.
    pub redis_ms: f64,
    /// Redis calls made.
    pub redis_calls: u32,
}

/// An Analytics Engine data point: indexes, blobs and doubles in their documented order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataPoint {
    /// `index1`: the SKU.
    pub indexes: Vec<String>,
    /// `blob1..blob5`.
    pub blobs: Vec<String>,
    /// `double1..double4`.
    pub doubles: Vec<f64>,
}

/// Longest SKU index kept (Analytics Engine allows 96 bytes; SKUs are at most 64).
const MAX_INDEX_BYTES: usize = 96;

impl RequestRecord {
    /// The record of `req` answered `resp`.
    pub fn of(
        req: &ApiRequest,
        route: Option<Route<'_>>,
        resp: &ApiResponse,
        request_id: &str,
        duration_ms: f64,
        redis: RedisUsage,
    ) -> Self {
        let error_code = (resp.code() >= 400)
            .then(|| {
                let v: serde_json::Value = serde_json::from_slice(resp.body()).ok()?;
                v["error"]["code"].as_str().map(str::to_owned)
            })
            .flatten();
        Self {
            request_id: request_id.to_owned(),
            route: route.map_or_else(
                || "unmatched".to_owned(),
                |r| format!("{} {}", req.method(), r.template()),
            ),
            status: resp.code(),
            error_code,
            sku: route.and_then(|r| sku_of(req, r)),
            cache: resp.header("x-edgestock-cache").map(str::to_owned),
            shard: None,
            duration_ms,
            redis_ms: redis.ms,
            redis_calls: redis.calls,
        }
    }

    /// Names the logical shard of the record's SKU in `keys`' layout, so that errors and
    /// latency can be read per shard (a lost shard shows as its own 503s).
    #[must_use]
    pub fn on_shards(mut self, keys: &edgestock_core::keys::Keys) -> Self {
        self.shard = self.sku.as_deref().map(|sku| keys.shard_of(sku).0);
        self
    }

    /// The Analytics Engine data point (layout in the module docs).
    pub fn data_point(&self) -> DataPoint {
        let mut index = self.sku.clone().unwrap_or_default();
        index.truncate(MAX_INDEX_BYTES);
        DataPoint {
            indexes: vec![index],
            blobs: vec![
                self.route.clone(),
                self.error_code.clone().unwrap_or_default(),
                self.cache.clone().unwrap_or_default(),
                self.request_id.clone(),
                self.shard.map(|s| format!("s{s}")).unwrap_or_default(),
            ],
            doubles: vec![
                f64::from(self.status),
                self.duration_ms,
                self.redis_ms,
                f64::from(self.redis_calls),
            ],
        }
    }

    /// The JSON log line.
    pub fn log_line(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            msg: &'static str,
            #[serde(flatten)]
            rec: &'a RequestRecord,
        }
        serde_json::to_string(&Line {
            msg: "request",
            rec: self,
        })
        .unwrap_or_default()
    }
}

/// The SKU a request is about: the path's, the first of a batch read's query, or the first
/// item of a reserve body (only when it is valid JSON with a plausible SKU).
fn sku_of(req: &ApiRequest, route: Route<'_>) -> Option<String> {
    let plausible = |s: &str| crate::validate::sku(s).ok().map(|s| s.as_str().to_owned());
    match route {
        Route::StockOne(sku) => plausible(sku),
        Route::StockMany => req
            .query_str()
            .split('&')
            .find_map(|kv| kv.strip_prefix("sku="))
            .and_then(plausible),
        Route::Reservations if req.method() == "POST" => {
            let v: serde_json::Value = serde_json::from_slice(req.body()).ok()?;
            v["items"][0]["sku"].as_str().and_then(plausible)
        }
        _ => None,
    }
}
