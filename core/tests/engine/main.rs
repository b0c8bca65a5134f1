//! Every Lua script against a real Redis, through the REST gateway with our typed client: the
//! behaviour of each script, a property test against an in-memory model checking the invariants of docs/design.md
//! invariants after every step, contention, and expiry with no sweeper.
//!
//! With `EDGESTOCK_TEST_CLUSTER=redis+cluster://…` (what `scripts/lib.sh start_cluster` prints)
//! the whole suite runs against that Redis Cluster instead, where Redis refuses any script that
//! reaches beyond one slot. `shards` starts its own cluster either way.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use edgestock_core::domain::{Location, ReservationStatus, Sku};
use edgestock_core::keys::{Keys, ShardId};
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

/// The cluster the suite runs on, if any (`EDGESTOCK_TEST_CLUSTER`).
fn cluster_url() -> Option<String> {
    std::env::var("EDGESTOCK_TEST_CLUSTER")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Where the tests read and write raw keys: the local Redis, or the cluster primary serving
/// shard 0 (every key of a one-shard engine is in its slot).
fn raw_url() -> String {
    match cluster_url() {
        Some(c) => testkit::cluster::primary_url(&c, "{s0}"),
        None => redis_url(),
    }
}

fn gateway_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        runtime().block_on(async {
            let gw = testkit::gateway(&cluster_url().unwrap_or_else(redis_url), |_| {}).await;
            let url = gw.url();
            std::mem::forget(gw); // lives as long as the test binary
            url
        })
    })
}

/// An engine under a fresh prefix whose location settings have only `default` (what the
/// origin writes for an install that never added a location).
fn engine() -> Engine<ReqwestTransport> {
    let e = bare_engine();
    default_locations(&e);
    e
}

/// An engine under a fresh prefix with no location settings at all.
fn bare_engine() -> Engine<ReqwestTransport> {
    let client = Client::new(ReqwestTransport::default(), gateway_url(), TOKEN)
        .with_timeout(Duration::from_secs(5));
    Engine::new(
        client,
        Keys::new(format!("et:{:x}:", rand::random::<u64>())),
    )
}

/// Writes settings with `default` alone (synchronously: callers may be inside the runtime).
fn default_locations(e: &Engine<ReqwestTransport>) {
    let mut c = redis::Client::open(raw_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(e.keys().locations(ShardId(0)))
        .arg("~seeded")
        .arg("0/1/test")
        .arg("default")
        .arg("0;1;1;0;Default")
        .arg("~ship")
        .arg("default")
        .arg("~pickup")
        .arg("")
        .query(&mut c)
        .unwrap();
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(raw_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn item(s: &str, qty: u32) -> Line {
    Line { sku: sku(s), qty }
}

/// A part held at `default`.
fn part(s: &str, qty: u32) -> Item {
    Item::at_default(sku(s), qty)
}

fn loc(code: &str) -> Location {
    Location::parse(code).unwrap()
}

fn request(id: &str, items: Vec<Line>, ttl_ms: u64) -> ReserveRequest {
    ReserveRequest {
        id: id.to_owned(),
        fingerprint: format!("fp-{id}"),
        items,
        pickup: None,
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

mod limits;
mod locations;
mod model;
mod reservations;
mod scripts;
mod shards;
mod stock;
