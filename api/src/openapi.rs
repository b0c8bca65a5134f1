//! The OpenAPI 3.1 documents of both APIs, generated from the types of this crate.
//!
//! The edge's handlers run in a Cloudflare Worker, not axum, so its operations are declared on
//! the documentation-only functions below. The origin's are declared on its axum handlers
//! (utoipa-axum); this crate gives that document its info and schemas ([`origin_base`]). `openapi/edge.json` and `openapi/origin.json` are these
//! documents, checked in: the golden test in `tests/openapi.rs` fails when they drift
//! (`UPDATE_OPENAPI=1 cargo test -p edgestock-api --test openapi` rewrites them).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{edge, origin, webhooks, ApiError, ErrorBody, ErrorCode, ErrorDetails};

/// The edge API document.
pub fn edge() -> utoipa::openapi::OpenApi {
    EdgeDoc::openapi()
}

/// The origin API document's info, schemas and security schemes; its operations are declared on
/// the origin's axum handlers (utoipa-axum) and merged by `origin::http::openapi()`.
pub fn origin_base() -> utoipa::openapi::OpenApi {
    OriginDoc::openapi()
}

/// The pretty JSON of a document, as checked in (with a trailing newline).
pub fn to_json(doc: &utoipa::openapi::OpenApi) -> String {
    let mut s = doc
        .to_pretty_json()
        .expect("an OpenAPI document serializes");
    s.push('\n');
    s
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        c.add_security_scheme("reservationToken", bearer());
        c.add_security_scheme("originApiKey", bearer());
        c.add_security_scheme("adminApiKey", bearer());
        c.add_security_scheme(
            "edgeSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-edgestock-signature"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "edgestock edge API",
        description = "The public, browser-facing API of the edgestock Cloudflare Worker. Bodies are JSON, snake_case; times are RFC 3339 UTC plus an `*_ms` epoch twin. Every error is `{\"error\": {\"code\", \"message\", ...details}}` with a code from `ErrorCode`, whose HTTP status is fixed; a rejected request changes nothing.",
        license(name = "Apache-2.0")
    ),
    paths(
        edge_paths::health, edge_paths::browser_module, edge_paths::demo_page,
        edge_paths::preflight_stock_one, edge_paths::preflight_stock_many,
        edge_paths::preflight_reservations, edge_paths::preflight_reservation,
        edge_paths::preflight_extend, edge_paths::preflight_confirm, edge_paths::preflight_cancel,
        edge_paths::stock_one, edge_paths::stock_many,
        edge_paths::reserve, edge_paths::get_reservation, edge_paths::release,
        edge_paths::extend, edge_paths::confirm, edge_paths::cancel
    ),
    components(schemas(
        ErrorBody, ApiError, ErrorCode, ErrorDetails, edge::Health, edge::Stock,
        edge::StockStatus, edge::StockList, edge::ReservationItem, edge::ReserveRequest,
        edge::ReservationStatus, edge::Reservation, edge::ReservationView, edge::ExtendRequest,
        edge::Extension, edge::Release, edge::ConfirmRequest, edge::CancelRequest,
        edge::OrderSummary, origin::PlacedOrder, origin::OrderItem, origin::OrderStatus,
        origin::ReservationCancelled
    )),
    modifiers(&Security)
)]
struct EdgeDoc;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "edgestock origin API",
        description = "The backend-facing API of the edgestock origin: orders, the stock ledger, seeding and reconcile. Backend calls carry `Authorization: Bearer <ORIGIN_API_KEY>` or the edge's signature; admin calls `Bearer <ADMIN_API_KEY>`. Errors are `{\"error\": {\"code\", \"message\", ...details}}`; a 503 carries `Retry-After: 1`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(
        ErrorBody, ApiError, ErrorCode, ErrorDetails, origin::Health, origin::Readiness,
        origin::CreateOrder, origin::OrderStatus, origin::OrderItem, origin::Order,
        origin::CancelOrder, origin::PlacedOrder, origin::ReservationCancelled, origin::PutSku,
        origin::RedisApply,
        origin::SkuView, origin::CreateAdjustment, origin::MovementKind, origin::Adjustment,
        origin::SkuDrift, origin::SeedResult, origin::Reconcile, origin::AuditEntry,
        origin::Events, webhooks::WebhookEventType, webhooks::CreateWebhook, webhooks::Webhook,
        webhooks::CreatedWebhook, webhooks::Webhooks, webhooks::WebhookReplay,
        webhooks::WebhookAttempt, webhooks::WebhookAttempts, webhooks::WebhookMessage,
        webhooks::WebhookData
    )),
    modifiers(&Security)
)]
struct OriginDoc;

/// Documentation-only declarations of the edge's operations.
#[allow(dead_code)]
mod edge_paths {
    use crate::{edge, origin, ErrorBody};

    /// Liveness.
    #[utoipa::path(get, path = "/healthz", tag = "ops",
        responses((status = 200, description = "Alive", body = edge::Health)))]
    fn health() {}

    /// The dependency-free browser module.
    #[utoipa::path(get, path = "/edgestock.js", tag = "web",
        responses((status = 200, description = "ES module", content_type = "text/javascript")))]
    fn browser_module() {}

    /// The demo product page.
    #[utoipa::path(get, path = "/demo.html", tag = "web",
        responses((status = 200, description = "HTML page", content_type = "text/html")))]
    fn demo_page() {}

    /// One SKU's badge, edge-cached for `STOCK_CACHE_SECONDS` with an `ETag`.
    #[utoipa::path(get, path = "/v1/stock/{sku}", tag = "stock",
        params(("sku" = String, Path, description = "`^[A-Za-z0-9._:-]{1,64}$`"),
               ("If-None-Match" = Option<String>, Header, description = "An earlier `ETag`")),
        responses(
            (status = 200, description = "The badge", body = edge::Stock, headers(("ETag" = String, description = "Strong validator of the body"), ("Cache-Control" = String, description = "`public, max-age=STOCK_CACHE_SECONDS`, or `no-store`"), ("X-Edgestock-Cache" = String, description = "`hit` when served from the edge cache, else `miss`"))),
            (status = 304, description = "Unchanged since the given `ETag`", headers(("ETag" = String, description = "Strong validator of the body"), ("Cache-Control" = String, description = "`public, max-age=STOCK_CACHE_SECONDS`, or `no-store`"), ("X-Edgestock-Cache" = String, description = "`hit` when served from the edge cache, else `miss`"))),
            (status = 404, description = "`unknown_sku`", body = ErrorBody),
            (status = 422, description = "`invalid_sku`", body = ErrorBody),
            (status = 503, description = "`redis_unavailable`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait")))))]
    fn stock_one() {}

    /// Up to 100 badges in one Redis call.
    #[utoipa::path(get, path = "/v1/stock", tag = "stock",
        params(("sku" = Vec<String>, Query, description = "Repeated, 1 to 100")),
        responses(
            (status = 200, description = "One badge per SKU, in order", body = edge::StockList, headers(("ETag" = String, description = "Strong validator of the body"), ("Cache-Control" = String, description = "`public, max-age=STOCK_CACHE_SECONDS`, or `no-store`"), ("X-Edgestock-Cache" = String, description = "`hit` when served from the edge cache, else `miss`"))),
            (status = 304, description = "Unchanged since the given `ETag`", headers(("ETag" = String, description = "Strong validator of the body"), ("Cache-Control" = String, description = "`public, max-age=STOCK_CACHE_SECONDS`, or `no-store`"), ("X-Edgestock-Cache" = String, description = "`hit` when served from the edge cache, else `miss`"))),
            (status = 400, description = "`bad_request`", body = ErrorBody),
            (status = 422, description = "`invalid_sku`, `too_many_skus`, `duplicate_sku`", body = ErrorBody),
            (status = 503, description = "`redis_unavailable`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait")))))]
    fn stock_many() {}

    /// Hold every item or none, in one Redis round trip.
    #[utoipa::path(post, path = "/v1/reservations", tag = "reservations",
        params(("Idempotency-Key" = Option<String>, Header, description = "22-64 base64url characters; a retry with the same key and body replays the answer"),
               ("Cache-Control" = Option<String>, Header, description = "`no-cache` on a retry whose answer was lost: skips the edge's sold-out memory so a hold is replayed"),
               ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")),
        request_body = edge::ReserveRequest,
        responses(
            (status = 201, description = "Held", body = edge::Reservation,
                headers(("Location" = String, description = "The reservation's URL"))),
            (status = 200, description = "Replay of the same key and body", body = edge::Reservation,
                headers(("Location" = String, description = "The reservation's URL"),
                        ("Idempotency-Replayed" = String, description = "`true`"))),
            (status = 400, description = "`malformed_json`", body = ErrorBody),
            (status = 401, description = "`invalid_customer_token`, `customer_required` (with `sku`)", body = ErrorBody),
            (status = 404, description = "`unknown_sku`", body = ErrorBody),
            (status = 409, description = "`insufficient_stock` (with `sku`, `available`)", body = ErrorBody,
                headers(("X-Edgestock-Cache" = String, description = "`hit` when the edge answered from memory (a SKU seen sold out), `miss` when Redis did"))),
            (status = 413, description = "`body_too_large`", body = ErrorBody),
            (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
            (status = 422, description = "`invalid_request`, `invalid_quantity`, `invalid_sku`, `duplicate_sku`, `too_many_items`, `invalid_ttl`, `idempotency_key_reused`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait"),
                ("X-Edgestock-Cache" = String, description = "`hit` when the edge answered from memory (the subject's window has not ended), `miss` when Redis did"))),
            (status = 503, description = "`redis_unavailable`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait")))))]
    fn reserve() {}

    /// A reservation's status, items and expiry.
    #[utoipa::path(get, path = "/v1/reservations/{id}", tag = "reservations",
        params(("id" = String, Path), ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")), security(("reservationToken" = [])),
        responses(
            (status = 200, description = "The reservation", body = edge::ReservationView),
            (status = 401, description = "`missing_token`, `token_expired`, `invalid_customer_token`", body = ErrorBody),
            (status = 403, description = "`invalid_token`, `customer_mismatch`", body = ErrorBody),
            (status = 404, description = "`reservation_not_found`", body = ErrorBody)))]
    fn get_reservation() {}

    /// Give the units back; idempotent.
    #[utoipa::path(delete, path = "/v1/reservations/{id}", tag = "reservations",
        params(("id" = String, Path), ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")), security(("reservationToken" = [])),
        responses(
            (status = 200, description = "Released (or already ended)", body = edge::Release),
            (status = 401, description = "`missing_token`, `token_expired`, `invalid_customer_token`", body = ErrorBody),
            (status = 403, description = "`invalid_token`, `customer_mismatch`", body = ErrorBody),
            (status = 404, description = "`reservation_not_found`", body = ErrorBody),
            (status = 409, description = "`reservation_committed`, `reservation_confirming`", body = ErrorBody)))]
    fn release() {}

    /// Push the expiry out, capped at creation + `MAX_HOLD_SECONDS`.
    #[utoipa::path(post, path = "/v1/reservations/{id}/extend", tag = "reservations",
        params(("id" = String, Path), ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")), security(("reservationToken" = [])),
        request_body = edge::ExtendRequest,
        responses(
            (status = 200, description = "Extended", body = edge::Extension),
            (status = 400, description = "`malformed_json`", body = ErrorBody),
            (status = 401, description = "`missing_token`, `token_expired`, `invalid_customer_token`", body = ErrorBody),
            (status = 403, description = "`invalid_token`, `customer_mismatch`", body = ErrorBody),
            (status = 413, description = "`body_too_large`", body = ErrorBody),
            (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
            (status = 404, description = "`reservation_not_found`", body = ErrorBody),
            (status = 409, description = "`hold_limit_reached`, `reservation_expired`, `reservation_not_held`", body = ErrorBody),
            (status = 422, description = "`invalid_request`", body = ErrorBody)))]
    fn extend() {}

    /// Places the order: forwarded, signed, to the origin's `POST /v1/reservations/{id}/place`;
    /// its answer passes through. The body is `{}` (or empty): nothing the browser says about
    /// payment or customer is accepted. Placing again answers the same order and deadline.
    #[utoipa::path(post, path = "/v1/reservations/{id}/confirm", tag = "reservations",
        params(("id" = String, Path), ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")),
        security(("reservationToken" = [])),
        request_body = edge::ConfirmRequest,
        responses(
            (status = 201, description = "Order placed: `PENDING_PAYMENT` until `payment_deadline`", body = origin::PlacedOrder),
            (status = 200, description = "The order placed before (in its current status)", body = origin::PlacedOrder),
            (status = 400, description = "`malformed_json`", body = ErrorBody),
            (status = 401, description = "`missing_token`, `token_expired`, `invalid_customer_token`", body = ErrorBody),
            (status = 403, description = "`invalid_token`, `customer_mismatch`", body = ErrorBody),
            (status = 404, description = "`reservation_not_found`", body = ErrorBody),
            (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
            (status = 409, description = "`reservation_expired`, `reservation_committed`", body = ErrorBody),
            (status = 422, description = "`invalid_request` (any field in the body)", body = ErrorBody),
            (status = 502, description = "`origin_error`", body = ErrorBody),
            (status = 503, description = "`origin_unavailable`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait")))))]
    fn confirm() {}

    /// Releases a `held` reservation: forwarded, signed, to the origin's
    /// `POST /v1/reservations/{id}/release`. A placed or confirmed order is the merchant's.
    #[utoipa::path(post, path = "/v1/reservations/{id}/cancel", tag = "reservations",
        params(("id" = String, Path), ("X-Customer-Token" = Option<String>, Header, description = "A storefront-issued customer JWT (optional); see docs/api.md#customers")), security(("reservationToken" = [])),
        request_body = edge::CancelRequest,
        responses(
            (status = 200, description = "Released (or already over)", body = origin::ReservationCancelled),
            (status = 400, description = "`malformed_json`", body = ErrorBody),
            (status = 401, description = "`missing_token`, `token_expired`, `invalid_customer_token`", body = ErrorBody),
            (status = 403, description = "`invalid_token`, `customer_mismatch`", body = ErrorBody),
            (status = 404, description = "`reservation_not_found`", body = ErrorBody),
            (status = 409, description = "`order_placed`, `order_confirmed`", body = ErrorBody),
            (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
            (status = 422, description = "`invalid_request`", body = ErrorBody),
            (status = 502, description = "`origin_error`", body = ErrorBody),
            (status = 503, description = "`origin_unavailable`", body = ErrorBody, headers(("Retry-After" = String, description = "Seconds to wait")))))]
    fn cancel() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/stock/{sku}", tag = "cors",
        params(("sku" = String, Path)),
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_stock_one() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/stock", tag = "cors",
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_stock_many() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/reservations", tag = "cors",
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_reservations() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/reservations/{id}", tag = "cors",
        params(("id" = String, Path)),
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_reservation() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/reservations/{id}/extend", tag = "cors",
        params(("id" = String, Path)),
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_extend() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/reservations/{id}/confirm", tag = "cors",
        params(("id" = String, Path)),
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_confirm() {}

    /// CORS preflight, for `ALLOWED_ORIGINS` only.
    #[utoipa::path(options, path = "/v1/reservations/{id}/cancel", tag = "cors",
        params(("id" = String, Path)),
        responses(
            (status = 204, description = "Allowed (or no `Origin`: just `Allow`)",
                headers(("Allow" = String, description = "The methods of the path"))),
            (status = 403, description = "`cors_origin_denied`", body = ErrorBody)))]
    fn preflight_cancel() {}
}
