//! What sharding costs and gains, each figure next to its baseline in the same run, on a private
//! three-primary Redis Cluster (loopback ports, no persistence, stopped at the end) behind a
//! private gateway, through the engine (the edge's own code path, natively):
//!
//! 1. a reservation of two SKUs on **one shard** next to the same kind of reservation on **two
//!    shards** (two parts placed in parallel): Redis CPU per reservation (every primary's
//!    `EVALSHA` time, summed) and latency p50 / p99;
//! 2. reserve throughput with every SKU on **one primary** next to SKUs spread over **three**, at
//!    32 concurrent callers: reservations/s, and each primary's Redis CPU per reserve (flat per
//!    shard: the work of a reserve does not grow with the number of shards).
//!
//! ```text
//! cargo run --release -p edgestock-bench --bin shard-bench            # 2,000 / 20,000 calls
//! cargo run --release -p edgestock-bench --bin shard-bench -- --quick # 500 / 5,000
//! ```
//! Bounded: a fixed number of calls per phase, and every phase has a deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgestock_core::domain::{Location, Sku};
use edgestock_core::keys::Keys;
use edgestock_core::scripts::{Engine, Line, LocationSettings, ReserveOutcome, ReserveRequest};
use testkit::cluster::PrivateCluster;
use upstash_rest::{Client, ReqwestTransport};

const SHARDS: u32 = 16;
const CALLERS: usize = 32;
const PHASE_DEADLINE: Duration = Duration::from_secs(120);

type Eng = Engine<ReqwestTransport>;

fn request(id: String, skus: &[&str]) -> ReserveRequest {
    ReserveRequest {
        id,
        fingerprint: "bench".into(),
        items: skus
            .iter()
            .map(|s| Line {
                sku: Sku::parse(s).unwrap(),
                qty: 1,
            })
            .collect(),
        pickup: None,
        ttl_ms: 3_600_000,
        max_hold_ms: 3_600_000,
        rate_limit: None,
        owner: "bench".into(),
        customer: None,
        cap: None,
    }
}

/// Every primary's total `EVALSHA` time (µs) and calls since the last reset, by port.
fn evalsha_usec(cluster: &PrivateCluster) -> Vec<(u16, f64, f64)> {
    cluster
        .ports
        .iter()
        .map(|&p| {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &p.to_string(), "INFO", "commandstats"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
                .unwrap_or("")
                .to_owned();
            let field = |name: &str| {
                line.split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (p, field("usec"), field("calls"))
        })
        .collect()
}

fn reset(cluster: &PrivateCluster) {
    for p in &cluster.ports {
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &p.to_string(), "CONFIG", "RESETSTAT"])
            .output();
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `n` reservations of `pair`, one after the other: (CPU µs per reservation, p50 ms, p99 ms).
async fn pairs(
    e: &Eng,
    cluster: &PrivateCluster,
    pair: [&str; 2],
    n: usize,
    tag: &str,
) -> (f64, f64, f64) {
    reset(cluster);
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        if start.elapsed() > PHASE_DEADLINE {
            break;
        }
        let t = Instant::now();
        let o = e
            .reserve(&request(format!("{tag}{i}"), &pair))
            .await
            .unwrap();
        assert!(matches!(o, ReserveOutcome::Held(_)), "{o:?}");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu: f64 = evalsha_usec(cluster).iter().map(|(_, u, _)| u).sum();
    lat.sort_by(f64::total_cmp);
    (cpu / lat.len() as f64, pct(&lat, 0.5), pct(&lat, 0.99))
}

/// `n` one-SKU reserves over `skus` from `CALLERS` tasks: (reserves/s, per-primary µs per call).
async fn throughput(
    e: &Arc<Eng>,
    cluster: &PrivateCluster,
    skus: &[String],
    n: usize,
    tag: &str,
) -> (f64, Vec<(u16, f64, f64)>) {
    reset(cluster);
    let next = Arc::new(AtomicUsize::new(0));
    let skus = Arc::new(skus.to_vec());
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (e, next, skus, tag) = (e.clone(), next.clone(), skus.clone(), tag.to_owned());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || start.elapsed() > PHASE_DEADLINE {
                        break;
                    }
                    let sku = skus[i % skus.len()].as_str();
                    let o = e
                        .reserve(&request(format!("{tag}{i}"), &[sku]))
                        .await
                        .unwrap();
                    assert!(matches!(o, ReserveOutcome::Held(_)), "{o:?}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let done = next.load(Ordering::Relaxed).min(n) as f64;
    let per_primary = evalsha_usec(cluster)
        .into_iter()
        .map(|(p, usec, calls)| (p, if calls > 0.0 { usec / calls } else { 0.0 }, calls))
        .collect();
    (done / start.elapsed().as_secs_f64(), per_primary)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_pairs, n_calls) = if quick { (500, 5_000) } else { (2_000, 20_000) };
    let cluster = PrivateCluster::start();
    let gw = testkit::gateway(&cluster.url(), |_| {}).await;
    let client = Client::new(
        ReqwestTransport::default(),
        &gw.url(),
        testkit::GATEWAY_TOKEN,
    )
    .with_timeout(Duration::from_secs(5));
    let e = Arc::new(Engine::new(client, Keys::new("sb:").with_shards(SHARDS)));
    e.put_locations(&[LocationSettings::default_only()])
        .await
        .unwrap();
    for shard in e.keys().all_shards() {
        e.mark_seeded(shard, "bench").await.unwrap();
    }
    let k = e.keys().clone();
    let candidates: Vec<String> = (0..5_000).map(|i| format!("SB-{i:05}")).collect();
    let same: Vec<&str> = {
        let s0 = k.shard_of(&candidates[0]);
        candidates
            .iter()
            .filter(|c| k.shard_of(c) == s0)
            .take(2)
            .map(String::as_str)
            .collect()
    };
    let port_of = |s: &str| cluster.primary_of(&k.stock(s));
    let cross = [
        candidates[0].as_str(),
        candidates
            .iter()
            .find(|c| port_of(c) != port_of(&candidates[0]))
            .unwrap()
            .as_str(),
    ];
    let on_first: Vec<String> = candidates
        .iter()
        .filter(|c| port_of(c) == cluster.ports[0])
        .take(48)
        .cloned()
        .collect();
    let spread: Vec<String> = cluster
        .ports
        .iter()
        .flat_map(|p| {
            candidates
                .iter()
                .filter(|c| port_of(c) == *p)
                .take(16)
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let mut all: Vec<&str> = same.iter().chain(cross.iter()).copied().collect();
    all.extend(on_first.iter().map(String::as_str));
    all.extend(spread.iter().map(String::as_str));
    all.sort_unstable();
    all.dedup();
    for s in &all {
        e.seed(&Sku::parse(s).unwrap(), &Location::default(), 10_000_000, 0)
            .await
            .unwrap();
    }

    println!("shard-bench: private 3-primary Redis Cluster on :{:?} behind one gateway; {SHARDS} logical shards; all on this machine (2 cores shared by the primaries, the gateway and the callers)", cluster.ports);
    println!();
    println!(
        "| two-SKU reservation | Redis CPU per reservation (µs, all primaries) | p50 ms | p99 ms |"
    );
    println!("|---|---:|---:|---:|");
    let (c1, p50, p99) = pairs(&e, &cluster, [same[0], same[1]], n_pairs, "one").await;
    println!("| both SKUs on one shard (one script) | {c1:.1} | {p50:.2} | {p99:.2} |");
    let (c2, p50, p99) = pairs(&e, &cluster, cross, n_pairs, "two").await;
    println!("| SKUs on two shards, two primaries (two parts in parallel) | {c2:.1} | {p50:.2} | {p99:.2} |");
    println!();
    println!("| one-SKU reserves, {CALLERS} callers | reserves/s | per primary: µs per reserve (calls) |");
    println!("|---|---:|---|");
    for (label, skus, tag) in [
        ("every SKU on one primary", &on_first, "t1-"),
        ("SKUs over three primaries", &spread, "t3-"),
    ] {
        let (rate, per) = throughput(&e, &cluster, skus, n_calls, tag).await;
        let per: Vec<String> = per
            .iter()
            .map(|(p, us, calls)| format!(":{p} {us:.1} µs ({calls:.0})"))
            .collect();
        println!("| {label} | {rate:.0} | {} |", per.join(", "));
    }
    drop(gw);
}
