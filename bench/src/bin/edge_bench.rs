//! Edge benchmark: through Miniflare at N connections, reserve / reserve refused at the edge /
//! uncached read / cached read, each next to the no-I/O `/healthz` rate; in the same run the same scripts gateway-direct (our typed client over HTTP) and
//! Redis-direct (`redis-benchmark`), and the Redis commands each edge request costs.
//!
//! ```text
//! (cd edge && worker-build --profile wasm-release)   # or scripts/test.sh, which builds it
//! cargo run --release -p edgestock-bench --bin edge-bench
//! EDGE_BENCH_SECONDS=5 EDGE_BENCH_CONNECTIONS=50 cargo run --release -p edgestock-bench --bin edge-bench
//! ```
//!
//! Everything runs on this machine (load generator, workerd, gateway and a private redis-server
//! share the cores), so the figures compare paths, not hardware.

#[allow(dead_code, unreachable_pub)]
use testkit_stack as support;

use std::process::Command;
use std::sync::Arc;

use edgestock_bench::{env_num, redis_benchmark, run, Load};
use edgestock_core::domain::Sku;
use edgestock_core::scripts::{Line, ReserveRequest};
use serde_json::json;
use support::stack::{PrivateRedis, Stack};

const HOT: &str = "BENCH-HOT";
const BIG: &str = "BENCH-BIG";
const SOLD: &str = "BENCH-SOLD";
const FINGERPRINT: &str = "bench";

fn reserve_request(id: String) -> ReserveRequest {
    ReserveRequest {
        id,
        fingerprint: FINGERPRINT.into(),
        items: vec![Line {
            sku: Sku::parse(BIG).expect("sku"),
            qty: 1,
        }],
        pickup: None,
        ttl_ms: 600_000,
        max_hold_ms: 900_000,
        rate_limit: None,
        customer: None,
        cap: None,
        owner: String::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs = env_num("EDGE_BENCH_SECONDS", 5);
    let conns = env_num("EDGE_BENCH_CONNECTIONS", 50);
    let redis = PrivateRedis::start();
    let common =
        json!({"RATE_LIMIT_PER_MINUTE": "0", "REDIS_TIMEOUT_MS": "5000", "REQUEST_LOG": "false"});
    let mut cached_cfg = common.clone();
    cached_cfg["STOCK_CACHE_SECONDS"] = json!("3600");
    cached_cfg["SOLD_OUT_CACHE_SECONDS"] = json!("300");
    let cached = Stack::start_on(&redis.url(), cached_cfg).await;
    let mut signals_cfg = common.clone();
    signals_cfg["REQUEST_LOG"] = json!("true");
    // The same worker writing its JSON log line and an Analytics Engine data point per request.
    let signals = Stack::start_with(&redis.url(), signals_cfg, Some("discard")).await;
    let edge = Stack::start_on(&redis.url(), common).await;
    for s in [&cached, &edge, &signals] {
        s.seed(HOT, 1_000_000, 10).await;
        s.seed(BIG, 1_000_000_000, 10).await;
        s.seed(SOLD, 0, 10).await;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conns as usize)
        .build()
        .expect("client");
    // Warm every path once (script cache, connections, edge cache).
    let _ = http
        .get(cached.url(&format!("/v1/stock/{HOT}")))
        .send()
        .await;
    let _ = http.get(edge.url(&format!("/v1/stock/{HOT}"))).send().await;
    let _ = http
        .post(edge.url("/v1/reservations"))
        .json(&json!({"items": [{"sku": BIG, "qty": 1}]}))
        .send()
        .await;
    let _ = http
        .post(signals.url("/v1/reservations"))
        .json(&json!({"items": [{"sku": BIG, "qty": 1}]}))
        .send()
        .await;
    // The first loser learns that SOLD has nothing left; the next ones are answered at the edge.
    let _ = http
        .post(cached.url("/v1/reservations"))
        .json(&json!({"items": [{"sku": SOLD, "qty": 1}]}))
        .send()
        .await;

    let mut rows = Vec::new();

    let load = Load {
        conns,
        secs,
        redis: Some(&redis),
    };
    let reserve_of = |sku: &str| Some(json!({"items": [{"sku": sku, "qty": 1}]}).to_string());
    let hot = format!("/v1/stock/{HOT}");
    let scenarios = [
        (
            "edge baseline (GET /healthz, no I/O)",
            edge.url("/healthz"),
            None,
            200,
        ),
        (
            "edge cached read (GET /v1/stock/{sku})",
            cached.url(&hot),
            None,
            200,
        ),
        ("edge uncached read", edge.url(&hot), None, 200),
        (
            "edge reserve (POST /v1/reservations)",
            edge.url("/v1/reservations"),
            reserve_of(BIG),
            201,
        ),
        // The same worker writing its JSON log line and an Analytics Engine data point.
        (
            "edge reserve, log line + data point",
            signals.url("/v1/reservations"),
            reserve_of(BIG),
            201,
        ),
        // The same winning reserve where the loser memory is on: what its lookup costs a winner.
        (
            "edge reserve, loser memory on",
            cached.url("/v1/reservations"),
            reserve_of(BIG),
            201,
        ),
        (
            "edge reserve refused at the edge (sold out)",
            cached.url("/v1/reservations"),
            reserve_of(SOLD),
            409,
        ),
    ];
    for (name, url, body, status) in scenarios {
        rows.push(load.http(name, &http, url, body, status).await);
    }

    let engine = Arc::new(edge.engine);
    let sku = vec![Sku::parse(HOT).expect("sku")];
    let e = engine.clone();
    rows.push(
        run(
            "gateway-direct stock read (same script)",
            conns,
            secs,
            Some(&redis),
            move |_| {
                let (e, sku) = (e.clone(), sku.clone());
                async move { e.stock(&sku).await.is_ok() }
            },
        )
        .await,
    );
    let e = engine.clone();
    let run_id = rand::random::<u32>();
    rows.push(
        run(
            "gateway-direct reserve (same script)",
            conns,
            secs,
            Some(&redis),
            move |i| {
                let e = e.clone();
                async move {
                    e.reserve(&reserve_request(format!("gw{run_id:x}-{i}")))
                        .await
                        .is_ok()
                }
            },
        )
        .await,
    );

    // Redis-direct: the same scripts with the same KEYS/ARGV layout as Engine::stock / reserve.
    let keys = engine.keys();
    let n = (conns * 2000).max(20_000);
    // Vanilla Redis refuses Upstash's `allow-key-locking` flag: load the source the gateway
    // forwards and use the SHA1 Redis computes for it.
    let load = |script: &edgestock_lua::Script| -> String {
        let source = script
            .source
            .replacen(",allow-key-locking", "", 1)
            .replacen("allow-key-locking", "", 1);
        let out = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "SCRIPT", "LOAD", &source])
            .output()
            .expect("redis-cli SCRIPT LOAD");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (read_sha, reserve_sha) = (
        load(&edgestock_lua::STOCK_READ),
        load(&edgestock_lua::RESERVE),
    );
    let read_args: Vec<String> = vec![
        "EVALSHA_RO".into(),
        read_sha,
        "3".into(),
        keys.locations(keys.shard_of(HOT)),
        keys.stock(HOT),
        keys.holds(HOT),
        "0".into(),
        "0".into(),
        keys.shard_marker(keys.shard_of(HOT)),
    ];
    let read_rps = redis_benchmark(redis.port, conns, n, &read_args);
    let id = "rd-__rand_int__";
    let reserve_args: Vec<String> = [
        "EVALSHA",
        &reserve_sha,
        "6",
        &keys.reservation(keys.shard_of(BIG), id),
        &keys.events(keys.shard_of(BIG)),
        &keys.sweep_index(keys.shard_of(BIG)),
        &keys.locations(keys.shard_of(BIG)),
        &keys.stock(BIG),
        &keys.holds(BIG),
        id,
        FINGERPRINT,
        "600000",
        "900000",
        "0",
        "0",
        "0",
        "",
        "0",
        "1",
        BIG,
        "1",
        "0",
        "0",
        "",
        &keys.shard_marker(keys.shard_of(BIG)),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // The direct calls must really read and hold (a refused call is cheap and would flatter the
    // baseline): each is made once first and its answer checked.
    let once = |args: &[String]| {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("__rand_int__", "check"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(&args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let read_once = once(&read_args);
    assert!(
        read_once.lines().next() == Some("ok") && read_once.lines().count() == 6,
        "the direct stock read failed: {read_once}"
    );
    let reserve_once = once(&reserve_args);
    assert_eq!(
        reserve_once.lines().next(),
        Some("ok"),
        "the direct reserve was refused: {reserve_once}"
    );
    let reserve_rps = redis_benchmark(redis.port, conns, n, &reserve_args);

    println!();
    println!(
        "edge-bench: {conns} connections, {secs} s per scenario, private redis-server on :{} \
         (all on this machine)",
        redis.port
    );
    println!(
        "{:<44} {:>10} {:>10} {:>9} {:>9} {:>8} {:>13}",
        "scenario", "req/s", "x healthz", "p50 ms", "p99 ms", "errors", "redis cmd/req"
    );
    let healthz = rows.first().map_or(1.0, |r| r.rps.max(1.0));
    for r in &rows {
        println!(
            "{:<44} {:>10.0} {:>10.2} {:>9.2} {:>9.2} {:>8} {:>13}",
            r.name,
            r.rps,
            r.rps / healthz,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.redis_calls_per_req
                .map_or("-".into(), |c| format!("{c:.3}"))
        );
    }
    for (name, rps) in [
        ("redis-direct stock read (redis-benchmark)", read_rps),
        ("redis-direct reserve (redis-benchmark)", reserve_rps),
    ] {
        println!(
            "{:<44} {:>10.0} {:>10} {:>9} {:>9} {:>8} {:>13}",
            name, rps, "-", "-", "-", "-", "1"
        );
    }
}
