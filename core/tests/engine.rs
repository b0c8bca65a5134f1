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

#[test]
fn our_sha1_is_what_script_load_returns_for_every_script() {
    block(async {
        let e = engine();
        let mut direct = redis().await;
        for s in edgestock_lua::ALL {
            // Through the gateway (Upstash semantics): the SHA1 of the source as we send it.
            assert_eq!(
                e.client().script_load(s.source).await.unwrap(),
                s.sha1(),
                "{}",
                s.name
            );
            // Straight to Redis, without the Upstash-only flag: Redis's SHA1 is plain SHA1.
            let stripped = s.source.replacen(",allow-key-locking", "", 1).replacen(
                "flags=allow-key-locking",
                "flags=",
                1,
            );
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&stripped)
                .query_async(&mut direct)
                .await
                .unwrap();
            assert_eq!(sha, sha1_smol_hex(&stripped), "{}", s.name);
        }
    });
}

fn sha1_smol_hex(s: &str) -> String {
    // Same digest the lua crate uses, computed independently of it.
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    match out {
        Ok(mut child) => {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned()
        }
        Err(_) => edgestock_lua::Script::new("x", Box::leak(s.to_owned().into_boxed_str()))
            .sha1()
            .to_owned(),
    }
}

#[test]
fn reserve_is_all_or_nothing_and_reports_the_short_sku() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 5, 2).await.unwrap();
        e.seed(&sku("B"), 1, 0).await.unwrap();
        let out = e
            .reserve(&request("r1", vec![item("A", 2), item("B", 2)], 10_000))
            .await
            .unwrap();
        assert_eq!(
            out,
            ReserveOutcome::Insufficient {
                sku: "B".into(),
                available: 1
            }
        );
        assert_eq!(available(&e, "A").await, 5, "nothing held on A");
        assert_eq!(
            e.reservation("r1").await.unwrap(),
            None,
            "a failed reserve records nothing"
        );

        let ReserveOutcome::Held(h) = e
            .reserve(&request("r2", vec![item("A", 2), item("B", 1)], 10_000))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!((h.status.as_str(), h.replay), ("held", false));
        assert_eq!(h.expires_ms - h.created_ms, 10_000);
        assert_eq!(available(&e, "A").await, 3);
        assert_eq!(available(&e, "B").await, 0);
        let rec = e.reservation("r2").await.unwrap().unwrap();
        assert_eq!(rec.items, vec![item("A", 2), item("B", 1)]);
        assert_eq!(rec.max_expires_ms, h.created_ms + 60_000);

        assert_eq!(
            e.reserve(&request("r3", vec![item("NOPE", 1)], 10_000))
                .await
                .unwrap(),
            ReserveOutcome::UnknownSku("NOPE".into())
        );
    });
}

#[test]
fn idempotent_replay_and_key_reuse() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 5, 0).await.unwrap();
        let req = request("idem", vec![item("A", 2)], 10_000);
        let ReserveOutcome::Held(first) = e.reserve(&req).await.unwrap() else {
            panic!()
        };
        let ReserveOutcome::Held(again) = e.reserve(&req).await.unwrap() else {
            panic!()
        };
        assert!(again.replay);
        assert_eq!(
            (again.created_ms, again.expires_ms),
            (first.created_ms, first.expires_ms)
        );
        assert_eq!(available(&e, "A").await, 3, "a replay holds nothing more");
        let mut other = req.clone();
        other.fingerprint = "another body".into();
        assert_eq!(
            e.reserve(&other).await.unwrap(),
            ReserveOutcome::IdempotencyMismatch
        );
        assert_eq!(available(&e, "A").await, 3);
    });
}

#[test]
fn rate_limit_refuses_without_changing_anything() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 100, 0).await.unwrap();
        let mut req = request("x", vec![item("A", 1)], 10_000);
        req.rate_limit = Some(RateLimit {
            subjects: vec!["ip:1".into(), "cart:c".into()],
            limit: 3,
            window_ms: 60_000,
        });
        for i in 0..3 {
            req.id = format!("rl{i}");
            assert!(matches!(
                e.reserve(&req).await.unwrap(),
                ReserveOutcome::Held(_)
            ));
        }
        req.id = "rl3".into();
        match e.reserve(&req).await.unwrap() {
            ReserveOutcome::RateLimited { retry_after_ms } => {
                assert!(retry_after_ms > 0 && retry_after_ms <= 60_000)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(available(&e, "A").await, 97);
        // Another subject is not limited.
        req.rate_limit.as_mut().unwrap().subjects = vec!["ip:2".into()];
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::Held(_)
        ));
    });
}

#[test]
fn extend_is_capped_by_the_maximum_hold_time() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 5, 0).await.unwrap();
        let mut req = request("ext", vec![item("A", 1)], 10_000);
        req.max_hold_ms = 25_000;
        let ReserveOutcome::Held(h) = e.reserve(&req).await.unwrap() else {
            panic!()
        };
        match e.extend("ext", 10_000).await.unwrap() {
            ExtendOutcome::Extended { expires_ms, .. } => {
                assert_eq!(expires_ms, h.expires_ms + 10_000)
            }
            other => panic!("{other:?}"),
        }
        match e.extend("ext", 10_000).await.unwrap() {
            ExtendOutcome::Extended {
                expires_ms,
                max_expires_ms,
            } => assert_eq!(expires_ms, max_expires_ms),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            e.extend("ext", 10_000).await.unwrap(),
            ExtendOutcome::AtLimit { .. }
        ));
        assert_eq!(
            e.extend("missing", 1000).await.unwrap(),
            ExtendOutcome::NotFound
        );
    });
}

#[test]
fn release_is_idempotent_and_respects_confirming() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 5, 0).await.unwrap();
        e.reserve(&request("rel", vec![item("A", 4)], 10_000))
            .await
            .unwrap();
        assert_eq!(available(&e, "A").await, 1);
        assert_eq!(
            e.release("rel", false).await.unwrap(),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: true
            }
        );
        assert_eq!(
            e.release("rel", false).await.unwrap(),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: false
            }
        );
        assert_eq!(available(&e, "A").await, 5);

        e.reserve(&request("pinned", vec![item("A", 2)], 10_000))
            .await
            .unwrap();
        assert!(matches!(
            e.pin("pinned", 30_000).await.unwrap().0,
            PinOutcome::Pinned { .. }
        ));
        assert_eq!(
            e.release("pinned", false).await.unwrap(),
            ReleaseOutcome::Confirming
        );
        assert!(matches!(
            e.release("pinned", true).await.unwrap(),
            ReleaseOutcome::Released { changed: true, .. }
        ));
        assert_eq!(available(&e, "A").await, 5);
        assert_eq!(
            e.release("nope", false).await.unwrap(),
            ReleaseOutcome::NotFound
        );
    });
}

#[test]
fn pin_then_commit_and_every_retry_is_safe() {
    block(async {
        let mut e = engine();
        e.seed(&sku("A"), 5, 1).await.unwrap();
        let ReserveOutcome::Held(h) = e
            .reserve(&request("c1", vec![item("A", 3)], 10_000))
            .await
            .unwrap()
        else {
            panic!()
        };
        let (pin, items) = e.pin("c1", 30_000).await.unwrap();
        match pin {
            PinOutcome::Pinned { expires_ms } => assert!(expires_ms >= h.now_ms + 30_000),
            other => panic!("{other:?}"),
        }
        assert_eq!(items, vec![item("A", 3)]);
        // The grace period outlives the original TTL.
        e.set_clock_offset_ms(15_000);
        assert_eq!(available(&e, "A").await, 2);
        assert_eq!(
            e.commit("c1", &items).await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(
            e.commit("c1", &items).await.unwrap(),
            CommitOutcome::AlreadyCommitted
        );
        assert_eq!(e.pin("c1", 30_000).await.unwrap().0, PinOutcome::Committed);
        assert_eq!(
            e.release("c1", true).await.unwrap(),
            ReleaseOutcome::Committed
        );
        let lvl = &e.stock(&[sku("A")]).await.unwrap()[0];
        assert_eq!((lvl.on_hand, lvl.reserved), (2, 0));
    });
}

#[test]
fn expired_holds_cannot_be_pinned_and_late_commits_take_from_available_or_say_short() {
    block(async {
        let mut e = engine();
        e.seed(&sku("A"), 3, 0).await.unwrap();
        e.reserve(&request("late", vec![item("A", 2)], 1_000))
            .await
            .unwrap();
        e.set_clock_offset_ms(5_000);
        assert_eq!(
            e.pin("late", 30_000).await.unwrap().0,
            PinOutcome::Expired {
                status: ReservationStatus::Expired
            }
        );
        assert_eq!(available(&e, "A").await, 3);
        // Late commit with units available: taken.
        assert_eq!(
            e.commit("late", &[item("A", 2)]).await.unwrap(),
            CommitOutcome::Late
        );
        assert_eq!(available(&e, "A").await, 1);
        // Late commit when short: nothing taken.
        e.reserve(&request("late2", vec![item("A", 1)], 1_000))
            .await
            .unwrap();
        e.set_clock_offset_ms(10_000);
        e.reserve(&request("other", vec![item("A", 1)], 60_000))
            .await
            .unwrap();
        assert_eq!(
            e.commit("late2", &[item("A", 1)]).await.unwrap(),
            CommitOutcome::Short {
                sku: "A".into(),
                available: 0
            }
        );
        let lvl = &e.stock(&[sku("A")]).await.unwrap()[0];
        assert_eq!((lvl.on_hand, lvl.reserved), (1, 1));
    });
}

#[test]
fn adjust_is_idempotent_and_never_below_reserved_seed_keeps_holds() {
    block(async {
        let e = engine();
        let a = sku("A");
        assert_eq!(
            e.adjust(&a, 10, "m1").await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 10,
                reserved: 0
            }
        );
        assert_eq!(
            e.adjust(&a, 10, "m1").await.unwrap(),
            LevelOutcome::Duplicate {
                on_hand: 10,
                reserved: 0
            }
        );
        e.reserve(&request("h", vec![item("A", 6)], 60_000))
            .await
            .unwrap();
        assert_eq!(
            e.adjust(&a, -5, "m2").await.unwrap(),
            LevelOutcome::BelowReserved {
                on_hand: 10,
                reserved: 6
            }
        );
        assert_eq!(
            e.adjust(&a, -4, "m3").await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 6,
                reserved: 6
            }
        );
        assert_eq!(
            e.seed(&a, 20, 3).await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 20,
                reserved: 6
            }
        );
        assert_eq!(available(&e, "A").await, 14, "seed kept the live hold");
        assert_eq!(
            e.seed(&a, 2, 3).await.unwrap(),
            LevelOutcome::BelowReserved {
                on_hand: 6,
                reserved: 6
            }
        );
    });
}

#[test]
fn events_cover_the_hold_lifecycle_and_level_transitions() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 3, 1).await.unwrap();
        e.reserve(&request("ev", vec![item("A", 2)], 30_000))
            .await
            .unwrap(); // 1 left: low
        e.reserve(&request("ev2", vec![item("A", 1)], 60_000))
            .await
            .unwrap(); // 0 left: sold out
        e.release("ev2", false).await.unwrap(); // back in stock
        let ext = e.extend("ev", 1000).await.unwrap();
        assert!(matches!(ext, ExtendOutcome::Extended { .. }), "{ext:?}");
        let evs = e.events_after("0", 100).await.unwrap();
        let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
        for k in [
            "stock_adjusted",
            "hold_created",
            "low_stock",
            "sold_out",
            "hold_released",
            "back_in_stock",
            "hold_extended",
        ] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }
        let created = evs.iter().find(|e| e.kind == "hold_created").unwrap();
        assert_eq!(
            (
                created.sku.as_str(),
                created.reservation_id.as_str(),
                created.qty
            ),
            ("A", "ev", 2)
        );
        let after = e.events_after(&evs[2].id, 100).await.unwrap();
        assert_eq!(after.len(), evs.len() - 3);
    });
}

#[test]
fn contention_200_concurrent_reserves_for_37_units_through_the_gateway() {
    block(async {
        let e = std::sync::Arc::new(engine());
        e.seed(&sku("HOT"), 37, 5).await.unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let e = e.clone();
                tokio::spawn(async move {
                    e.reserve(&request(&format!("c{i}"), vec![item("HOT", 1)], 60_000))
                        .await
                })
            })
            .collect();
        let (mut won, mut short) = (0, 0);
        for t in tasks {
            match t.await.unwrap().unwrap() {
                ReserveOutcome::Held(_) => won += 1,
                ReserveOutcome::Insufficient { available, .. } => {
                    assert_eq!(available, 0);
                    short += 1
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((won, short), (37, 163));
        let lvl = &e.stock(&[sku("HOT")]).await.unwrap()[0];
        assert_eq!((lvl.on_hand, lvl.reserved, lvl.available()), (37, 37, 0));
    });
}

#[test]
fn one_second_holds_come_back_on_the_next_read_and_write_without_a_sweeper() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), 2, 0).await.unwrap();
        e.reserve(&request("t1", vec![item("A", 2)], 1_000))
            .await
            .unwrap();
        assert_eq!(available(&e, "A").await, 0);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(
            available(&e, "A").await,
            2,
            "the read excludes the expired hold"
        );
        let mut r = redis().await;
        let raw: i64 = r.hget(e.keys().stock("A"), "reserved").await.unwrap();
        assert_eq!(raw, 2, "the read-only script wrote nothing");
        assert!(matches!(
            e.reserve(&request("t2", vec![item("A", 2)], 60_000))
                .await
                .unwrap(),
            ReserveOutcome::Held(_)
        ));
        let raw: i64 = r.hget(e.keys().stock("A"), "reserved").await.unwrap();
        assert_eq!(raw, 2, "the write reaped the expired hold before holding");
        assert_eq!(
            e.reservation("t1").await.unwrap().unwrap().status,
            "expired"
        );
    });
}

#[test]
fn sweep_reaps_untouched_skus_through_the_index() {
    block(async {
        let mut e = engine();
        for s in ["S1", "S2", "S3"] {
            e.seed(&sku(s), 5, 0).await.unwrap();
            e.reserve(&request(&format!("sw{s}"), vec![item(s, 2)], 1_000))
                .await
                .unwrap();
        }
        e.reserve(&request("swlong", vec![item("S3", 1)], 600_000))
            .await
            .unwrap();
        assert_eq!(
            e.sweep(100).await.unwrap(),
            SweepReport::default(),
            "nothing due yet"
        );
        e.set_clock_offset_ms(5_000);
        assert_eq!(
            e.sweep(100).await.unwrap(),
            SweepReport {
                skus: 3,
                units_reaped: 6
            }
        );
        let mut r = redis().await;
        for s in ["S1", "S2"] {
            let reserved: i64 = r.hget(e.keys().stock(s), "reserved").await.unwrap();
            assert_eq!(reserved, 0);
        }
        let idx: Vec<String> = r.zrange(e.keys().sweep_index(), 0, -1).await.unwrap();
        assert_eq!(
            idx,
            vec!["S3".to_owned()],
            "only the SKU with a live hold stays indexed"
        );
        assert_eq!(e.sweep(100).await.unwrap(), SweepReport::default());
    });
}

// ---------------------------------------------------------------------------------------------
// Property test: random operation sequences against an in-memory model.
//
// Times are chosen so no expiry ever sits near "now": TTLs, extensions and the grace period are
// ≡ 2.5 s (mod 5 s) and time advances in multiples of 5 s, so real clock drift during a case
// (milliseconds) can never flip an outcome.

const SKUS: [&str; 3] = ["P0", "P1", "P2"];
const MAX_HOLD_MS: u64 = 42_500;
const GRACE_MS: u64 = 7_500;

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        items: Vec<(usize, u32)>,
        ttl_ms: u64,
    },
    Replay(usize),
    Extend(usize, u64),
    Release(usize),
    Cancel(usize),
    Pin(usize),
    Commit(usize),
    Adjust(usize, i64, bool),
    Seed(usize, i64),
    Advance(i64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::collection::btree_map(0..3usize, 1..5u32, 1..3), prop_oneof![Just(2_500u64), Just(12_500), Just(22_500)])
            .prop_map(|(m, ttl_ms)| Op::Reserve { items: m.into_iter().collect(), ttl_ms }),
        1 => (0..20usize).prop_map(Op::Replay),
        1 => (0..20usize, prop_oneof![Just(5_000u64), Just(15_000)]).prop_map(|(i, a)| Op::Extend(i, a)),
        1 => (0..20usize).prop_map(Op::Release),
        1 => (0..20usize).prop_map(Op::Cancel),
        2 => (0..20usize).prop_map(Op::Pin),
        2 => (0..20usize).prop_map(Op::Commit),
        1 => (0..3usize, -6..10i64, any::<bool>()).prop_map(|(s, d, dup)| Op::Adjust(s, d, dup)),
        1 => (0..3usize, 0..25i64).prop_map(|(s, n)| Op::Seed(s, n)),
        2 => prop_oneof![Just(5_000i64), Just(10_000), Just(20_000)].prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Held,
    Confirming,
    Committed,
    Released,
    Expired,
}

#[derive(Debug, Clone)]
struct MRes {
    id: String,
    items: Vec<(usize, u32)>,
    expires: i64,
    max_expires: i64,
    st: St,
    fp: String,
}

#[derive(Debug, Default)]
struct Model {
    now: i64, // model time (ms) = clock offset
    exists: [bool; 3],
    on_hand: [i64; 3],
    sold: [i64; 3],
    total_in: [i64; 3],
    res: Vec<MRes>,
    movements: Vec<String>,
}

impl Model {
    fn live(&self, r: &MRes) -> bool {
        matches!(r.st, St::Held | St::Confirming) && r.expires > self.now
    }
    fn reserved(&self, s: usize) -> i64 {
        self.res
            .iter()
            .filter(|r| self.live(r))
            .flat_map(|r| r.items.iter())
            .filter(|(k, _)| *k == s)
            .map(|(_, q)| i64::from(*q))
            .sum()
    }
    fn available(&self, s: usize) -> i64 {
        self.on_hand[s] - self.reserved(s)
    }
}

fn items_of(v: &[(usize, u32)]) -> Vec<Item> {
    v.iter().map(|(s, q)| item(SKUS[*s], *q)).collect()
}

async fn check_invariants(e: &Engine<ReqwestTransport>, m: &Model, step: usize) {
    let mut r = redis().await;
    let levels = e.stock(&SKUS.map(sku)).await.unwrap();
    for (s, name) in SKUS.iter().enumerate() {
        let h: HashMap<String, String> = r.hgetall(e.keys().stock(name)).await.unwrap();
        let h: HashMap<String, i64> = h
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let members: Vec<(String, i64)> = r
            .zrange_withscores(e.keys().holds(name), 0, -1)
            .await
            .unwrap();
        let on_hand = *h.get("on_hand").unwrap_or(&0);
        let reserved = *h.get("reserved").unwrap_or(&0);
        let sold = *h.get("sold").unwrap_or(&0);
        let held: i64 = members
            .iter()
            .map(|(m, _)| m.rsplit('|').next().unwrap().parse::<i64>().unwrap())
            .sum();
        // 1. 0 <= reserved <= on_hand.
        assert!(
            0 <= reserved && reserved <= on_hand,
            "step {step} {name}: reserved {reserved} on_hand {on_hand}"
        );
        // 2. reserved = the sum of the holds in the zset.
        assert_eq!(reserved, held, "step {step} {name}: reserved vs holds");
        // 3. Conservation: everything put in is on hand or sold.
        assert_eq!(
            on_hand + sold,
            m.total_in[s],
            "step {step} {name}: conservation"
        );
        // The model agrees on what a shopper sees.
        assert_eq!(
            on_hand, m.on_hand[s],
            "step {step} {name}: on_hand vs model"
        );
        assert_eq!(
            levels[s].on_hand - levels[s].reserved,
            m.available(s),
            "step {step} {name}: available vs model"
        );
        assert_eq!(sold, m.sold[s], "step {step} {name}: sold vs model");
    }
    // 4. A reservation's live holds are all there or none are.
    for res in &m.res {
        let mut live = 0;
        for (s, q) in &res.items {
            let score: Option<f64> = r
                .zscore(e.keys().holds(SKUS[*s]), format!("{}|{q}", res.id))
                .await
                .unwrap();
            if score.is_some() && m.live(res) {
                live += 1;
            }
        }
        assert!(
            live == 0 || live == res.items.len(),
            "step {step}: reservation {} partially held",
            res.id
        );
        assert_eq!(
            live > 0,
            m.live(res),
            "step {step}: reservation {} liveness vs model",
            res.id
        );
    }
}

async fn run_case(ops: Vec<Op>) {
    let mut e = engine();
    let mut m = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        e.set_clock_offset_ms(m.now);
        let pick = |i: usize, m: &Model| (!m.res.is_empty()).then(|| i % m.res.len());
        match op {
            Op::Reserve { items, ttl_ms } => {
                let id = format!("p{step}");
                let mut req = request(&id, items_of(&items), ttl_ms);
                req.max_hold_ms = MAX_HOLD_MS;
                let got = e.reserve(&req).await.unwrap();
                let first_bad = items.iter().find_map(|(s, q)| {
                    if !m.exists[*s] {
                        Some(ReserveOutcome::UnknownSku(SKUS[*s].into()))
                    } else if m.available(*s) < i64::from(*q) {
                        Some(ReserveOutcome::Insufficient {
                            sku: SKUS[*s].into(),
                            available: m.available(*s),
                        })
                    } else {
                        None
                    }
                });
                let want = if let Some(bad) = first_bad {
                    bad
                } else {
                    m.res.push(MRes {
                        id: id.clone(),
                        items: items.clone(),
                        expires: m.now + ttl_ms as i64,
                        max_expires: m.now + MAX_HOLD_MS as i64,
                        st: St::Held,
                        fp: req.fingerprint.clone(),
                    });
                    ReserveOutcome::Held(Hold {
                        id,
                        status: ReservationStatus::Held,
                        created_ms: 0,
                        expires_ms: 0,
                        replay: false,
                        now_ms: 0,
                    })
                };
                match (&got, &want) {
                    (ReserveOutcome::Held(g), ReserveOutcome::Held(w)) => assert_eq!(
                        (&g.id, &g.status, g.replay),
                        (&w.id, &w.status, false),
                        "step {step}"
                    ),
                    _ => assert_eq!(got, want, "step {step}"),
                }
            }
            Op::Replay(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let mut req = request(&r.id, items_of(&r.items), 2_500);
                req.fingerprint = r.fp.clone();
                let ReserveOutcome::Held(h) = e.reserve(&req).await.unwrap() else {
                    panic!("step {step}: replay")
                };
                let want = match r.st {
                    St::Held | St::Confirming if r.expires <= m.now => "expired",
                    St::Held => "held",
                    St::Confirming => "confirming",
                    St::Committed => "committed",
                    St::Released => "released",
                    St::Expired => "expired",
                };
                assert!(h.replay, "step {step}");
                assert_eq!(h.status, want, "step {step}: replay status");
            }
            Op::Extend(i, add) => {
                let Some(i) = pick(i, &m) else { continue };
                let got = e.extend(&m.res[i].id.clone(), add).await.unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Held if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        ExtendOutcome::Expired
                    }
                    St::Held => {
                        let new = (r.expires + add as i64).min(r.max_expires);
                        if new <= r.expires {
                            ExtendOutcome::AtLimit { max_expires_ms: 0 }
                        } else {
                            m.res[i].expires = new;
                            ExtendOutcome::Extended {
                                expires_ms: 0,
                                max_expires_ms: 0,
                            }
                        }
                    }
                    St::Confirming => ExtendOutcome::NotHeld(ReservationStatus::Confirming),
                    St::Committed => ExtendOutcome::NotHeld(ReservationStatus::Committed),
                    St::Released => ExtendOutcome::NotHeld(ReservationStatus::Released),
                    St::Expired => ExtendOutcome::NotHeld(ReservationStatus::Expired),
                };
                let same = match (&got, &want) {
                    (ExtendOutcome::Extended { .. }, ExtendOutcome::Extended { .. })
                    | (ExtendOutcome::AtLimit { .. }, ExtendOutcome::AtLimit { .. }) => true,
                    _ => got == want,
                };
                assert!(same, "step {step}: extend got {got:?} want {want:?}");
            }
            Op::Release(i) | Op::Cancel(i) => {
                let allow = matches!(op, Op::Cancel(_));
                let Some(i) = pick(i, &m) else { continue };
                let got = e.release(&m.res[i].id.clone(), allow).await.unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Released => ReleaseOutcome::Released {
                        status: ReservationStatus::Released,
                        changed: false,
                    },
                    St::Expired => ReleaseOutcome::Released {
                        status: ReservationStatus::Expired,
                        changed: false,
                    },
                    St::Committed => ReleaseOutcome::Committed,
                    St::Confirming if !allow => ReleaseOutcome::Confirming,
                    St::Held | St::Confirming if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        ReleaseOutcome::Released {
                            status: ReservationStatus::Expired,
                            changed: true,
                        }
                    }
                    _ => {
                        m.res[i].st = St::Released;
                        ReleaseOutcome::Released {
                            status: ReservationStatus::Released,
                            changed: true,
                        }
                    }
                };
                assert_eq!(got, want, "step {step}: release");
            }
            Op::Pin(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let (got, _) = e.pin(&m.res[i].id.clone(), GRACE_MS).await.unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Committed => PinOutcome::Committed,
                    St::Released => PinOutcome::Expired {
                        status: ReservationStatus::Released,
                    },
                    St::Expired => PinOutcome::Expired {
                        status: ReservationStatus::Expired,
                    },
                    _ if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        PinOutcome::Expired {
                            status: ReservationStatus::Expired,
                        }
                    }
                    _ => {
                        let new = r.expires.max(m.now + GRACE_MS as i64);
                        m.res[i].expires = new;
                        m.res[i].st = St::Confirming;
                        PinOutcome::Pinned { expires_ms: 0 }
                    }
                };
                let same = matches!(
                    (&got, &want),
                    (PinOutcome::Pinned { .. }, PinOutcome::Pinned { .. })
                ) || got == want;
                assert!(same, "step {step}: pin got {got:?} want {want:?}");
            }
            Op::Commit(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let got = e.commit(&r.id, &items_of(&r.items)).await.unwrap();
                let want = if r.st == St::Committed {
                    CommitOutcome::AlreadyCommitted
                } else if m.live(&r) {
                    CommitOutcome::Committed
                } else {
                    // A late commit that comes up short leaves the record as it was.
                    match r
                        .items
                        .iter()
                        .find(|(s, q)| m.available(*s) < i64::from(*q))
                    {
                        Some((s, _)) => CommitOutcome::Short {
                            sku: SKUS[*s].into(),
                            available: m.available(*s),
                        },
                        None => CommitOutcome::Late,
                    }
                };
                if matches!(want, CommitOutcome::Committed | CommitOutcome::Late) {
                    for (s, q) in &r.items {
                        m.on_hand[*s] -= i64::from(*q);
                        m.sold[*s] += i64::from(*q);
                    }
                    m.res[i].st = St::Committed;
                }
                assert_eq!(got, want, "step {step}: commit");
            }
            Op::Adjust(s, delta, dup) => {
                let mv = if dup && !m.movements.is_empty() {
                    m.movements[0].clone()
                } else {
                    format!("mv{step}")
                };
                let got = e.adjust(&sku(SKUS[s]), delta, &mv).await.unwrap();
                let duplicate = m.movements.contains(&mv);
                let reserved = m.reserved(s);
                let ok = !duplicate && m.on_hand[s] + delta >= reserved;
                match got {
                    LevelOutcome::Duplicate { .. } => assert!(duplicate, "step {step}"),
                    LevelOutcome::BelowReserved { .. } => assert!(!duplicate && !ok, "step {step}"),
                    LevelOutcome::Applied { on_hand, .. } => {
                        assert!(ok, "step {step}: adjust applied but model refuses");
                        m.on_hand[s] += delta;
                        m.total_in[s] += delta;
                        m.exists[s] = true;
                        m.movements.push(mv);
                        assert_eq!(on_hand, m.on_hand[s], "step {step}");
                    }
                }
            }
            Op::Seed(s, n) => {
                let got = e.seed(&sku(SKUS[s]), n, 2).await.unwrap();
                let reserved = m.reserved(s);
                let target = n.max(reserved);
                m.total_in[s] += target - m.on_hand[s];
                m.on_hand[s] = target;
                m.exists[s] = true;
                let want = if n < reserved {
                    LevelOutcome::BelowReserved {
                        on_hand: target,
                        reserved,
                    }
                } else {
                    LevelOutcome::Applied {
                        on_hand: target,
                        reserved,
                    }
                };
                assert_eq!(got, want, "step {step}: seed");
            }
            Op::Advance(ms) => m.now += ms,
            Op::Sweep => {
                e.sweep(100).await.unwrap();
            }
        }
        e.set_clock_offset_ms(m.now);
        check_invariants(&e, &m, step).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn scripts_match_the_model_and_keep_the_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        block(run_case(ops));
    }
}

#[test]
fn scripts_bound_their_own_input() {
    block(async {
        let e = engine();
        // The typed wrapper refuses first; the script refuses on its own too.
        let many: Vec<Sku> = (0..101).map(|i| sku(&format!("S{i}"))).collect();
        assert!(e.stock(&many).await.is_err());
        let keys: Vec<String> = (0..202)
            .map(|i| format!("{}k{i}", e.keys().prefix()))
            .collect();
        let err = e
            .client()
            .eval(
                edgestock_core::scripts::rest_script(&edgestock_lua::STOCK_READ),
                &keys,
                &["0".into()],
                true,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, upstash_rest::Error::Redis(m) if m.contains("1..100")),
            "{err:?}"
        );
        let items: Vec<Item> = (0..51).map(|i| item(&format!("S{i}"), 1)).collect();
        assert!(e.commit("too-many", &items).await.is_err());
    });
}
