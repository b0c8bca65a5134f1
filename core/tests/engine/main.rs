//! Every Lua script against a real Redis, through the REST gateway with our typed client: the
//! behaviour of each script, a property test against an in-memory model checking the invariants of docs/design.md
//! invariants after every step, contention, and expiry with no sweeper.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use edgestock_core::domain::{ReservationStatus, Sku};
use edgestock_core::keys::Keys;
use edgestock_core::scripts::*;
use proptest::prelude::*;
use redis::AsyncCommands as _;
use upstash_rest::Client;
use upstash_rest::ReqwestTransport;

use testkit::{redis_url, GATEWAY_TOKEN as TOKEN};

/// One runtime and one gateway for the whole test binary (proptest cases are synchronous).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn gateway_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        runtime().block_on(async {
            let gw = testkit::gateway(&redis_url(), |_| {}).await;
            let url = gw.url();
            std::mem::forget(gw); // lives as long as the test binary
            url
        })
    })
}

fn engine() -> Engine<ReqwestTransport> {
    let client = Client::new(ReqwestTransport::default(), gateway_url(), TOKEN)
        .with_timeout(Duration::from_secs(5));
    Engine::new(
        client,
        Keys::new(format!("et:{:x}:", rand::random::<u64>())),
    )
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn item(s: &str, qty: u32) -> Item {
    Item { sku: sku(s), qty }
}

fn request(id: &str, items: Vec<Item>, ttl_ms: u64) -> ReserveRequest {
    ReserveRequest {
        id: id.to_owned(),
        fingerprint: format!("fp-{id}"),
        items,
        ttl_ms,
        max_hold_ms: 60_000,
        rate_limit: None,
        customer: None,
        cap: None,
        owner: "test".into(),
    }
}

async fn available(e: &Engine<ReqwestTransport>, s: &str) -> i64 {
    e.stock(&[sku(s)]).await.unwrap()[0].available()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    gateway_url(); // started outside the future: it blocks on the runtime itself
    runtime().block_on(f)
}

mod model;
mod reservations;
mod stock;
