//! The two [`Transport`](crate::rest::Transport)s: `reqwest` natively, `worker::Fetch` in the worker.

#[cfg(feature = "reqwest")]
pub use native::ReqwestTransport;
#[cfg(target_arch = "wasm32")]
pub use wasm::{post_with_deadline, FetchTransport, Posted};

#[cfg(feature = "reqwest")]
mod native {
    use crate::rest::{HttpRequest, HttpResponse, Transport, TransportError, FIXED_HEADERS};

    /// `reqwest` transport with a keep-alive connection pool. Clone freely.
    #[derive(Debug, Clone, Default)]
    pub struct ReqwestTransport {
        client: reqwest::Client,
    }

    impl ReqwestTransport {
        /// Wraps a configured `reqwest::Client`.
        pub fn new(client: reqwest::Client) -> Self {
            Self { client }
        }
    }

    impl Transport for ReqwestTransport {
        async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
            let mut rb = self
                .client
                .post(&req.url)
                .timeout(req.timeout)
                .header("authorization", &req.authorization)
                .body(req.body);
            for (k, v) in FIXED_HEADERS {
                rb = rb.header(k, v);
            }
            let map = |e: reqwest::Error| {
                if e.is_timeout() {
                    TransportError::Timeout
                } else {
                    TransportError::Failed(e.to_string())
                }
            };
            let resp = rb.send().await.map_err(map)?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map_err(map)?.to_vec();
            Ok(HttpResponse { status, body })
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::time::Duration;

    use crate::rest::{HttpRequest, HttpResponse, Transport, TransportError, FIXED_HEADERS};
    use futures::future::{select, Either};
    use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

    /// `worker::Fetch` transport; the timeout aborts the subrequest.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FetchTransport;

    impl Transport for FetchTransport {
        async fn post(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
            let mut headers = vec![("authorization", req.authorization.as_str())];
            headers.extend(FIXED_HEADERS);
            let r = post_with_deadline(&req.url, &headers, &req.body, req.timeout).await?;
            Ok(HttpResponse {
                status: r.status,
                body: r.body,
            })
        }
    }

    /// What [`post_with_deadline`] got back.
    #[derive(Debug, Clone)]
    pub struct Posted {
        /// HTTP status.
        pub status: u16,
        /// The `Retry-After` header, if any.
        pub retry_after: Option<String>,
        /// Raw body.
        pub body: Vec<u8>,
    }

    /// `POST`s `body` with `headers` through `worker::Fetch`; past `timeout` the subrequest is
    /// aborted and the answer is [`TransportError::Timeout`]. Every outbound call of the worker
    /// goes through here.
    ///
    /// # Errors
    /// [`TransportError`] when no response arrived in time.
    pub async fn post_with_deadline(
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<Posted, TransportError> {
        let fail = |e: worker::Error| TransportError::Failed(e.to_string());
        let h = Headers::new();
        for (k, v) in headers {
            h.set(k, v).map_err(fail)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(worker::js_sys::Uint8Array::from(body).into()));
        let request = Request::new_with_init(url, &init).map_err(fail)?;
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async {
            let mut resp = Fetch::Request(request).send_with_signal(&signal).await?;
            let status = resp.status_code();
            let retry_after = resp.headers().get("retry-after").ok().flatten();
            let body = resp.bytes().await?;
            Ok::<_, worker::Error>(Posted {
                status,
                retry_after,
                body,
            })
        };
        let timer = Delay::from(timeout);
        futures::pin_mut!(exchange);
        match select(exchange, timer).await {
            Either::Left((res, _)) => res.map_err(fail),
            Either::Right(((), _)) => {
                controller.abort();
                Err(TransportError::Timeout)
            }
        }
    }
}
