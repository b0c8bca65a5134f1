//! Redis CPU per script call (`INFO commandstats` usec_per_call) for reserve (one location, and a
//! 3-unit line split over three locations), stock_read and commit, with 10k and with 1M live holds spread over 10k SKUs, and reserve throughput at 50
//! connections straight to Redis. Runs against a private `redis-server` it starts on a free
//! loopback port (no persistence) and stops at the end, so it never touches other data.
//!
//! ```text
//! cargo run --release -p edgestock-bench --bin engine-bench            # 10k and 1M holds
//! cargo run --release -p edgestock-bench --bin engine-bench -- --quick # 10k only
//! ```
//! Bounded: a fixed number of calls per phase, and every phase has a deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgestock_core::keys::Keys;
use redis::aio::MultiplexedConnection;
use testkit_stack::stack::PrivateRedis;

mod calls;
use calls::{
    commit_cmd, one_location_cmd, reserve_cmd, reserve_qty_cmd, sku, split_keys, split_sku,
    stock_read_cmd, three_locations_cmd,
};

const SKUS: usize = 10_000;
const CALLS: usize = 20_000;
const CONNECTIONS: usize = 50;
const PHASE_DEADLINE: Duration = Duration::from_secs(120);

/// The script as vanilla Redis accepts it (Upstash's flag stripped, as the gateway does).
fn stripped(src: &str) -> String {
    src.replacen(",allow-key-locking", "", 1)
        .replacen("flags=allow-key-locking", "flags=", 1)
}

struct Shas {
    reserve: String,
    stock_read: String,
    commit: String,
    floor: String,
}

/// The floor a reserve cannot go below: the Redis work of a hold without any logic (the clock,
/// the counters read, one counter written, one hold member added). Its cost next to the reserve
/// script's shows what the script's own bookkeeping costs.
const FLOOR: &str = "local t = redis.call('TIME')
redis.call('HMGET', KEYS[1], 'on_hand', 'reserved', 'sold', 'low')
redis.call('HINCRBY', KEYS[1], 'reserved', 1)
redis.call('ZADD', KEYS[2], t[1], ARGV[1])
return 1";

/// One `field:value` of `INFO section`.
async fn info_field(conn: &mut MultiplexedConnection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or("?")
        .to_owned()
}

async fn stat_usec(conn: &mut MultiplexedConnection, cmd: &str) -> (u64, f64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    for line in info.lines() {
        if let Some(rest) = line.strip_prefix(&format!("cmdstat_{cmd}:")) {
            let field = |name: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            return (field("calls") as u64, field("usec_per_call"));
        }
    }
    (0, 0.0)
}

/// Runs `CALLS` commands built by `make(i)` over `CONNECTIONS` connections; returns calls/s.
async fn drive(
    conns: &[MultiplexedConnection],
    make: Arc<dyn Fn(usize) -> redis::Cmd + Send + Sync>,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + PHASE_DEADLINE;
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .iter()
        .cloned()
        .map(|mut conn| {
            let next = next.clone();
            let make = make.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= CALLS || Instant::now() > deadline {
                        break;
                    }
                    let _: redis::Value =
                        make(i).query_async(&mut conn).await.expect("script call");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    CALLS as f64 / start.elapsed().as_secs_f64()
}

/// Resets the command statistics, runs `make` as [`drive`] does, and answers the calls per
/// second and Redis's CPU per call of `command` (`evalsha`, `evalsha_ro`).
async fn measure(
    conn: &mut MultiplexedConnection,
    conns: &[MultiplexedConnection],
    command: &str,
    make: impl Fn(usize) -> redis::Cmd + Send + Sync + 'static,
) -> (f64, f64) {
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .unwrap();
    let rate = drive(conns, Arc::new(make)).await;
    let (_, usec) = stat_usec(conn, command).await;
    (rate, usec)
}

async fn preload(conn: &mut MultiplexedConnection, k: &Keys, shas: &Shas, holds: usize) {
    let () = one_location_cmd(k).query_async(conn).await.unwrap();
    let sk = split_keys();
    let () = three_locations_cmd(&sk).query_async(conn).await.unwrap();
    // SKUs a 3-unit reserve must split over all three locations: one unit at each of the first
    // two, plenty at the third; one fresh SKU per call.
    let mut pipe = redis::pipe();
    for i in 0..CALLS {
        pipe.cmd("HSET")
            .arg(sk.stock(&split_sku(i)))
            .arg("on_hand")
            .arg(1)
            .arg("on_hand@wh-2")
            .arg(1)
            .arg("on_hand@wh-3")
            .arg(1_000_000)
            .arg("low")
            .arg(0)
            .ignore();
    }
    let () = pipe.query_async(conn).await.unwrap();
    let mut pipe = redis::pipe();
    for i in 0..SKUS {
        pipe.cmd("HSET")
            .arg(k.stock(&sku(i)))
            .arg("on_hand")
            .arg(1_000_000_000)
            .arg("reserved")
            .arg(0)
            .arg("low")
            .arg(0)
            .ignore();
    }
    let () = pipe.query_async(conn).await.unwrap();
    let split: Vec<redis::Value> = reserve_qty_cmd(
        &sk,
        &shas.reserve,
        "check-split",
        &split_sku(CALLS - 1),
        3,
        1,
    )
    .query_async(conn)
    .await
    .unwrap();
    assert_eq!(
        split.get(7),
        Some(&redis::Value::BulkString(
            format!("{s}|1,{s}|1|wh-2,{s}|1|wh-3", s = split_sku(CALLS - 1)).into_bytes()
        )),
        "the split reserve did not split over three locations: {split:?}"
    );
    // The script must really hold (a malformed call is refused cheaply and would flatter the
    // figures): one reserve checked before the preload.
    let reply: Vec<redis::Value> = reserve_cmd(k, &shas.reserve, "check", &sku(0), 1)
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(
        reply.first(),
        Some(&redis::Value::BulkString(b"ok".to_vec())),
        "the reserve script refused the bench's call: {reply:?}"
    );
    let started = Instant::now();
    for chunk in (0..holds).collect::<Vec<_>>().chunks(2_000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.add_command(reserve_cmd(
                k,
                &shas.reserve,
                &format!("pre{i}"),
                &sku(i % SKUS),
                3_600_000,
            ))
            .ignore();
        }
        let () = pipe.query_async(conn).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "preload took too long"
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let redis_server = PrivateRedis::start();
    let url = redis_server.url();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = loop {
        match client.get_multiplexed_async_connection().await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let version = info_field(&mut conn, "server", "redis_version").await;
    let load = |src: &str| {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(stripped(src))
            .to_owned()
    };
    let shas = Shas {
        reserve: load(edgestock_lua::RESERVE.source)
            .query_async(&mut conn)
            .await
            .unwrap(),
        stock_read: load(edgestock_lua::STOCK_READ.source)
            .query_async(&mut conn)
            .await
            .unwrap(),
        commit: load(edgestock_lua::COMMIT.source)
            .query_async(&mut conn)
            .await
            .unwrap(),
        floor: load(FLOOR).query_async(&mut conn).await.unwrap(),
    };
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        conns.push(client.get_multiplexed_async_connection().await.unwrap());
    }
    let shas = Arc::new(shas);
    let sizes: &[usize] = if quick {
        &[10_000]
    } else {
        &[10_000, 1_000_000]
    };
    println!("Redis {version}, private instance at {url}; {SKUS} SKUs; {CALLS} calls per phase at {CONNECTIONS} connections");
    println!("| live holds | counters-only floor µs/call | reserve µs/call | reserve / floor | reserve split over 3 locations µs/call | stock_read µs/call | commit µs/call | reserve calls/s (50 conns) | used memory |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &holds in sizes {
        let () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
        let k = Keys::new("");
        preload(&mut conn, &k, &shas, holds).await;

        let (s, kk) = (shas.clone(), k.clone());
        let (reserve_rate, reserve_us) = measure(&mut conn, &conns, "evalsha", move |i| {
            reserve_cmd(
                &kk,
                &s.reserve,
                &format!("m{i}"),
                &sku((i * 7919) % SKUS),
                3_600_000,
            )
        })
        .await;
        if std::env::var_os("BENCH_BREAKDOWN").is_some() {
            let info: String = redis::cmd("INFO")
                .arg("commandstats")
                .query_async(&mut conn)
                .await
                .unwrap();
            eprintln!("{info}");
        }
        let (s, kk) = (shas.clone(), k.clone());
        let (_, read_us) = measure(&mut conn, &conns, "evalsha_ro", move |i| {
            stock_read_cmd(&kk, &s.stock_read, &sku((i * 31) % SKUS))
        })
        .await;
        let (s, kk) = (shas.clone(), k.clone());
        let (_, commit_us) = measure(&mut conn, &conns, "evalsha", move |i| {
            commit_cmd(&kk, &s.commit, &format!("m{i}"), &sku((i * 7919) % SKUS))
        })
        .await;
        let (s, kk) = (shas.clone(), split_keys());
        let (_, split_us) = measure(&mut conn, &conns, "evalsha", move |i| {
            reserve_qty_cmd(
                &kk,
                &s.reserve,
                &format!("s{i}"),
                &split_sku(i),
                3,
                3_600_000,
            )
        })
        .await;
        let mem = info_field(&mut conn, "memory", "used_memory_human").await;
        let (s, kk) = (shas.clone(), k.clone());
        let (_, floor_us) = measure(&mut conn, &conns, "evalsha", move |i| {
            let sk = sku((i * 7919) % SKUS);
            let mut c = redis::cmd("EVALSHA");
            c.arg(&s.floor)
                .arg(2)
                .arg(kk.stock(&sk))
                .arg(kk.holds(&sk))
                .arg(format!("f{i}|1"));
            c
        })
        .await;
        let ratio = reserve_us / floor_us.max(0.001);
        println!("| {holds} | {floor_us:.2} | {reserve_us:.2} | {ratio:.2}× | {split_us:.2} | {read_us:.2} | {commit_us:.2} | {reserve_rate:.0} | {mem} |");
    }
}
