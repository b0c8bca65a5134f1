//! The origin keeps every logical shard seeded: a shard that comes back empty, or a database
//! whose seeded marker names an older seeding (a failover to a replica that missed writes), is
//! noticed by the sweeper and seeded again from the ledger, its placed orders pinned again,
//! under a new epoch; the other shards are left alone.

use std::time::Duration;

use edgestock_core::domain::Sku;
use edgestock_core::keys::{Keys, ShardId};
use edgestock_core::scripts::{Line, ReserveOutcome, ReserveRequest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use upstash_rest::cmd;

use crate::helpers::{
    eventually, pool, spawn_gateway, test_config, unique_prefix, DownGateway, Env, TestApp,
};

/// Four shards on one Redis.
const SHARDS: &str = "4";

/// On-hand of `sku` as Redis reads it; `None` while its shard is not seeded.
async fn on_hand(app: &TestApp, sku: &str) -> Option<i64> {
    let sku = edgestock_core::domain::Sku::parse(sku).unwrap();
    app.state
        .redis
        .stock(&[sku])
        .await
        .ok()
        .map(|l| l[0].on_hand)
}

async fn epoch_in_postgres(app: &TestApp, shard: ShardId) -> String {
    sqlx::query_scalar("select epoch from redis_shards where shard = $1")
        .bind(shard.0 as i32)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// A counter's value in a `/metrics` text (0 when the series does not exist yet).
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Two SKUs on two different shards.
fn two_skus_on_two_shards(keys: &Keys) -> (String, String) {
    let a = "SH-0".to_owned();
    let b = (1..100)
        .map(|i| format!("SH-{i}"))
        .find(|s| keys.shard_of(s) != keys.shard_of(&a))
        .unwrap();
    (a, b)
}

#[sqlx::test(migrations = false)]
async fn an_emptied_or_replaced_shard_is_seeded_again_and_only_that_one(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[("REDIS_SHARDS", SHARDS)])).await;
    let keys = app.state.redis.keys().clone();
    assert_eq!(keys.shard_count(), 4);
    let (a, b) = two_skus_on_two_shards(&keys);
    let (sa, sb) = (keys.shard_of(&a), keys.shard_of(&b));
    app.create_sku(&a, 5).await;
    app.create_sku(&b, 7).await;
    eventually(Duration::from_secs(5), "both stocked", || async {
        on_hand(&app, &a).await == Some(5) && on_hand(&app, &b).await == Some(7)
    })
    .await;
    // Every shard carries the epoch Postgres recorded for it.
    for shard in keys.all_shards() {
        let marker = app.state.redis.seeded_epoch(shard).await.unwrap().unwrap();
        let want = epoch_in_postgres(&app, shard).await;
        assert_eq!(marker, format!("{}/4/{want}", shard.0));
    }
    let b_epoch = epoch_in_postgres(&app, sb).await;

    // A's shard comes back empty: its stock and its seeded marker are gone.
    let redis = &app.state.redis;
    for key in [keys.stock(&a), keys.locations(sa)] {
        redis.client().command(&cmd("DEL").arg(key)).await.unwrap();
    }
    // Until the sweeper notices, a reserve there answers `shard_unseeded` (it may already have).
    match crate::helpers::try_reserve_at(redis, &a, 1, None).await {
        ReserveOutcome::ShardUnseeded(s) => assert_eq!(s, sa),
        ReserveOutcome::Held(_) => {}
        other => panic!("{other:?}"),
    }
    eventually(Duration::from_secs(5), "A's shard seeded again", || async {
        on_hand(&app, &a).await == Some(5)
    })
    .await;
    let healed = redis.seeded_epoch(sa).await.unwrap().unwrap();
    assert_eq!(
        healed,
        format!("{}/4/{}", sa.0, epoch_in_postgres(&app, sa).await)
    );
    // B's shard was not touched: same epoch.
    assert_eq!(epoch_in_postgres(&app, sb).await, b_epoch);

    // B's database is replaced by a copy from before the last seeding (a failover that lost
    // writes): an old marker, and on-hand that drifted from the ledger.
    let stale = format!("{}/4/stale-epoch", sb.0);
    redis
        .client()
        .command(
            &cmd("HSET")
                .arg(keys.locations(sb))
                .arg("~seeded")
                .arg(&stale),
        )
        .await
        .unwrap();
    redis
        .client()
        .command(&cmd("HSET").arg(keys.stock(&b)).arg("on_hand").arg(3))
        .await
        .unwrap();
    // Its stale marker still names this shard and layout, so reads answer meanwhile: wait for
    // the whole heal (on-hand, then the new epoch in Postgres, then in Redis), not its first step.
    eventually(Duration::from_secs(5), "B's shard seeded again", || async {
        let epoch = epoch_in_postgres(&app, sb).await;
        on_hand(&app, &b).await == Some(7)
            && epoch != b_epoch
            && redis.seeded_epoch(sb).await.unwrap() == Some(format!("{}/4/{epoch}", sb.0))
    })
    .await;
    app.stop().await;
}

/// A shard that comes back empty gets its placed orders' holds back, and healing it visits only
/// the orders with a part on it: an order on another shard costs no Redis call (with thousands of
/// placed orders, the emptied shard answers again that much sooner).
#[sqlx::test(migrations = false)]
async fn healing_a_shard_pins_again_the_placed_orders_on_it_and_no_other(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let env = Env::new().await;
    let app = TestApp::spawn(pool(opts, c).await, env.config(&[("REDIS_SHARDS", SHARDS)])).await;
    let keys = app.state.redis.keys().clone();
    let (a, b) = two_skus_on_two_shards(&keys);
    let sa = keys.shard_of(&a);
    app.create_sku(&a, 5).await;
    app.create_sku(&b, 7).await;
    eventually(Duration::from_secs(5), "both stocked", || async {
        on_hand(&app, &a).await == Some(5) && on_hand(&app, &b).await == Some(7)
    })
    .await;
    let (ra, rb) = (app.reserve(&a, 2).await, app.reserve(&b, 3).await);
    for rid in [&ra, &rb] {
        let (s, placed) = app.place(rid).await;
        assert_eq!(
            (s, placed["status"].as_str()),
            (201, Some("PENDING_PAYMENT")),
            "{placed}"
        );
    }

    // The sweeper's first pass seeded every shard of the fresh Redis: heals counted so far.
    let empty_heals = "origin_shard_heals_total{kind=\"empty\"}";
    let metrics = app.metrics().await;
    let before = counter(&metrics, empty_heals);
    assert_eq!(before, 4);
    // The series the alerts watch exist from the start, at 0: an alert's `increase` sees the
    // first event (a series that appears at 1 has none).
    for line in [
        "origin_shard_heals_total{kind=\"failed_over\"} 0\n",
        "origin_repins_total{outcome=\"short\"} 0\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }

    // A's shard comes back empty: its settings, stock, holds and reservation records are gone.
    let redis = &app.state.redis;
    for key in [
        keys.locations(sa),
        keys.stock(&a),
        keys.holds(&a),
        keys.reservation(sa, &ra),
    ] {
        redis.client().command(&cmd("DEL").arg(key)).await.unwrap();
    }
    eventually(Duration::from_secs(5), "A's shard seeded again", || async {
        on_hand(&app, &a).await == Some(5)
    })
    .await;
    assert_eq!(
        app.redis_level(&a).await,
        (5, 2),
        "A's placed units held again"
    );
    assert_eq!(app.redis_level(&b).await, (7, 3), "B untouched");
    let metrics = app.metrics().await;
    assert_eq!(
        counter(&metrics, empty_heals),
        before + 1,
        "one shard healed"
    );
    // A's order pinned again; B's, on a healthy shard, not visited (it would count `present`).
    for (outcome, want) in [("repinned", 1), ("present", 0), ("short", 0)] {
        let name = format!("origin_repins_total{{outcome=\"{outcome}\"}}");
        assert_eq!(counter(&metrics, &name), want, "{name} in\n{metrics}");
    }
    // Both orders still confirm from their holds.
    for rid in [&ra, &rb] {
        let (s, body) = app.confirm(rid).await;
        assert_eq!((s, body["late"].as_bool()), (201, Some(false)), "{body}");
    }
    app.stop().await;
}

/// Two shards on two Redis endpoints, and an order placed with a part on each. Shard 0's Redis
/// goes away and shard 1's comes back empty: shard 1 is seeded again and its part of the order
/// held again while shard 0 is still unreachable (the sweeper used to stop at the first shard it
/// could not check, and a re-pin of the whole order failed on the part it could not reach).
#[sqlx::test(migrations = false)]
async fn a_shard_that_cannot_be_reached_does_not_keep_the_others_from_healing(
    opts: PgPoolOptions,
    c: PgConnectOptions,
) {
    let (g0, g1) = (
        spawn_gateway("127.0.0.1:0").await,
        spawn_gateway("127.0.0.1:0").await,
    );
    let urls = format!("{},{}", g0.url(), g1.url());
    let config = test_config(&urls, &unique_prefix(), &[("REDIS_SHARDS", "2")]);
    let app = TestApp::spawn(pool(opts, c).await, config).await;
    let keys = app.state.redis.keys().clone();
    let on = |shard| {
        (0..100)
            .map(|i| format!("SH-{i}"))
            .find(|s| keys.shard_of(s) == ShardId(shard))
            .unwrap()
    };
    let (zero, one) = (on(0), on(1));
    app.create_sku(&zero, 5).await;
    app.create_sku(&one, 5).await;
    eventually(Duration::from_secs(5), "stocked", || async {
        on_hand(&app, &zero).await == Some(5) && on_hand(&app, &one).await == Some(5)
    })
    .await;
    let rid = reserve_lines(&app, &[(&zero, 1), (&one, 2)]).await;
    let (s, placed) = app.place(&rid).await;
    assert_eq!(
        (s, placed["status"].as_str()),
        (201, Some("PENDING_PAYMENT")),
        "{placed}"
    );

    let down = DownGateway::stop(g0).await;
    let shard_one = app.state.redis.client_for(ShardId(1));
    for key in [
        keys.locations(ShardId(1)),
        keys.stock(&one),
        keys.holds(&one),
        keys.reservation(ShardId(1), &rid),
    ] {
        shard_one.command(&cmd("DEL").arg(key)).await.unwrap();
    }
    eventually(Duration::from_secs(5), "shard 1 seeded again", || async {
        on_hand(&app, &one).await == Some(5)
    })
    .await;
    assert_eq!(
        app.redis_level(&one).await,
        (5, 2),
        "its part of the order held again"
    );
    assert!(
        app.state.redis.seeded_epoch(ShardId(0)).await.is_err(),
        "shard 0 is still unreachable"
    );
    let _g0 = down.restart().await;
    assert_eq!(
        app.redis_level(&zero).await,
        (5, 1),
        "the other part never moved"
    );
    app.stop().await;
}

/// Holds `lines` in one reservation (across shards when their SKUs are); answers its id.
async fn reserve_lines(app: &TestApp, lines: &[(&str, u32)]) -> String {
    let req = ReserveRequest {
        id: uuid::Uuid::now_v7().to_string(),
        fingerprint: "fp".into(),
        items: lines
            .iter()
            .map(|(sku, qty)| Line {
                sku: Sku::parse(sku).unwrap(),
                qty: *qty,
            })
            .collect(),
        pickup: None,
        ttl_ms: 60_000,
        max_hold_ms: 600_000,
        rate_limit: None,
        customer: None,
        cap: None,
        owner: "test".into(),
    };
    match app.state.redis.reserve(&req).await.expect("reserve") {
        ReserveOutcome::Held(h) => h.id,
        out => panic!("reserve: {out:?}"),
    }
}
