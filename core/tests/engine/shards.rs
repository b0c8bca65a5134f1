//! Logical shards on a real three-primary Redis Cluster, through the gateway: every script runs
//! in one slot (Redis refuses any other), a reservation whose SKUs sit on different primaries is
//! one part per shard and all or nothing, a replay that finds a partial reservation answers
//! `Incomplete`, and a shard that comes back empty refuses its SKUs only.

use testkit::cluster::PrivateCluster;

use super::*;

/// Logical shards of these tests: more than primaries, as a deployment would have.
const SHARDS: u32 = 8;

struct Sharded {
    cluster: PrivateCluster,
    _gateway: edgestock_gateway::Running,
    e: Engine<ReqwestTransport>,
}

/// A cluster, a gateway in front of it, and an engine over `SHARDS` logical shards, every shard
/// with `default` alone and seeded.
fn sharded() -> Sharded {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    runtime().block_on(async move {
        let gw = testkit::gateway(&url, |_| {}).await;
        let client = Client::new(ReqwestTransport::default(), &gw.url(), TOKEN)
            .with_timeout(Duration::from_secs(3));
        let keys = Keys::new(format!("sh:{:x}:", rand::random::<u32>())).with_shards(SHARDS);
        let e = Engine::new(client, keys);
        e.put_locations(&[LocationSettings::default_only()])
            .await
            .unwrap();
        for shard in e.keys().all_shards() {
            e.mark_seeded(shard, "t").await.unwrap();
        }
        Sharded {
            cluster,
            _gateway: gw,
            e,
        }
    })
}

impl Sharded {
    /// One SKU per primary (`<tag>0`, `<tag>1`, … until each primary has one), in port order.
    fn sku_per_primary(&self, tag: &str) -> Vec<String> {
        self.cluster
            .ports
            .iter()
            .map(|&port| {
                (0..10_000)
                    .map(|i| format!("{tag}{i}"))
                    .find(|s| self.cluster.primary_of(&self.e.keys().stock(s)) == port)
                    .expect("a SKU on every primary")
            })
            .collect()
    }
}

async fn seed_all(e: &Engine<ReqwestTransport>, skus: &[String], n: i64) {
    for s in skus {
        e.seed(&sku(s), &Location::default(), n, 0).await.unwrap();
    }
}

async fn avail(e: &Engine<ReqwestTransport>, skus: &[String]) -> Vec<i64> {
    let all: Vec<Sku> = skus.iter().map(|s| sku(s)).collect();
    e.stock(&all)
        .await
        .unwrap()
        .iter()
        .map(StockLevel::available)
        .collect()
}

fn held(o: ReserveOutcome) -> Hold {
    match o {
        ReserveOutcome::Held(h) => h,
        other => panic!("not held: {other:?}"),
    }
}

#[test]
fn a_reservation_across_primaries_is_one_part_per_shard_and_all_or_nothing() {
    let s = sharded();
    let e = &s.e;
    let skus = s.sku_per_primary("X");
    runtime().block_on(async {
        seed_all(e, &skus, 5).await;
        // The batch read is one call per shard, answered in the request's order.
        assert_eq!(avail(e, &skus).await, [5, 5, 5]);
        let lines: Vec<Line> = skus.iter().rev().map(|s| item(s, 2)).collect();
        let h = held(e.reserve(&request("r1", lines, 30_000)).await.unwrap());
        // The id names the three shards; the parts come back in line order.
        let shards = e.shards_of_reservation(&h.id).unwrap();
        assert_eq!(shards.len(), 3);
        assert!(h.id.starts_with("r1."), "{}", h.id);
        let order: Vec<&str> = h.items.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(order, [&skus[2], &skus[1], &skus[0]]);
        assert_eq!(avail(e, &skus).await, [3, 3, 3]);
        let rec = e.reservation(&h.id).await.unwrap().unwrap();
        assert_eq!(
            (rec.status, rec.items.len(), rec.expires_ms),
            (ReservationStatus::Held, 3, h.expires_ms)
        );
        // Each part is its own record on its own shard.
        for shard in shards.iter() {
            let key = e.keys().reservation(shard, &h.id);
            assert_eq!(
                s.cluster.on_primary_of(&key, &["EXISTS", &key]),
                "1",
                "{key}"
            );
        }

        // One short line refuses the whole request; the parts placed meanwhile are given back.
        let short = vec![item(&skus[0], 1), item(&skus[1], 1), item(&skus[2], 4)];
        assert_eq!(
            e.reserve(&request("r2", short, 30_000)).await.unwrap(),
            ReserveOutcome::Insufficient {
                sku: skus[2].clone(),
                available: 3,
                location: None
            }
        );
        assert_eq!(avail(e, &skus).await, [3, 3, 3]);

        // Extend, release: every part.
        assert!(matches!(
            e.extend(&h.id, 10_000).await.unwrap(),
            ExtendOutcome::Extended { .. }
        ));
        assert_eq!(
            e.release(&h.id, false).await.unwrap(),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: true
            }
        );
        assert_eq!(avail(e, &skus).await, [5, 5, 5]);
        // Released twice: nothing changes.
        assert_eq!(
            e.release(&h.id, false).await.unwrap(),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: false
            }
        );

        // Place (pin) and commit across shards.
        let two = vec![item(&skus[0], 1), item(&skus[1], 2)];
        let h = held(e.reserve(&request("r3", two, 30_000)).await.unwrap());
        let (pin, items) = e.pin(&h.id, 60_000, 5_000).await.unwrap();
        assert!(
            matches!(pin, PinOutcome::Pinned { again: false, .. }),
            "{pin:?}"
        );
        assert_eq!(items.len(), 2);
        assert_eq!(
            e.reservation(&h.id).await.unwrap().unwrap().status,
            ReservationStatus::Confirming
        );
        assert_eq!(
            e.commit(&h.id, &items).await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(
            e.commit(&h.id, &items).await.unwrap(),
            CommitOutcome::AlreadyCommitted
        );
        let levels = e
            .stock(&skus.iter().map(|s| sku(s)).collect::<Vec<_>>())
            .await
            .unwrap();
        let counts: Vec<(i64, i64)> = levels.iter().map(|l| (l.on_hand, l.reserved)).collect();
        assert_eq!(counts, [(4, 0), (3, 0), (5, 0)]);
    });
}

#[test]
fn a_replay_that_finds_a_partial_reservation_releases_it_and_says_incomplete() {
    let s = sharded();
    let e = &s.e;
    let skus = s.sku_per_primary("P");
    runtime().block_on(async {
        seed_all(e, &skus, 5).await;
        let lines = || vec![item(&skus[0], 1), item(&skus[1], 1)];
        let h = held(e.reserve(&request("k1", lines(), 30_000)).await.unwrap());
        // The replay of a complete reservation answers it, creating nothing.
        let again = held(e.reserve(&request("k1", lines(), 30_000)).await.unwrap());
        assert!(again.replay);
        assert_eq!((again.id.as_str(), again.items.len()), (h.id.as_str(), 2));
        assert_eq!(avail(e, &skus).await, [4, 4, 5]);

        // The original request's second part never got created (its shard did not answer):
        // take it back out, record, hold and count, as if it had never been.
        let shard = e.keys().shard_of(&skus[1]);
        let key = e.keys().reservation(shard, &h.id);
        let member = format!("{}|1", h.id);
        assert_eq!(s.cluster.on_primary_of(&key, &["DEL", &key]), "1");
        let holds = e.keys().holds(&skus[1]);
        assert_eq!(
            s.cluster.on_primary_of(&holds, &["ZREM", &holds, &member]),
            "1"
        );
        let stock = e.keys().stock(&skus[1]);
        assert_eq!(
            s.cluster
                .on_primary_of(&stock, &["HINCRBY", &stock, "reserved", "-1"]),
            "0"
        );
        assert_eq!(avail(e, &skus).await, [4, 5, 5]);
        // Its replay finds one part and not the other: everything is released, it says so.
        assert_eq!(
            e.reserve(&request("k1", lines(), 30_000)).await.unwrap(),
            ReserveOutcome::Incomplete
        );
        assert_eq!(avail(e, &skus).await, [5, 5, 5]);
        // The key stays spent: its parts are released records (tombstones), and a replay says so
        // without holding anything.
        let replay = held(e.reserve(&request("k1", lines(), 30_000)).await.unwrap());
        assert_eq!(
            (replay.status, replay.replay),
            (ReservationStatus::Released, true)
        );
        assert_eq!(avail(e, &skus).await, [5, 5, 5]);

        // A tombstone stops a part that was never created.
        let t = held(e.reserve(&request("k2", lines(), 30_000)).await.unwrap());
        e.release(&t.id, false).await.unwrap();
        let third = e.keys().shard_of(&skus[2]);
        assert!(!e.tombstone(third, "k3.ff", "fp").await.unwrap());
        assert!(e.tombstone(third, "k3.ff", "fp").await.unwrap());
    });
}

#[test]
fn a_shard_that_comes_back_empty_refuses_its_skus_and_only_those() {
    let mut s = sharded();
    let skus = s.sku_per_primary("E");
    let port = s.cluster.primary_of(&s.e.keys().stock(&skus[0]));
    runtime().block_on(seed_all(&s.e, &skus, 5));
    // A part on a dead primary is unanswered: the other parts are given back, the error told.
    s.cluster.kill(port);
    runtime().block_on(async {
        let e = &s.e;
        let both = vec![item(&skus[0], 1), item(&skus[1], 1)];
        assert!(e.reserve(&request("d1", both, 30_000)).await.is_err());
        assert_eq!(avail(e, &skus[1..]).await, [5, 5]);
        // The other primaries keep serving.
        held(
            e.reserve(&request("d2", vec![item(&skus[1], 1)], 30_000))
                .await
                .unwrap(),
        );
    });
    // Back, empty: its shards have no seeded marker, so they refuse rather than guess.
    s.cluster.restart_empty(port);
    runtime().block_on(async {
        let e = &s.e;
        let shard = e.keys().shard_of(&skus[0]);
        let mut answer = None;
        for _ in 0..100 {
            match e
                .reserve(&request("d3", vec![item(&skus[0], 1)], 30_000))
                .await
            {
                Ok(o) => {
                    answer = Some(o);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        assert_eq!(answer, Some(ReserveOutcome::ShardUnseeded(shard)));
        let err = e.stock(&[sku(&skus[0])]).await.unwrap_err();
        assert!(is_unseeded(&err), "{err:?}");
        // A reservation touching it refuses as a whole and gives back its other part.
        let both = vec![item(&skus[0], 1), item(&skus[1], 1)];
        assert_eq!(
            e.reserve(&request("d4", both, 30_000)).await.unwrap(),
            ReserveOutcome::ShardUnseeded(shard)
        );
        assert_eq!(avail(e, &skus[1..]).await, [4, 5]);
    });
}
