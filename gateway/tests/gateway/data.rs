//! Data through the gateway: strings, hashes, sorted sets, binary values, pipelines, transactions, scripts.

use super::*;

#[tokio::test]
async fn strings_hashes_sorted_sets_through_our_client() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}s");
    assert_eq!(
        c.command(&cmd("SET").arg(&k).arg("OK")).await.unwrap(),
        Value::Bytes(b"OK".to_vec())
    );
    // A stored "OK" comes back as data (base64 on the wire), not as the status reply.
    assert_eq!(
        c.command(&cmd("GET").arg(&k)).await.unwrap().as_str(),
        Some("OK")
    );
    assert_eq!(
        c.command(&cmd("GET").arg(format!("{p}missing")))
            .await
            .unwrap(),
        Value::Nil
    );
    assert_eq!(
        c.command(&cmd("INCRBY").arg(format!("{p}n")).arg(41i64))
            .await
            .unwrap()
            .as_i64(),
        Some(41)
    );
    let h = format!("{p}h");
    c.command(
        &cmd("HSET")
            .arg(&h)
            .arg("on_hand")
            .arg(10i64)
            .arg("reserved")
            .arg(0i64),
    )
    .await
    .unwrap();
    let all = c.command(&cmd("HGETALL").arg(&h)).await.unwrap();
    let strs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(strs, ["on_hand", "10", "reserved", "0"]);
    let z = format!("{p}z");
    c.command(&cmd("ZADD").arg(&z).arg(2i64).arg("b").arg(1i64).arg("a"))
        .await
        .unwrap();
    let r = c
        .command(&cmd("ZRANGE").arg(&z).arg(0i64).arg(-1i64).arg("WITHSCORES"))
        .await
        .unwrap();
    let strs: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(strs, ["a", "1", "b", "2"]);
    // Redis's own error text comes back verbatim.
    match c.command(&cmd("INCR").arg(&h)).await {
        Err(Error::Redis(msg)) => assert!(msg.starts_with("WRONGTYPE"), "{msg}"),
        other => panic!("expected a Redis error, got {other:?}"),
    }
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn binary_values_round_trip_through_base64() {
    let gw = start().await;
    let p = prefix();
    // Store bytes that are not UTF-8 with a path-style POST (raw body = value).
    let res = reqwest::Client::new()
        .post(format!("{}/set/{p}bin", gw.url()))
        .bearer_auth(TOKEN)
        .body(vec![0u8, 0xff, 0xfe, b'a'])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _, body) = raw(
        &gw,
        "/",
        Some(TOKEN),
        &json!(["GET", format!("{p}bin")]).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"result": "AP/+YQ=="}));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn pipeline_keeps_order_and_answers_each_command() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}k");
    let items = c
        .pipeline(&[
            cmd("SET").arg(&k).arg("1"),
            cmd("INCR").arg(&k),
            cmd("HSET").arg(&k).arg("f").arg("v"),
            cmd("SELECT").arg("1"),
            cmd("GET").arg(&k),
        ])
        .await
        .unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[1].as_ref().unwrap().as_i64(), Some(2));
    assert!(matches!(&items[2], Err(Error::Redis(m)) if m.starts_with("WRONGTYPE")));
    assert!(matches!(&items[3], Err(Error::Redis(m)) if m.contains("'select' is not supported")));
    assert_eq!(items[4].as_ref().unwrap().as_str(), Some("2"));
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn multi_exec_is_atomic_and_a_discarded_transaction_is_a_400() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    let k = format!("{p}k");
    let items = c
        .multi_exec(&[
            cmd("SET").arg(&k).arg("1"),
            cmd("INCR").arg(&k),
            cmd("LPUSH").arg(&k).arg("x"),
        ])
        .await
        .unwrap();
    assert_eq!(items[1].as_ref().unwrap().as_i64(), Some(2));
    // A run-time error does not stop the others (Redis semantics).
    assert!(matches!(&items[2], Err(Error::Redis(m)) if m.starts_with("WRONGTYPE")));

    // A queue-time error (here a wrong arity) discards everything: 400 {error}, nothing written.
    let k2 = format!("{p}k2");
    let body = json!([["SET", k2, "1"], ["INCR"]]).to_string();
    let (status, _, body) = raw(&gw, "/multi-exec", Some(TOKEN), &body).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("EXECABORT"),
        "{body}"
    );
    assert_eq!(
        c.command(&cmd("EXISTS").arg(&k2)).await.unwrap().as_i64(),
        Some(0)
    );

    // Concurrent transactions never nest (the classic shared-connection bug).
    let counter = format!("{p}c");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                c.multi_exec(&[cmd("INCR").arg(&counter), cmd("INCR").arg(&counter)])
                    .await
            })
        })
        .collect();
    for t in tasks {
        let items = t.await.unwrap().expect("no nested MULTI");
        let (a, b) = (
            items[0].as_ref().unwrap().as_i64().unwrap(),
            items[1].as_ref().unwrap().as_i64().unwrap(),
        );
        assert_eq!(b, a + 1, "the two INCRs of one transaction are adjacent");
    }
    assert_eq!(
        c.command(&cmd("GET").arg(&counter)).await.unwrap().as_str(),
        Some("100")
    );
    gw.stop().await.unwrap();
}

#[tokio::test]
async fn evalsha_falls_back_to_eval_and_shebang_aliases_keep_the_client_sha() {
    let gw = start().await;
    let c = client(&gw, TOKEN);
    let p = prefix();
    // Unique source so the script is not cached yet.
    let src: &'static str = Box::leak(
        format!(
            "#!lua flags=allow-key-locking\n-- {p}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])"
        )
        .into_boxed_str(),
    );
    let sha = sha1_smol::Sha1::from(src).digest().to_string();
    let script = Script {
        sha1: &sha,
        source: src,
    };
    let keys = [format!("{p}n")];
    let v = c.eval(script, &keys, &["5".into()], false).await.unwrap();
    assert_eq!(v.as_i64(), Some(5));
    // Now EVALSHA with the client's own SHA1 (of the flagged source) hits.
    let v = c
        .command(
            &cmd("EVALSHA")
                .arg(script.sha1)
                .arg(1i64)
                .arg(&keys[0])
                .arg("1"),
        )
        .await
        .unwrap();
    assert_eq!(v.as_i64(), Some(6));
    // SCRIPT LOAD answers the client's SHA1 too, and SCRIPT EXISTS knows it.
    assert_eq!(c.script_load(src).await.unwrap(), script.sha1);
    let e = c
        .command(&cmd("SCRIPT").arg("EXISTS").arg(script.sha1))
        .await
        .unwrap();
    assert_eq!(e.as_array().unwrap()[0].as_i64(), Some(1));
    // Read-only variant with a no-writes script.
    let ro: &'static str = Box::leak(
        format!(
            "#!lua flags=no-writes,allow-key-locking\n-- {p}\nreturn redis.call('GET', KEYS[1])"
        )
        .into_boxed_str(),
    );
    let ro_sha = sha1_smol::Sha1::from(ro).digest().to_string();
    let ro = Script {
        sha1: &ro_sha,
        source: ro,
    };
    // The read-only token runs a script only by SHA1, once another token has cached it.
    let ro_client = client(&gw, RO_TOKEN);
    // Before that its EVALSHA_RO finds nothing and its EVAL_RO fallback is refused.
    match ro_client.eval(ro, &keys, &[], true).await {
        Err(Error::Redis(m)) => assert_eq!(
            m,
            "NOPERM this user has no permissions to run the 'eval_ro' command"
        ),
        other => panic!("{other:?}"),
    }
    let v = c.eval(ro, &keys, &[], true).await.unwrap();
    assert_eq!(v.as_str(), Some("6"));
    let v = ro_client.eval(ro, &keys, &[], true).await.unwrap();
    assert_eq!(v.as_str(), Some("6"));
    gw.stop().await.unwrap();
}
