//! The flash sale on sharded Redis, through the worker: a three-primary Redis Cluster behind the
//! gateway with SKUs (and reservations) spread over its primaries, one primary killed and brought
//! back empty mid-sale, a replay meeting a partly made reservation, and two separate Redis
//! servers used as two "Upstash" databases (a gateway each).

use std::collections::BTreeMap;

use edgestock_core::keys::Keys;
use testkit::cluster::PrivateCluster;

use super::*;

/// Logical shards on the cluster: more than its primaries, as a deployment would have.
const SHARDS: u32 = 8;

async fn reserve_lines(s: &FullStack, lines: &[(&str, u32)], ip: &str, key: &str) -> (u16, Value) {
    let items: Vec<Value> = lines
        .iter()
        .map(|(sku, qty)| json!({"sku": sku, "qty": qty}))
        .collect();
    let res = s
        .http
        .post(s.edge("/v1/reservations"))
        .header("cf-connecting-ip", ip)
        .header("idempotency-key", key)
        .json(&json!({"items": items, "ttl_seconds": 600}))
        .send()
        .await
        .expect("reserve request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("reserve answers JSON"))
}

/// `n` shoppers race for `lines` at once; the answers by status, and the winners.
async fn race(
    s: &Arc<FullStack>,
    lines: &[(&str, u32)],
    n: usize,
    tag: &str,
) -> (BTreeMap<u16, usize>, Vec<Won>) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = s.clone();
            let lines: Vec<(String, u32)> =
                lines.iter().map(|(k, q)| ((*k).to_owned(), *q)).collect();
            let (ip, key) = (
                format!("10.{}.{}.{}", tag.len(), i / 200, i % 200),
                format!("{tag}-{i:04}-0123456789abcdef"),
            );
            tokio::spawn(async move {
                let lines: Vec<(&str, u32)> = lines.iter().map(|(k, q)| (k.as_str(), *q)).collect();
                let (status, body) = reserve_lines(&s, &lines, &ip, &key).await;
                (status, body, ip, key)
            })
        })
        .collect();
    let mut by_status = BTreeMap::new();
    let mut won = Vec::new();
    for t in tasks {
        let (status, body, ip, key) = t.await.unwrap();
        *by_status.entry(status).or_insert(0) += 1;
        if status == 201 {
            won.push(self::won(&body, key, ip));
        } else {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (409, Some("insufficient_stock")),
                "{body}"
            );
        }
    }
    (by_status, won)
}

/// A race for a pair of SKUs on two shards: never more winners than units, and whatever a
/// refused shopper's compensation gave back is then sold, exactly, to shoppers who come one by
/// one. (Two requests can each hold one SKU and lose the other, and both give back: a parallel
/// reserve across shards may refuse while units come back a round trip later; see
/// docs/sharding.md.) Answers every winner.
async fn settle_pair_race(
    s: &FullStack,
    pair: [&str; 2],
    units: usize,
    by_status: &BTreeMap<u16, usize>,
    mut won: Vec<Won>,
    tag: &str,
) -> Vec<Won> {
    let total: usize = by_status.values().sum();
    assert_eq!(by_status.get(&201).copied().unwrap_or(0), won.len());
    assert_eq!(
        by_status.get(&409).copied().unwrap_or(0),
        total - won.len(),
        "{by_status:?}"
    );
    assert!((1..=units).contains(&won.len()), "{by_status:?}");
    for sku in pair {
        assert_eq!(available(s, sku).await, (units - won.len()) as i64, "{sku}");
    }
    let lines = [(pair[0], 1), (pair[1], 1)];
    for i in 0.. {
        let (ip, key) = (
            format!("10.66.{}.{i}", tag.len()),
            format!("{tag}-late-{i:04}-0123456789ab"),
        );
        let (status, body) = reserve_lines(s, &lines, &ip, &key).await;
        if status == 409 {
            assert_eq!(body["error"]["code"], "insufficient_stock");
            break;
        }
        assert_eq!(status, 201, "{body}");
        won.push(self::won(&body, key, ip));
    }
    assert_eq!(won.len(), units, "every unit sold once");
    won
}

/// The winner a 201 reserve answer describes.
fn won(body: &Value, key: String, ip: String) -> Won {
    Won {
        id: body["reservation_id"].as_str().unwrap().into(),
        token: body["token"].as_str().unwrap().into(),
        key,
        ip,
        expires_at_ms: body["expires_at_ms"].as_i64().unwrap(),
    }
}

/// One SKU per cluster primary (`<tag>0`, `<tag>1`, …), by the stack's key layout.
fn sku_per_primary(cluster: &PrivateCluster, keys: &Keys, tag: &str) -> Vec<String> {
    cluster
        .ports
        .iter()
        .map(|&port| {
            (0..10_000)
                .map(|i| format!("{tag}{i}"))
                .find(|s| cluster.primary_of(&keys.stock(s)) == port)
                .expect("a SKU on every primary")
        })
        .collect()
}

async fn available(s: &FullStack, sku: &str) -> i64 {
    s.edge_stock(sku).await["available"].as_i64().unwrap_or(-1)
}

/// Places then confirms `w` (the shopper, then the backend).
async fn buy(s: &FullStack, w: &Won) {
    let (status, body) = post_token(
        s,
        &format!("/v1/reservations/{}/confirm", w.id),
        &w.token,
        &format!("o-{}", w.key),
        json!({}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = backend_confirm(s, &w.id).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_over_a_three_primary_cluster_is_exact_across_primaries_and_survives_a_lost_primary()
{
    let mut cluster = PrivateCluster::start();
    let s = Arc::new(FullStack::start_sharded(&[&cluster.url()], SHARDS, json!({}), &[]).await);
    let keys = Keys::new(s.prefix.clone()).with_shards(SHARDS);
    let skus = sku_per_primary(&cluster, &keys, "CL-");
    let (a, b, c) = (skus[0].as_str(), skus[1].as_str(), skus[2].as_str());
    for sku in &skus {
        s.put_sku(sku, 10, 1).await;
    }
    s.wait_until("seeded", || async { available(&s, c).await == 10 })
        .await;

    // 40 shoppers want one of A and one of B (on two primaries), 30 want C: exactly 10 each win.
    let (ab, cc) = ([(a, 1), (b, 1)], [(c, 1)]);
    let (pairs, c_race) = tokio::join!(race(&s, &ab, 40, "ab"), race(&s, &cc, 30, "cc"));
    let (by_status, won_ab) = pairs;
    let won_ab = settle_pair_race(&s, [a, b], 10, &by_status, won_ab, "ab").await;
    assert_eq!(c_race.0, BTreeMap::from([(201, 10), (409, 20)]));
    // A reservation of A and B names both shards, and each part lives on its own primary.
    assert!(
        won_ab.iter().all(|w| w.id.contains('.')),
        "ids name their shards"
    );
    assert_eq!(
        (
            available(&s, a).await,
            available(&s, b).await,
            available(&s, c).await
        ),
        (0, 0, 0)
    );

    // Three pairs bought, two released: the units add up on both primaries.
    for w in &won_ab[..3] {
        buy(&s, w).await;
    }
    for w in &won_ab[3..5] {
        let (status, body) = release(&s, w).await;
        assert_eq!(
            (status, body["released"].as_bool()),
            (200, Some(true)),
            "{body}"
        );
    }
    for sku in [a, b] {
        assert_eq!(available(&s, sku).await, 2, "{sku}");
        s.wait_until("the sales in the ledger", || async {
            ledger_on_hand(&s, sku).await == 7
        })
        .await;
    }
    // A reservation's GET reads every part.
    let w = &won_ab[5];
    let res = s
        .http
        .get(s.edge(&format!("/v1/reservations/{}", w.id)))
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["status"], "held");
    assert_eq!(view["items"].as_array().map(Vec::len), Some(2), "{view}");

    // C's primary dies mid-sale: reserves touching it fail with 503, the others keep selling.
    let port = cluster.primary_of(&keys.stock(c));
    cluster.kill(port);
    let (status, body) =
        reserve_lines(&s, &[(c, 1)], "10.99.0.1", "dead-c-0123456789abcdefgh").await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = reserve_lines(
        &s,
        &[(a, 1), (c, 1)],
        "10.99.0.2",
        "dead-ac-0123456789abcdefg",
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        available(&s, a).await,
        2,
        "the part on a live primary was given back"
    );
    let (status, body) =
        reserve_lines(&s, &[(a, 1)], "10.99.0.3", "live-a-0123456789abcdefgh").await;
    assert_eq!(status, 201, "{body}");

    // It comes back empty: 503 until the origin seeds it again by itself, then C sells what the
    // ledger says it has: nothing is oversold though the holds on it were lost.
    cluster.restart_empty(port);
    s.wait_until("C seeded again", || async { available(&s, c).await == 10 })
        .await;
    let (c_again, _) = race(&s, &[(c, 1)], 15, "c2").await;
    assert_eq!(c_again, BTreeMap::from([(201, 10), (409, 5)]));
    // The other shards that primary serves heal on their own too (C's may have been first);
    // the reconcile reads every shard.
    s.wait_until("every shard seeded again", || async {
        keys.all_shards().all(|shard| {
            let locs = keys.locations(shard);
            !cluster
                .on_primary_of(&locs, &["HGET", &locs, "~seeded"])
                .is_empty()
        })
    })
    .await;
    let reconcile = reconcile(&s).await;
    assert_eq!(reconcile["drifting"], 0, "{reconcile}");
    Arc::try_unwrap(s).expect("one owner").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_meets_a_partly_made_reservation_is_409_reservation_incomplete() {
    let cluster = PrivateCluster::start();
    let s = FullStack::start_sharded(&[&cluster.url()], SHARDS, json!({}), &[]).await;
    let keys = Keys::new(s.prefix.clone()).with_shards(SHARDS);
    let skus = sku_per_primary(&cluster, &keys, "RP-");
    let (a, b) = (skus[0].as_str(), skus[1].as_str());
    for sku in [a, b] {
        s.put_sku(sku, 5, 1).await;
    }
    s.wait_until("seeded", || async { available(&s, b).await == 5 })
        .await;
    let key = "partial-0123456789abcdefgh";
    let (status, body) = reserve_lines(&s, &[(a, 1), (b, 1)], "10.77.0.1", key).await;
    assert_eq!(status, 201, "{body}");
    let id = body["reservation_id"].as_str().unwrap().to_owned();
    // The part on B never got made (its primary did not answer the original request).
    let shard = keys.shard_of(b);
    let cli = |k: &str, args: &[&str]| cluster.on_primary_of(k, args);
    let (rsv, holds, stock) = (keys.reservation(shard, &id), keys.holds(b), keys.stock(b));
    assert_eq!(cli(&rsv, &["DEL", &rsv]), "1");
    assert_eq!(cli(&holds, &["ZREM", &holds, &format!("{id}|1")]), "1");
    assert_eq!(cli(&stock, &["HINCRBY", &stock, "reserved", "-1"]), "0");
    // The shopper's retry with the same key: every part released, a clear 409.
    let (status, body) = reserve_lines(&s, &[(a, 1), (b, 1)], "10.77.0.1", key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("reservation_incomplete")),
        "{body}"
    );
    assert_eq!((available(&s, a).await, available(&s, b).await), (5, 5));
    // A new key works.
    let (status, body) = reserve_lines(
        &s,
        &[(a, 1), (b, 1)],
        "10.77.0.1",
        "partial-new-0123456789abcd",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sale_on_two_redis_servers_as_two_upstash_databases() {
    let (one, two) = (PrivateRedis::start(), PrivateRedis::start());
    let s = Arc::new(FullStack::start_sharded(&[&one.url(), &two.url()], 2, json!({}), &[]).await);
    let keys = Keys::new(s.prefix.clone()).with_shards(2);
    let on = |shard: u32| {
        (0..100)
            .map(|i| format!("UP-{i}"))
            .find(|k| keys.shard_of(k).0 == shard)
            .unwrap()
    };
    let (a, b) = (on(0), on(1));
    for sku in [&a, &b] {
        s.put_sku(sku, 10, 1).await;
    }
    s.wait_until("seeded", || async { available(&s, &b).await == 10 })
        .await;
    // Each SKU is in its own database and nowhere else.
    let mut c1 = redis::Client::open(one.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut c2 = redis::Client::open(two.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists = |c: &mut redis::aio::MultiplexedConnection, k: String| {
        let mut c = c.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(k)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        (
            exists(&mut c1, keys.stock(&a)).await,
            exists(&mut c2, keys.stock(&a)).await
        ),
        (1, 0)
    );
    assert_eq!(
        (
            exists(&mut c1, keys.stock(&b)).await,
            exists(&mut c2, keys.stock(&b)).await
        ),
        (0, 1)
    );

    let (by_status, won) = race(&s, &[(&a, 1), (&b, 1)], 30, "up").await;
    let won = settle_pair_race(&s, [&a, &b], 10, &by_status, won, "up").await;
    for w in &won[..4] {
        buy(&s, w).await;
    }
    for w in &won[4..6] {
        assert_eq!(release(&s, w).await.0, 200);
    }
    for sku in [&a, &b] {
        assert_eq!(available(&s, sku).await, 2, "{sku}");
        s.wait_until("the sales in the ledger", || async {
            ledger_on_hand(&s, sku).await == 6
        })
        .await;
    }
    assert_eq!(reconcile(&s).await["drifting"], 0);
    Arc::try_unwrap(s).expect("one owner").stop().await;
}
