//! Adjust, seed, events, contention, expiry with no sweeper, the sweep, and input bounds.

use super::*;

#[test]
fn adjust_is_idempotent_and_never_below_reserved_seed_keeps_holds() {
    block(async {
        let e = engine();
        let a = sku("A");
        assert_eq!(
            e.adjust(&a, &Location::default(), 10, "m1").await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 10,
                reserved: 0
            }
        );
        assert_eq!(
            e.adjust(&a, &Location::default(), 10, "m1").await.unwrap(),
            LevelOutcome::Duplicate {
                on_hand: 10,
                reserved: 0
            }
        );
        e.reserve(&request("h", vec![item("A", 6)], 60_000))
            .await
            .unwrap();
        assert_eq!(
            e.adjust(&a, &Location::default(), -5, "m2").await.unwrap(),
            LevelOutcome::BelowReserved {
                on_hand: 10,
                reserved: 6
            }
        );
        assert_eq!(
            e.adjust(&a, &Location::default(), -4, "m3").await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 6,
                reserved: 6
            }
        );
        assert_eq!(
            e.seed(&a, &Location::default(), 20, 3).await.unwrap(),
            LevelOutcome::Applied {
                on_hand: 20,
                reserved: 6
            }
        );
        assert_eq!(available(&e, "A").await, 14, "seed kept the live hold");
        assert_eq!(
            e.seed(&a, &Location::default(), 2, 3).await.unwrap(),
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
        e.seed(&sku("A"), &Location::default(), 3, 1).await.unwrap();
        e.reserve(&request("ev", vec![item("A", 2)], 30_000))
            .await
            .unwrap(); // 1 left: low
        e.reserve(&request("ev2", vec![item("A", 1)], 60_000))
            .await
            .unwrap(); // 0 left: sold out
        e.release("ev2", false).await.unwrap(); // back in stock
        let ext = e.extend("ev", 1000).await.unwrap();
        assert!(matches!(ext, ExtendOutcome::Extended { .. }), "{ext:?}");
        let evs = e.events_after(ShardId(0), "0", 100).await.unwrap();
        let kinds: Vec<(&str, i64)> = evs.iter().map(|e| (e.kind.as_str(), e.qty)).collect();
        // Exactly these, in this order: a level event only when the level moves.
        assert_eq!(
            kinds,
            [
                ("stock_adjusted", 3),
                ("low_stock", 1),
                ("hold_created", 2),
                ("sold_out", 0),
                ("hold_created", 1),
                ("back_in_stock", 1),
                ("hold_released", 1),
                ("hold_extended", 2),
            ]
        );
        let created = evs.iter().find(|e| e.kind == "hold_created").unwrap();
        assert_eq!(
            (
                created.sku.as_str(),
                created.reservation_id.as_str(),
                created.qty
            ),
            ("A", "ev", 2)
        );
        let after = e.events_after(ShardId(0), &evs[2].id, 100).await.unwrap();
        assert_eq!(after.len(), evs.len() - 3);
    });
}

#[test]
fn contention_200_concurrent_reserves_for_37_units_through_the_gateway() {
    block(async {
        let e = std::sync::Arc::new(engine());
        e.seed(&sku("HOT"), &Location::default(), 37, 5)
            .await
            .unwrap();
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
        e.seed(&sku("A"), &Location::default(), 2, 0).await.unwrap();
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
            e.seed(&sku(s), &Location::default(), 5, 0).await.unwrap();
            e.reserve(&request(&format!("sw{s}"), vec![item(s, 2)], 1_000))
                .await
                .unwrap();
        }
        e.reserve(&request("swlong", vec![item("S3", 1)], 600_000))
            .await
            .unwrap();
        assert_eq!(
            e.sweep(ShardId(0), 100).await.unwrap(),
            SweepReport::default(),
            "nothing due yet"
        );
        e.set_clock_offset_ms(5_000);
        assert_eq!(
            e.sweep(ShardId(0), 100).await.unwrap(),
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
        let idx: Vec<String> = r
            .zrange(e.keys().sweep_index(ShardId(0)), 0, -1)
            .await
            .unwrap();
        assert_eq!(
            idx,
            vec!["S3".to_owned()],
            "only the SKU with a live hold stays indexed"
        );
        assert_eq!(
            e.sweep(ShardId(0), 100).await.unwrap(),
            SweepReport::default()
        );
    });
}

#[test]
fn scripts_bound_their_own_input() {
    block(async {
        let e = engine();
        // The typed wrapper refuses first; the script refuses on its own too.
        let many: Vec<Sku> = (0..101).map(|i| sku(&format!("S{i}"))).collect();
        assert!(e.stock(&many).await.is_err());
        let keys: Vec<String> = (0..202)
            .map(|i| format!("{}{{s0}}k{i}", e.keys().prefix()))
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
        assert!(e.commit("no-parts", &[]).await.is_err());
    });
}

/// Creating or seeding a SKU anew starts it at its level (no event); changing the threshold
/// alone crosses nothing; only units moving emit.
#[test]
fn a_new_sku_and_a_threshold_change_emit_no_level_event() {
    block(async {
        let e = engine();
        e.seed(&sku("Z"), &Location::default(), 0, 2).await.unwrap(); // new and empty: no sold_out
        e.adjust(&sku("N"), &Location::default(), 1, "mv-n")
            .await
            .unwrap(); // new, 1 unit: no back_in_stock
        e.seed(&sku("Z"), &Location::default(), 5, 2).await.unwrap(); // units arrive after none: back in stock
        e.seed(&sku("Z"), &Location::default(), 5, 6).await.unwrap(); // threshold above availability: nothing
        e.reserve(&request("z1", vec![item("Z", 5)], 30_000))
            .await
            .unwrap(); // 0: sold out
        let evs = e.events_after(ShardId(0), "0", 100).await.unwrap();
        let levels: Vec<(&str, &str, i64)> = evs
            .iter()
            .filter(|e| matches!(e.kind.as_str(), "low_stock" | "sold_out" | "back_in_stock"))
            .map(|e| (e.kind.as_str(), e.sku.as_str(), e.qty))
            .collect();
        assert_eq!(levels, [("back_in_stock", "Z", 5), ("sold_out", "Z", 0)]);
    });
}
