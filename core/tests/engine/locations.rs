//! Locations: allocation by priority with splits, pickups, settings changes, transfers, the
//! per-location read, and state written before locations existed.

use super::*;

fn settings(all: &[(&str, i32, bool, bool, bool)]) -> Vec<LocationSettings> {
    all.iter()
        .map(|(code, priority, active, ships, pickup)| LocationSettings {
            code: loc(code),
            name: format!("Name of {code}"),
            priority: *priority,
            active: *active,
            ships: *ships,
            pickup: *pickup,
        })
        .collect()
}

/// Three locations: wh-a (3), wh-b (5), store (2, ships and pickup), then `default` last with 0.
async fn three(e: &Engine<ReqwestTransport>, s: &str) {
    e.put_locations(&settings(&[
        ("default", 9, true, true, false),
        ("wh-b", 2, true, true, false),
        ("wh-a", 1, true, true, false),
        ("store", 3, true, true, true),
    ]))
    .await
    .unwrap();
    for (l, n) in [("wh-a", 3), ("wh-b", 5), ("store", 2)] {
        e.adjust(&sku(s), &loc(l), n, &format!("in-{s}-{l}"))
            .await
            .unwrap();
    }
}

fn parts(v: &[(&str, u32, &str)]) -> Vec<Item> {
    v.iter()
        .map(|(s, q, l)| Item {
            sku: sku(s),
            qty: *q,
            location: loc(l),
        })
        .collect()
}

/// One location's counters of a SKU.
async fn level_at(e: &Engine<ReqwestTransport>, s: &str, l: &str) -> LocationLevel {
    e.stock_by_location(&sku(s))
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.location.as_str() == l)
        .unwrap_or_else(|| panic!("{s} has no counters at {l}"))
}

fn held(out: ReserveOutcome) -> Hold {
    match out {
        ReserveOutcome::Held(h) => h,
        other => panic!("not held: {other:?}"),
    }
}

#[test]
fn a_line_is_split_by_priority_and_every_later_call_acts_on_the_recorded_parts() {
    block(async {
        let e = engine();
        three(&e, "A").await;
        assert_eq!(available(&e, "A").await, 10);
        let h = held(
            e.reserve(&request("r1", vec![item("A", 4)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(h.items, parts(&[("A", 3, "wh-a"), ("A", 1, "wh-b")]));
        // The next one skips the emptied wh-a.
        let h2 = held(
            e.reserve(&request("r2", vec![item("A", 5)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(h2.items, parts(&[("A", 4, "wh-b"), ("A", 1, "store")]));
        // A replay answers the stored allocation, even after the settings change.
        e.put_locations(&settings(&[
            ("default", 0, true, true, false),
            ("store", 0, true, true, true),
        ]))
        .await
        .unwrap();
        let again = held(
            e.reserve(&request("r1", vec![item("A", 4)], 10_000))
                .await
                .unwrap(),
        );
        assert!(again.replay);
        assert_eq!(again.items, h.items);
        assert_eq!(e.reservation("r1").await.unwrap().unwrap().items, h.items);
        // Restore the four-location settings, then release: each part goes back where it came
        // from.
        three(&e, "B").await;
        e.release("r1", false).await.unwrap();
        let at = |l: &'static str| level_at(&e, "A", l);
        assert_eq!(
            (at("wh-a").await.on_hand, at("wh-a").await.reserved),
            (3, 0)
        );
        assert_eq!(
            (at("wh-b").await.on_hand, at("wh-b").await.reserved),
            (5, 4)
        );
        assert_eq!(
            (at("store").await.on_hand, at("store").await.reserved),
            (2, 1)
        );
        // Commit of r2 sells at wh-b and store only.
        assert_eq!(
            e.commit("r2", &h2.items).await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!((at("wh-b").await.on_hand, at("wh-b").await.sold), (1, 4));
        assert_eq!((at("store").await.on_hand, at("store").await.sold), (1, 1));
        assert_eq!((at("wh-a").await.on_hand, at("wh-a").await.sold), (3, 0));
    });
}

#[test]
fn a_pickup_takes_every_line_from_its_store_or_nothing() {
    block(async {
        let e = engine();
        three(&e, "A").await;
        e.put_locations(&settings(&[
            ("default", 9, true, true, false),
            ("wh-a", 1, true, true, false),
            ("wh-b", 2, true, true, false),
            ("store", 3, true, true, true),
            ("empty", 4, true, false, true),
            ("closed", 5, false, false, true),
            ("nopick", 6, true, true, false),
        ]))
        .await
        .unwrap();
        let mut req = request("p1", vec![item("A", 1)], 10_000);
        req.pickup = Some(loc("empty"));
        assert_eq!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::Insufficient {
                sku: "A".into(),
                available: 0,
                location: Some(loc("empty")),
            },
            "0 at the store although the warehouses have 8"
        );
        for (code, want) in [
            ("closed", ReserveOutcome::LocationUnavailable(loc("closed"))),
            ("nopick", ReserveOutcome::LocationUnavailable(loc("nopick"))),
            ("nowhere", ReserveOutcome::UnknownLocation(loc("nowhere"))),
        ] {
            req.pickup = Some(loc(code));
            assert_eq!(e.reserve(&req).await.unwrap(), want, "{code}");
        }
        assert_eq!(
            e.reservation("p1").await.unwrap(),
            None,
            "refusals record nothing"
        );
        assert_eq!(available(&e, "A").await, 10, "refusals hold nothing");
        req.pickup = Some(loc("store"));
        req.items = vec![item("A", 2)];
        let h = held(e.reserve(&req).await.unwrap());
        assert_eq!(h.items, parts(&[("A", 2, "store")]));
        let (level, pickup) = e.stock_with_locations(&sku("A")).await.unwrap();
        assert_eq!(level.on_hand - level.reserved, 8);
        let got: Vec<_> = pickup
            .iter()
            .map(|p| (p.location.as_str(), p.name.as_str(), p.available))
            .collect();
        assert_eq!(
            got,
            [("store", "Name of store", 0), ("empty", "Name of empty", 0)]
        );
    });
}

#[test]
fn deactivation_applies_to_the_next_reserve_and_live_holds_keep_their_location() {
    block(async {
        let e = engine();
        three(&e, "A").await;
        let h = held(
            e.reserve(&request("d1", vec![item("A", 2)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(h.items, parts(&[("A", 2, "wh-a")]));
        e.put_locations(&settings(&[
            ("default", 9, true, true, false),
            ("wh-a", 1, false, true, false),
            ("wh-b", 2, true, true, false),
            ("store", 3, true, true, true),
        ]))
        .await
        .unwrap();
        assert_eq!(available(&e, "A").await, 7, "wh-a no longer counts");
        let h2 = held(
            e.reserve(&request("d2", vec![item("A", 1)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(h2.items, parts(&[("A", 1, "wh-b")]));
        // The hold at the inactive location commits there.
        let (_, items) = e.pin("d1", 10_000, 5_000).await.unwrap();
        assert_eq!(items, h.items);
        assert_eq!(
            e.commit("d1", &items).await.unwrap(),
            CommitOutcome::Committed
        );
        let wa = level_at(&e, "A", "wh-a").await;
        assert_eq!((wa.on_hand, wa.reserved, wa.sold), (1, 0, 2));
    });
}

#[test]
fn a_transfer_moves_units_once_and_never_held_ones() {
    block(async {
        let e = engine();
        three(&e, "A").await;
        held(
            e.reserve(&request("t1", vec![item("A", 2)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(
            e.transfer(&sku("A"), &loc("wh-a"), &loc("store"), 2, "tr-1")
                .await
                .unwrap(),
            TransferOutcome::Short { available: 1 },
            "2 of wh-a's 3 are held"
        );
        assert_eq!(
            e.transfer(&sku("A"), &loc("wh-a"), &loc("store"), 1, "tr-1")
                .await
                .unwrap(),
            TransferOutcome::Applied {
                from_on_hand: 2,
                to_on_hand: 3
            }
        );
        assert_eq!(
            e.transfer(&sku("A"), &loc("wh-a"), &loc("store"), 1, "tr-1")
                .await
                .unwrap(),
            TransferOutcome::Duplicate
        );
        assert!(e
            .transfer(&sku("A"), &loc("store"), &loc("store"), 1, "tr-2")
            .await
            .is_err());
        let total: i64 = e
            .stock_by_location(&sku("A"))
            .await
            .unwrap()
            .iter()
            .map(|l| l.on_hand)
            .sum();
        assert_eq!(total, 10, "conserved");
    });
}

#[test]
fn an_unseeded_shard_refuses_reserves_and_reads_until_it_is_marked_seeded() {
    block(async {
        let e = bare_engine();
        e.seed(&sku("A"), &Location::default(), 4, 0).await.unwrap();
        let unseeded = ReserveOutcome::ShardUnseeded(ShardId(0));
        let req = request("n1", vec![item("A", 1)], 10_000);
        let reserve = || e.reserve(&req);
        assert_eq!(reserve().await.unwrap(), unseeded);
        let read = e.stock(&[sku("A")]).await.unwrap_err();
        assert!(is_unseeded(&read), "{read:?}");
        assert_eq!(e.locations().await.unwrap(), None);
        // Settings alone do not seed a shard: the origin marks it once its stock is back.
        e.put_locations(&[LocationSettings::default_only()])
            .await
            .unwrap();
        assert_eq!(reserve().await.unwrap(), unseeded);
        assert_eq!(e.seeded_epoch(ShardId(0)).await.unwrap(), None);
        e.mark_seeded(ShardId(0), "ep1").await.unwrap();
        assert_eq!(
            e.seeded_epoch(ShardId(0)).await.unwrap().as_deref(),
            Some("0/1/ep1")
        );
        assert!(matches!(reserve().await.unwrap(), ReserveOutcome::Held(_)));
        assert_eq!(available(&e, "A").await, 3);
        // A settings change keeps the marker.
        e.put_locations(&e.locations().await.unwrap().unwrap())
            .await
            .unwrap();
        assert_eq!(
            e.seeded_epoch(ShardId(0)).await.unwrap().as_deref(),
            Some("0/1/ep1")
        );
        // A caller with another layout (two shards) finds no marker of its own.
        let other = Engine::new(e.client().clone(), e.keys().clone().with_shards(2));
        let s = other.keys().shard_of("A");
        if s == ShardId(0) {
            assert_eq!(
                other
                    .reserve(&request("n2", vec![item("A", 1)], 10_000))
                    .await
                    .unwrap(),
                ReserveOutcome::ShardUnseeded(ShardId(0))
            );
        }
    });
}

#[test]
fn state_written_before_locations_is_the_default_location() {
    block(async {
        let e = engine();
        let mut r = redis().await;
        // What the scripts wrote before locations: plain counters, "rid|qty" members and
        // "sku|qty" record items.
        let _: () = r
            .hset_multiple(
                e.keys().stock("OLD"),
                &[("on_hand", 5), ("reserved", 2), ("sold", 1), ("low", 0)],
            )
            .await
            .unwrap();
        let far = 4_102_444_800_000i64; // 2100-01-01
        let _: () = r.zadd(e.keys().holds("OLD"), "old-1|2", far).await.unwrap();
        let rec = format!("held;1;{far};{far};fp;OLD|2;0;0;cart");
        let _: () = r
            .set(e.keys().reservation(ShardId(0), "old-1"), rec)
            .await
            .unwrap();
        assert_eq!(available(&e, "OLD").await, 3);
        let got = e.reservation("old-1").await.unwrap().unwrap();
        assert_eq!(got.items, vec![part("OLD", 2)]);
        let h = held(
            e.reserve(&request("new-1", vec![item("OLD", 3)], 10_000))
                .await
                .unwrap(),
        );
        assert_eq!(h.items, vec![part("OLD", 3)]);
        assert_eq!(
            e.release("old-1", false).await.unwrap(),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: true
            }
        );
        let h: HashMap<String, i64> = r.hgetall(e.keys().stock("OLD")).await.unwrap();
        assert_eq!((h["on_hand"], h["reserved"], h["sold"]), (5, 3, 1));
        assert_eq!(available(&e, "OLD").await, 2);
    });
}

/// A customer's cap counts a SKU across its locations: a split reserve counts every part.
#[test]
fn the_customer_cap_counts_every_location_of_a_sku() {
    block(async {
        let e = engine();
        three(&e, "A").await; // wh-a 3, wh-b 5, store-1 2
        let capped = |id: &str, qty: u32| {
            let mut r = request(id, vec![item("A", qty)], 10_000);
            r.customer = Some("cust-1".to_owned());
            r.cap = Some(CustomerCap {
                max_units: 5,
                window_ms: 60_000,
            });
            r
        };
        let h = held(e.reserve(&capped("c1", 4)).await.unwrap());
        assert_eq!(h.items, parts(&[("A", 3, "wh-a"), ("A", 1, "wh-b")]));
        assert_eq!(
            e.reserve(&capped("c2", 2)).await.unwrap(),
            ReserveOutcome::CustomerLimit {
                sku: "A".into(),
                allowed: 1
            },
            "4 units over two locations count as 4"
        );
        held(e.reserve(&capped("c3", 1)).await.unwrap());
        // Releasing the split one frees both of its parts' units toward the cap.
        e.release("c1", false).await.unwrap();
        let again = held(e.reserve(&capped("c4", 4)).await.unwrap());
        assert_eq!(again.items, parts(&[("A", 3, "wh-a"), ("A", 1, "wh-b")]));
    });
}
