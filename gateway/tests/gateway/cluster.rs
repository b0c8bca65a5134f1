//! The gateway in front of a real three-primary Redis Cluster (`REDIS_URL=redis+cluster://…`):
//! commands go to their slot's node, a pipeline spanning slots comes back in order, a
//! transaction must stay in one slot, scripts load on every primary, and Redis itself refuses a
//! script that reaches into another slot.

use testkit::cluster::PrivateCluster;

use super::*;

fn keys(c: &PrivateCluster) -> Vec<String> {
    c.key_per_primary(&format!("{}k", prefix()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_a_pipeline_spanning_every_primary_come_back_in_order() {
    let cluster = PrivateCluster::start();
    let gw = start_with(&cluster.url(), |_| {}).await;
    let c = client(&gw, TOKEN);
    let k = keys(&cluster);
    // One key on each primary: three different nodes answer.
    let ports: std::collections::BTreeSet<u16> = k.iter().map(|k| cluster.primary_of(k)).collect();
    assert_eq!(ports.len(), 3);
    for (i, key) in k.iter().enumerate() {
        c.command(&cmd("SET").arg(key).arg(i as i64)).await.unwrap();
    }
    let mut batch = Vec::new();
    for key in &k {
        batch.push(cmd("INCR").arg(key));
    }
    batch.push(cmd("PING"));
    for key in k.iter().rev() {
        batch.push(cmd("GET").arg(key));
    }
    batch.push(cmd("HSET").arg(&k[1]).arg("f").arg("v"));
    batch.push(cmd("MGET").arg(&k[0]).arg(&k[2]));
    let items = c.pipeline(&batch).await.unwrap();
    let got: Vec<String> = items
        .iter()
        .map(|r| match r {
            Ok(v) => v
                .as_i64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("{v:?}")),
            Err(Error::Redis(m)) => m.split(' ').next().unwrap_or("").to_owned(),
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(
        got[..7],
        ["1", "2", "3", "PONG", "3", "2", "1"],
        "each reply at its command's place"
    );
    assert_eq!(got[7], "WRONGTYPE", "a command's error stays its own");
    assert_eq!(
        items[8].as_ref().unwrap().as_array().map(|a| a.len()),
        Some(2),
        "a multi-slot MGET"
    );
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_runs_in_one_slot_and_across_slots_is_a_clear_crossslot() {
    let cluster = PrivateCluster::start();
    let gw = start_with(&cluster.url(), |_| {}).await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let (a, b) = (format!("{p}{{tx}}a"), format!("{p}{{tx}}b"));
    let items = c
        .multi_exec(&[
            cmd("SET").arg(&a).arg("1"),
            cmd("INCR").arg(&a),
            cmd("SET").arg(&b).arg("x"),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1].as_ref().unwrap().as_i64(), Some(2));
    let k = keys(&cluster);
    let body = serde_json::to_string(&json!([["SET", k[0], "1"], ["SET", k[1], "2"]])).unwrap();
    let (status, _, answer) = raw(&gw, "/multi-exec", Some(TOKEN), &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().starts_with("CROSSSLOT"),
        "{answer}"
    );
    // Nothing of the refused transaction ran.
    assert_eq!(
        c.command(&cmd("EXISTS").arg(&k[0])).await.unwrap().as_i64(),
        Some(0)
    );
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_load_on_every_primary_and_redis_refuses_a_script_reaching_another_slot() {
    let cluster = PrivateCluster::start();
    let gw = start_with(&cluster.url(), |_| {}).await;
    let c = client(&gw, TOKEN);
    let src = "#!lua\nreturn redis.call('INCR', KEYS[1])";
    let sha = c
        .command(&cmd("SCRIPT").arg("LOAD").arg(src))
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    // EVALSHA works on every primary: the script was loaded on each.
    let k = keys(&cluster);
    for key in &k {
        let v = c
            .command(&cmd("EVALSHA").arg(&sha).arg(1i64).arg(key))
            .await
            .unwrap();
        assert_eq!(v.as_i64(), Some(1), "{key}");
    }
    // A primary that lost its script cache (a promoted replica, a restart) answers NOSCRIPT,
    // passed on as Redis's own error (not a 503): the client falls back to EVAL.
    assert_eq!(cluster.on_primary_of(&k[1], &["SCRIPT", "FLUSH"]), "OK");
    let err = c
        .command(&cmd("EVALSHA").arg(&sha).arg(1i64).arg(&k[1]))
        .await
        .unwrap_err();
    assert!(err.is_noscript(), "{err:?}");
    let script = Script {
        sha1: &sha,
        source: src,
    };
    let again = c.eval(script, &[k[1].clone()], &[], false).await.unwrap();
    assert_eq!(
        again.as_i64(),
        Some(2),
        "the EVAL fallback ran on that primary"
    );
    let v = c
        .command(&cmd("EVALSHA").arg(&sha).arg(1i64).arg(&k[1]))
        .await
        .unwrap();
    assert_eq!(v.as_i64(), Some(3), "and cached the script there again");
    // With its shebang kept, a script may touch only the slot of its declared keys.
    let reach = "#!lua\nredis.call('SET', KEYS[1], 1)\nreturn redis.call('SET', ARGV[1], 1)";
    let err = c
        .command(&cmd("EVAL").arg(reach).arg(1i64).arg(&k[0]).arg(&k[1]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Redis(m) if m.starts_with("ERR Script attempted to access a non local key")),
        "{err:?}"
    );
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_upstash_client_conformance_on_the_cluster() {
    let cluster = PrivateCluster::start();
    let gw = start_with(&cluster.url(), |c| c.readonly_token = Some(RO_TOKEN.into())).await;
    super::availability::conformance(&gw).await;
    gw.stop().await.unwrap();
}

/// A dead primary stops only its own slots, and fails them fast: its first command answers
/// 503 once the cluster client gives up, the next ones at once without trying (the breaker names
/// itself), while another primary's slots keep answering. Back, its slots answer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_primary_fails_its_slots_at_once_and_alone_until_it_is_back() {
    let mut cluster = PrivateCluster::start();
    let gw = start_with(&cluster.url(), |_| {}).await;
    let c = client(&gw, TOKEN);
    let k = keys(&cluster);
    for key in &k {
        c.command(&cmd("SET").arg(key).arg("v")).await.unwrap();
    }
    let port = cluster.primary_of(&k[1]);
    cluster.kill(port);
    let unavailable = |r: Result<Value, Error>| match r {
        Err(Error::Unavailable {
            status: 503,
            message,
        }) => message,
        other => panic!("{other:?}"),
    };
    let first = unavailable(c.command(&cmd("GET").arg(&k[1])).await);
    assert!(first.starts_with("ERR redis unavailable"), "{first}");
    for _ in 0..5 {
        let again = unavailable(c.command(&cmd("GET").arg(&k[1])).await);
        assert!(
            again.contains("the node serving this slot failed less than 1000 ms ago"),
            "{again}"
        );
        let alive = c.command(&cmd("GET").arg(&k[0])).await.unwrap();
        assert_eq!(alive.as_str(), Some("v"), "another primary's slot answers");
    }
    // A pipeline across slots: the dead slot's commands fail the request, which names it.
    let body = serde_json::to_string(&json!([["GET", k[0]], ["GET", k[1]]])).unwrap();
    let (status, _, answer) = raw(&gw, "/pipeline", Some(TOKEN), &body).await;
    assert_eq!(status, 503, "{answer}");

    cluster.restart_empty(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match c.command(&cmd("GET").arg(&k[1])).await {
            Ok(v) => {
                assert_eq!(v, Value::Nil, "back empty");
                break;
            }
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "the slot did not answer again: {e:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    gw.stop().await.unwrap();
}
