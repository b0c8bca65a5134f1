//! The edgestock Cloudflare Worker.
//!
//! For now a placeholder: `GET /healthz` answers with the service identity and every other
//! route answers with a JSON 404. The response bodies are built by pure functions in this
//! module so they can be unit-tested on the host; the Workers runtime glue lives in the
//! `glue` module, which only exists when compiling for `wasm32`.

use serde_json::{json, Value};

/// Service name reported by `/healthz`.
pub const SERVICE_NAME: &str = "edgestock-edge";

/// Version of this crate, reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Body of a successful `GET /healthz`.
#[must_use]
pub fn health_body() -> Value {
    json!({
        "status": "ok",
        "service": SERVICE_NAME,
        "version": VERSION,
    })
}

/// The JSON error envelope used by every error response: `{"error":{"code":..,"message":..}}`.
#[must_use]
pub fn error_body(code: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
        }
    })
}

/// Body of the 404 returned for a route that does not exist.
#[must_use]
pub fn not_found_body(method: &str, path: &str) -> Value {
    error_body("not_found", &format!("no route for {method} {path}"))
}

/// Body of the 405 returned when the path exists but not for this method.
#[must_use]
pub fn method_not_allowed_body(method: &str, path: &str) -> Value {
    error_body(
        "method_not_allowed",
        &format!("method {method} not allowed for {path}"),
    )
}

#[cfg(target_arch = "wasm32")]
mod glue {
    use worker::{event, Context, Env, Request, Response, Result, RouteContext, Router};

    fn json(body: &serde_json::Value, status: u16) -> Result<Response> {
        Ok(Response::from_json(body)?.with_status(status))
    }

    fn not_found(req: Request, _ctx: RouteContext<()>) -> Result<Response> {
        json(
            &crate::not_found_body(req.method().as_ref(), &req.path()),
            404,
        )
    }

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
        let method = req.method();
        let path = req.path();
        let resp = Router::new()
            .get("/healthz", |_req, _ctx| json(&crate::health_body(), 200))
            // matchit's catch-all does not match "/", so register it separately.
            .or_else_any_method("/", not_found)
            .or_else_any_method("/*path", not_found)
            .run(req, env)
            .await?;
        if resp.status_code() == 405 {
            // The router's own 405 is plain text; keep every error in the JSON envelope.
            return json(&crate::method_not_allowed_body(method.as_ref(), &path), 405);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_body_has_status_service_and_version() {
        let body = health_body();
        assert_eq!(
            body,
            json!({"status": "ok", "service": "edgestock-edge", "version": env!("CARGO_PKG_VERSION")})
        );
        assert_eq!(
            body.to_string(),
            format!(r#"{{"service":"edgestock-edge","status":"ok","version":"{VERSION}"}}"#)
        );
    }

    #[test]
    fn not_found_body_names_method_and_path() {
        assert_eq!(
            not_found_body("GET", "/nope"),
            json!({"error": {"code": "not_found", "message": "no route for GET /nope"}})
        );
    }

    #[test]
    fn method_not_allowed_body_uses_the_error_envelope() {
        let body = method_not_allowed_body("POST", "/healthz");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        assert_eq!(
            body["error"]["message"],
            "method POST not allowed for /healthz"
        );
    }
}
