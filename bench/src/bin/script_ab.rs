//! A paired A/B of the hot scripts (`reserve`, `stock_read`): this build's against another
//! revision's, on ONE private `redis-server`, so that a few percent can be told from noise.
//!
//! Separate runs of a bench on this kind of machine spread ±15% from run to run (the CPU's speed
//! drifts), which hides any change smaller than that. Here both versions live side by side in
//! the same server (each under its own key prefix, same data), and every round runs one batch of
//! each, in a random order, reading Redis's CPU per call (`INFO commandstats` after
//! `CONFIG RESETSTAT`). The ratio after/before of each round is paired, so a drift slower than
//! a round cancels out; the mean ratio over the rounds comes with its 95% interval.
//!
//! ```text
//! scripts/script-ab.sh ecf180a                      # builds that revision's scripts, runs this
//! target/release/script-ab --before DIR [--before-layout unsharded] [--rounds 300]
//! ```
//! `DIR` holds the revision's assembled scripts (`reserve.lua`, `stock_read.lua`, as the `lua`
//! crate's build script writes them). `--before-layout unsharded` calls them with the key names
//! and arguments from before logical shards (no hash tag, no shard marker). Bounded: a fixed
//! number of rounds of fixed batches.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use edgestock_core::keys::{Keys, ShardId};
use rand::seq::SliceRandom;
use redis::aio::MultiplexedConnection;
use testkit_stack::stack::PrivateRedis;

const SKUS: usize = 10_000;
const BATCH: usize = 2_000;
const DEADLINE: Duration = Duration::from_secs(900);

#[derive(Parser)]
struct Args {
    /// Folder with the other revision's assembled `reserve.lua` and `stock_read.lua`.
    #[arg(long)]
    before: PathBuf,
    /// How the other revision's scripts are called.
    #[arg(long, value_enum, default_value = "sharded")]
    before_layout: Layout,
    /// Paired rounds per script (one batch of each version per round).
    #[arg(long, default_value_t = 300)]
    rounds: usize,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Layout {
    /// Before logical shards: `stock:{sku}`, one `events`, `sweep` and `locs`, no shard marker.
    Unsharded,
    /// Today's: every key under its shard's hash tag, the shard marker as the last argument.
    Sharded,
}

/// One version: its scripts, how they are called and its own key prefix.
struct Version {
    reserve: String,
    read: String,
    layout: Layout,
    keys: Keys,
}

impl Version {
    fn stock(&self, sku: &str) -> String {
        match self.layout {
            Layout::Sharded => self.keys.stock(sku),
            Layout::Unsharded => format!("{}stock:{{{sku}}}", self.keys.prefix()),
        }
    }

    fn holds(&self, sku: &str) -> String {
        match self.layout {
            Layout::Sharded => self.keys.holds(sku),
            Layout::Unsharded => format!("{}holds:{{{sku}}}", self.keys.prefix()),
        }
    }

    /// The shard-wide keys: reservation record, events, sweep index, location settings.
    fn shard_keys(&self, rid: &str) -> [String; 4] {
        let (k, s) = (&self.keys, ShardId(0));
        match self.layout {
            Layout::Sharded => [
                k.reservation(s, rid),
                k.events(s),
                k.sweep_index(s),
                k.locations(s),
            ],
            Layout::Unsharded => {
                let p = k.prefix();
                [
                    format!("{p}rsv:{{{rid}}}"),
                    format!("{p}events"),
                    format!("{p}sweep"),
                    format!("{p}locs"),
                ]
            }
        }
    }

    fn marker(&self) -> Option<String> {
        (self.layout == Layout::Sharded).then(|| self.keys.shard_marker(ShardId(0)))
    }

    /// One unit of `sku`, shipping, no rate limit and no customer cap.
    fn reserve(&self, rid: &str, sku: &str, ttl_ms: u64) -> redis::Cmd {
        let mut c = redis::cmd("EVALSHA");
        c.arg(&self.reserve).arg(6).arg(&self.shard_keys(rid)[..]);
        c.arg(self.stock(sku)).arg(self.holds(sku));
        c.arg(rid)
            .arg("fp")
            .arg(ttl_ms)
            .arg(3_600_000)
            .arg(0)
            .arg(0)
            .arg(0);
        c.arg("bench")
            .arg(0)
            .arg(1)
            .arg(sku)
            .arg(1)
            .arg(0)
            .arg(0)
            .arg("");
        c.arg(self.marker());
        c
    }

    fn stock_read(&self, sku: &str) -> redis::Cmd {
        let mut c = redis::cmd("EVALSHA_RO");
        c.arg(&self.read).arg(3).arg(&self.shard_keys("")[3]);
        c.arg(self.stock(sku)).arg(self.holds(sku)).arg(0).arg(0);
        c.arg(self.marker());
        c
    }

    /// `default` alone, seeded (for the sharded layout); SKUs with plenty of stock; 10k live
    /// holds, so the holds sets are not empty.
    async fn preload(&self, conn: &mut MultiplexedConnection) {
        let mut c = redis::cmd("HSET");
        c.arg(&self.shard_keys("")[3])
            .arg("default")
            .arg("0;1;1;0;Default");
        c.arg("~ship").arg("default").arg("~pickup").arg("");
        if let Some(m) = self.marker() {
            c.arg("~seeded").arg(format!("{m}bench"));
        }
        let () = c.query_async(conn).await.unwrap();
        let mut pipe = redis::pipe();
        for i in 0..SKUS {
            pipe.cmd("HSET")
                .arg(self.stock(&sku(i)))
                .arg("on_hand")
                .arg(1_000_000_000)
                .arg("low")
                .arg(0)
                .ignore();
        }
        let () = pipe.query_async(conn).await.unwrap();
        // Both scripts must really work (a refused call is cheap and would flatter the figures).
        let reply: Vec<redis::Value> = self
            .reserve("check", &sku(0), 1)
            .query_async(conn)
            .await
            .unwrap();
        assert_eq!(reply.first(), Some(&ok()), "reserve refused: {reply:?}");
        let reply: Vec<redis::Value> = self.stock_read(&sku(1)).query_async(conn).await.unwrap();
        let fine = match self.layout {
            Layout::Sharded => reply.first() == Some(&ok()),
            Layout::Unsharded => reply.len() == 5,
        };
        assert!(fine, "stock_read refused: {reply:?}");
        for chunk in (0..SKUS).collect::<Vec<_>>().chunks(BATCH) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                pipe.add_command(self.reserve(&format!("pre{i}"), &sku(i), 3_600_000))
                    .ignore();
            }
            let () = pipe.query_async(conn).await.unwrap();
        }
    }
}

fn ok() -> redis::Value {
    redis::Value::BulkString(b"ok".to_vec())
}

fn sku(i: usize) -> String {
    format!("SKU-{i:05}")
}

/// The script as vanilla Redis takes it (Upstash's flag dropped, as the gateway does).
fn shebang(read_only: bool) -> &'static str {
    if read_only {
        "#!lua flags=no-writes\n"
    } else {
        "#!lua\n"
    }
}

/// The body of an embedded script, without its shebang line.
fn body(source: &str) -> &str {
    source.split_once('\n').map_or(source, |(_, rest)| rest)
}

async fn load(conn: &mut MultiplexedConnection, src: String) -> String {
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(src)
        .query_async(conn)
        .await
        .unwrap()
}

/// Redis's CPU per call of `command` since the last `CONFIG RESETSTAT`.
async fn usec_per_call(conn: &mut MultiplexedConnection, command: &str) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:")))
        .and_then(|rest| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix("usec_per_call="))
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("commandstats of the batch")
}

/// One batch of `BATCH` calls, pipelined on one connection; Redis's CPU per call.
async fn batch(
    conn: &mut MultiplexedConnection,
    command: &str,
    make: impl Fn(usize) -> redis::Cmd,
    from: usize,
) -> f64 {
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .unwrap();
    let mut pipe = redis::pipe();
    for i in from..from + BATCH {
        pipe.add_command(make(i)).ignore();
    }
    let () = pipe.query_async(conn).await.unwrap();
    usec_per_call(conn, command).await
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Mean and half-width of its 95% interval.
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 1.96 * (var / n).sqrt())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let read = |name: &str| {
        std::fs::read_to_string(args.before.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", args.before.join(name).display()))
    };
    let server = PrivateRedis::start();
    let client = redis::Client::open(server.url()).unwrap();
    // A batch is one pipeline of thousands of calls: give it time (the whole run has a deadline).
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(60)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let before_reserve = load(
        &mut conn,
        format!("{}{}", shebang(false), read("reserve.lua")),
    )
    .await;
    let before_read = load(
        &mut conn,
        format!("{}{}", shebang(true), read("stock_read.lua")),
    )
    .await;
    let after_reserve = load(
        &mut conn,
        format!("{}{}", shebang(false), body(edgestock_lua::RESERVE.source)),
    )
    .await;
    let after_read = load(
        &mut conn,
        format!(
            "{}{}",
            shebang(true),
            body(edgestock_lua::STOCK_READ.source)
        ),
    )
    .await;
    let versions = [
        Version {
            reserve: before_reserve,
            read: before_read,
            layout: args.before_layout,
            keys: Keys::new("b:"),
        },
        Version {
            reserve: after_reserve,
            read: after_read,
            layout: Layout::Sharded,
            keys: Keys::new("a:"),
        },
    ];
    for v in &versions {
        v.preload(&mut conn).await;
    }
    println!(
        "Paired A/B on one private redis-server: {} rounds per script, {BATCH} pipelined calls per batch, {SKUS} SKUs with {SKUS} live holds per version",
        args.rounds
    );
    println!("| script | before µs/call (median) | after µs/call (median) | after/before per round: median | mean ± 95% |");
    println!("|---|---:|---:|---:|---:|");
    let started = Instant::now();
    let mut next = [0usize; 2];
    for script in ["reserve", "stock_read"] {
        let (mut per, mut ratios) = ([Vec::new(), Vec::new()], Vec::new());
        for _ in 0..args.rounds {
            assert!(started.elapsed() < DEADLINE, "the A/B ran out of time");
            let mut order = [0usize, 1];
            order.shuffle(&mut rand::thread_rng());
            let mut got = [0.0; 2];
            for i in order {
                let v = &versions[i];
                got[i] = if script == "reserve" {
                    batch(
                        &mut conn,
                        "evalsha",
                        |n| v.reserve(&format!("m{n}"), &sku((n * 7919) % SKUS), 3_600_000),
                        next[i],
                    )
                    .await
                } else {
                    batch(
                        &mut conn,
                        "evalsha_ro",
                        |n| v.stock_read(&sku((n * 31) % SKUS)),
                        next[i],
                    )
                    .await
                };
                next[i] += BATCH;
                per[i].push(got[i]);
            }
            ratios.push(got[1] / got[0]);
        }
        let (mean, half) = mean_ci(&ratios);
        let [before, after] = per;
        println!(
            "| {script} | {:.2} | {:.2} | {:.3} | {mean:.3} ± {half:.3} |",
            median(before),
            median(after),
            median(ratios.clone()),
        );
    }
}
