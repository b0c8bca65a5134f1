//! A failover on a Redis Cluster through the whole stack: the replica that takes over a primary
//! missed an acknowledged write (asynchronous replication), so its copy of a SKU drifts from the
//! ledger while its seeded marker is intact. The origin notices the new replication id of the
//! shard's Redis and reconciles that shard; the shop sells exactly the ledger's units after.

use std::process::Command;

use edgestock_core::keys::Keys;
use testkit::cluster::{cli, replication_field, PrivateCluster};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_promoted_after_missing_writes_is_detected_and_its_shard_reconciled() {
    let mut cluster = PrivateCluster::start();
    let s = FullStack::start_sharded(&[&cluster.url()], 8, json!({}), &[]).await;
    let keys = Keys::new(s.prefix.clone()).with_shards(8);
    let (sku, stock) = ("FO-1", keys.stock("FO-1"));
    s.put_sku(sku, 10, 1).await;
    s.wait_until("seeded", || async {
        s.edge_stock(sku).await["available"] == 10
    })
    .await;
    let primary = cluster.primary_of(&stock);
    let replica = cluster.add_replica(primary);

    // A bad write reaches both (on_hand 7 where the ledger says 10). Then the replica stalls,
    // its link is cut, and the primary fixes the value and acknowledges: the replica never gets
    // the fix, and the primary dies before it can.
    assert_eq!(cli(primary, &["HINCRBY", &stock, "on_hand", "-3"]), "7");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while replication_field(replica, "slave_repl_offset")
        != replication_field(primary, "master_repl_offset")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "replica never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stall = Command::new("redis-cli")
        .args(["-p", &replica.to_string(), "DEBUG", "SLEEP", "2"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        cli(primary, &["CLIENT", "KILL", "TYPE", "replica"])
            .parse::<i64>()
            .unwrap()
            >= 1
    );
    assert_eq!(cli(primary, &["HINCRBY", &stock, "on_hand", "3"]), "10");
    cluster.kill(primary);
    stall.wait().unwrap();
    cluster.promote(replica);
    assert_eq!(
        cli(replica, &["HGET", &stock, "on_hand"]),
        "7",
        "the fix was lost"
    );

    // The new primary has 7; its seeded marker is the one the origin wrote, so only the new
    // replication id tells. The origin reconciles the shard: 10 again.
    s.wait_until("the failed-over shard reconciled", || async {
        s.edge_stock(sku).await["available"] == 10
    })
    .await;
    assert_eq!(cli(replica, &["HGET", &stock, "on_hand"]), "10");
    let (mut sold, mut refused) = (0, 0);
    for i in 0..12 {
        let (ip, key) = (
            format!("10.55.0.{i}"),
            format!("fo-{i:04}-0123456789abcdefgh"),
        );
        match reserve_once(&s, sku, &ip, &key, 600).await {
            (201, _) => sold += 1,
            (409, b) if b["error"]["code"] == "insufficient_stock" => refused += 1,
            (status, body) => panic!("{status} {body}"),
        }
    }
    assert_eq!((sold, refused), (10, 2), "exactly the ledger's units sold");
    s.stop().await;
}
