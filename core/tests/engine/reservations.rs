//! Reserve, replay, extend, release, pin and commit: each script's behaviour and error cases.
//! (Rate limits, customer-only SKUs and caps: `limits.rs`.)

use super::*;

#[test]
fn reserve_is_all_or_nothing_and_reports_the_short_sku() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), &Location::default(), 5, 2).await.unwrap();
        e.seed(&sku("B"), &Location::default(), 1, 0).await.unwrap();
        let out = e
            .reserve(&request("r1", vec![item("A", 2), item("B", 2)], 10_000))
            .await
            .unwrap();
        assert_eq!(
            out,
            ReserveOutcome::Insufficient {
                sku: "B".into(),
                available: 1,
                location: None,
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
        assert_eq!(rec.items, vec![part("A", 2), part("B", 1)]);
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
        e.seed(&sku("A"), &Location::default(), 5, 0).await.unwrap();
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
fn extend_is_capped_by_the_maximum_hold_time() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), &Location::default(), 5, 0).await.unwrap();
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
        e.seed(&sku("A"), &Location::default(), 5, 0).await.unwrap();
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
            e.pin("pinned", 30_000, 5_000).await.unwrap().0,
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
        e.seed(&sku("A"), &Location::default(), 5, 1).await.unwrap();
        let ReserveOutcome::Held(h) = e
            .reserve(&request("c1", vec![item("A", 3)], 10_000))
            .await
            .unwrap()
        else {
            panic!()
        };
        let (pin, items) = e.pin("c1", 25_000, 5_000).await.unwrap();
        match pin {
            PinOutcome::Pinned {
                deadline_ms,
                expires_ms,
                now_ms,
                again,
            } => {
                assert!((h.now_ms..h.now_ms + 1_000).contains(&now_ms));
                assert_eq!(deadline_ms, now_ms + 25_000);
                assert_eq!(expires_ms, deadline_ms + 5_000);
                assert!(!again);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(items, vec![part("A", 3)]);
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
        assert_eq!(
            e.pin("c1", 25_000, 5_000).await.unwrap().0,
            PinOutcome::Committed
        );
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
        e.seed(&sku("A"), &Location::default(), 3, 0).await.unwrap();
        e.reserve(&request("late", vec![item("A", 2)], 1_000))
            .await
            .unwrap();
        e.set_clock_offset_ms(5_000);
        assert_eq!(
            e.pin("late", 30_000, 5_000).await.unwrap().0,
            PinOutcome::Expired {
                status: ReservationStatus::Expired
            }
        );
        assert_eq!(available(&e, "A").await, 3);
        // Late commit with units available: taken.
        assert_eq!(
            e.commit("late", &[part("A", 2)]).await.unwrap(),
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
            e.commit("late2", &[part("A", 1)]).await.unwrap(),
            CommitOutcome::Short {
                sku: "A".into(),
                available: 0,
                location: Location::default(),
            }
        );
        let lvl = &e.stock(&[sku("A")]).await.unwrap()[0];
        assert_eq!((lvl.on_hand, lvl.reserved), (1, 1));
    });
}

/// Finding 1 of the red-team review: re-pinning a `confirming` reservation used to push its
/// expiry to `now + grace` every time, so a shopper who re-confirmed every 50 s kept the units
/// forever. The deadline is fixed at the first pin and capped by created + MAX_HOLD + window.
#[test]
fn adversary_repinning_never_pushes_the_hold_out() {
    block(async {
        let mut e = engine();
        e.seed(&sku("A"), &Location::default(), 5, 0).await.unwrap();
        let ReserveOutcome::Held(h) = e
            .reserve(&request("rp", vec![item("A", 2)], 10_000))
            .await
            .unwrap()
        else {
            panic!()
        };
        let PinOutcome::Pinned {
            deadline_ms: first,
            expires_ms,
            ..
        } = e.pin("rp", 20_000, 5_000).await.unwrap().0
        else {
            panic!()
        };
        let rec = e.reservation("rp").await.unwrap().unwrap();
        assert!(
            first <= rec.max_expires_ms + 20_000,
            "the deadline is capped"
        );
        for step in 1..=4 {
            e.set_clock_offset_ms(step * 5_000);
            match e.pin("rp", 20_000, 5_000).await.unwrap().0 {
                PinOutcome::Pinned {
                    deadline_ms,
                    expires_ms: again_expires,
                    again,
                    ..
                } => {
                    assert_eq!(deadline_ms, first, "step {step}: the deadline moved");
                    assert_eq!(again_expires, expires_ms, "step {step}: the hold moved");
                    assert!(again);
                }
                other => panic!("step {step}: {other:?}"),
            }
        }
        // Past deadline + grace the units are back, whatever the shopper sends.
        e.set_clock_offset_ms(expires_ms - h.now_ms + 1_000);
        assert_eq!(available(&e, "A").await, 5);
        assert_eq!(
            e.pin("rp", 20_000, 5_000).await.unwrap().0,
            PinOutcome::Expired {
                status: ReservationStatus::Expired
            }
        );
    });
}

#[test]
fn unpin_puts_the_hold_back_with_its_old_expiry() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), &Location::default(), 5, 0).await.unwrap();
        e.reserve(&request("up", vec![item("A", 2)], 10_000))
            .await
            .unwrap();
        let before = e.reservation("up").await.unwrap().unwrap();
        let (pin, items) = e.pin("up", 900_000, 60_000).await.unwrap();
        assert!(matches!(pin, PinOutcome::Pinned { .. }));
        assert_eq!(
            e.unpin("up", &items).await.unwrap(),
            UnpinOutcome::Unpinned {
                expires_ms: before.expires_ms
            }
        );
        let after = e.reservation("up").await.unwrap().unwrap();
        assert_eq!(after.status, ReservationStatus::Held);
        assert_eq!(after.expires_ms, before.expires_ms);
        // Undoing twice changes nothing; the shopper may release it again.
        assert_eq!(
            e.unpin("up", &items).await.unwrap(),
            UnpinOutcome::NotPinned(ReservationStatus::Held)
        );
        assert!(matches!(
            e.release("up", false).await.unwrap(),
            ReleaseOutcome::Released { changed: true, .. }
        ));
        assert_eq!(available(&e, "A").await, 5);
        assert_eq!(
            e.unpin("nope", &items).await.unwrap(),
            UnpinOutcome::NotFound
        );
    });
}
