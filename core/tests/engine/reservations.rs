//! Reserve, replay, rate limit, extend, release, pin and commit: each script's behaviour and
//! error cases, and our SHA1 against `SCRIPT LOAD`.

use super::*;

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
fn rate_limit_refuses_without_changing_anything() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), &Location::default(), 100, 0)
            .await
            .unwrap();
        let mut req = request("x", vec![item("A", 1)], 10_000);
        req.rate_limit = Some(RateLimit {
            subjects: vec!["ip:1".into(), "cart:c".into()],
            limit: 3,
            limits: vec![],
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
            ReserveOutcome::RateLimited {
                retry_after_ms,
                subject,
            } => {
                assert!(retry_after_ms > 0 && retry_after_ms <= 60_000);
                // Both subjects made 3 attempts; the first one checked is named.
                assert_eq!(subject, Some(0));
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
fn adversary_every_reserve_attempt_counts_toward_the_rate_limit_refused_ones_included() {
    block(async {
        let e = engine();
        e.seed(&sku("SOLD"), &Location::default(), 0, 0)
            .await
            .unwrap();
        e.seed(&sku("FREE"), &Location::default(), 10, 0)
            .await
            .unwrap();
        let limit = |subject: &str| {
            Some(RateLimit {
                subjects: vec![subject.into()],
                limit: 3,
                limits: vec![],
                window_ms: 60_000,
            })
        };
        // Polling a sold-out SKU and an unknown one: refused, yet counted.
        let mut sold = request("poll-1", vec![item("SOLD", 1)], 10_000);
        sold.rate_limit = limit("ip:poller");
        assert!(matches!(
            e.reserve(&sold).await.unwrap(),
            ReserveOutcome::Insufficient { .. }
        ));
        let mut unknown = request("poll-2", vec![item("NEVER", 1)], 10_000);
        unknown.rate_limit = limit("ip:poller");
        assert_eq!(
            e.reserve(&unknown).await.unwrap(),
            ReserveOutcome::UnknownSku("NEVER".into())
        );
        // The third attempt is the last one allowed, the fourth is refused.
        let mut free = request("poll-3", vec![item("FREE", 1)], 10_000);
        free.rate_limit = limit("ip:poller");
        assert!(matches!(
            e.reserve(&free).await.unwrap(),
            ReserveOutcome::Held(_)
        ));
        free.id = "poll-4".into();
        assert!(matches!(
            e.reserve(&free).await.unwrap(),
            ReserveOutcome::RateLimited { .. }
        ));
        // A refused attempt changed nothing but the counters.
        assert_eq!(available(&e, "SOLD").await, 0);
        assert_eq!(available(&e, "FREE").await, 9);
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

#[test]
fn each_rate_limit_subject_has_its_own_limit() {
    block(async {
        let e = engine();
        e.seed(&sku("A"), &Location::default(), 100, 0)
            .await
            .unwrap();
        let mut req = request("tier", vec![item("A", 1)], 10_000);
        // The IP allows 5 per window, the customer 2: the customer's tier refuses the third.
        req.rate_limit = Some(RateLimit {
            subjects: vec!["ip:t1".into(), "customer:c1".into()],
            limit: 5,
            limits: vec![5, 2],
            window_ms: 60_000,
        });
        for i in 0..2 {
            req.id = format!("tier{i}");
            assert!(matches!(
                e.reserve(&req).await.unwrap(),
                ReserveOutcome::Held(_)
            ));
        }
        req.id = "tier2".into();
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::RateLimited {
                subject: Some(1),
                ..
            }
        ));
        // The same IP without the customer still has 3 left (the refused attempt did not count).
        let rl = req.rate_limit.as_mut().unwrap();
        rl.subjects = vec!["ip:t1".into()];
        rl.limits = vec![5];
        for i in 3..6 {
            req.id = format!("tier{i}");
            assert!(matches!(
                e.reserve(&req).await.unwrap(),
                ReserveOutcome::Held(_)
            ));
        }
        req.id = "tier6".into();
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::RateLimited {
                subject: Some(0),
                ..
            }
        ));
        // A subject at 0 is not limited (nor counted).
        let rl = req.rate_limit.as_mut().unwrap();
        rl.subjects = vec!["ip:t2".into(), "customer:c2".into()];
        rl.limits = vec![1, 0];
        req.id = "tier7".into();
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::Held(_)
        ));
        req.id = "tier8".into();
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::RateLimited {
                subject: Some(0),
                ..
            }
        ));
        assert_eq!(available(&e, "A").await, 94);
    });
}

#[test]
fn a_sku_that_requires_a_customer_refuses_without_one_and_changes_nothing() {
    block(async {
        let e = engine();
        e.seed(&sku("FREE"), &Location::default(), 5, 0)
            .await
            .unwrap();
        e.seed(&sku("DROP"), &Location::default(), 5, 0)
            .await
            .unwrap();
        e.set_require_customer(&sku("DROP"), true).await.unwrap();
        assert!(e.requires_customer(&sku("DROP")).await.unwrap());
        assert!(!e.requires_customer(&sku("FREE")).await.unwrap());
        let mut req = request("rc1", vec![item("FREE", 1), item("DROP", 2)], 10_000);
        assert_eq!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::CustomerRequired("DROP".into())
        );
        assert_eq!(available(&e, "FREE").await, 5);
        assert_eq!(available(&e, "DROP").await, 5);
        assert_eq!(e.reservation("rc1").await.unwrap(), None);
        // With a customer: held, and the record is owned by it.
        req.customer = Some("0123456789abcdef0123456789abcdef".into());
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::Held(_)
        ));
        assert_eq!(available(&e, "DROP").await, 3);
        let rec = e.reservation("rc1").await.unwrap().unwrap();
        assert_eq!(rec.owner, "c:0123456789abcdef0123456789abcdef");
        // Cleared: anyone reserves it.
        e.set_require_customer(&sku("DROP"), false).await.unwrap();
        assert!(!e.requires_customer(&sku("DROP")).await.unwrap());
        let req = request("rc2", vec![item("DROP", 1)], 10_000);
        assert!(matches!(
            e.reserve(&req).await.unwrap(),
            ReserveOutcome::Held(_)
        ));
        // A seed sets the flag when told, and keeps it otherwise.
        e.seed_with(&sku("DROP"), &Location::default(), 5, 0, Some(true))
            .await
            .unwrap();
        assert!(e.requires_customer(&sku("DROP")).await.unwrap());
        e.seed(&sku("DROP"), &Location::default(), 5, 0)
            .await
            .unwrap();
        assert!(e.requires_customer(&sku("DROP")).await.unwrap());
        e.seed_with(&sku("DROP"), &Location::default(), 5, 0, Some(false))
            .await
            .unwrap();
        assert!(!e.requires_customer(&sku("DROP")).await.unwrap());
    });
}

fn capped(id: &str, qty: u32, customer: &str, ttl_ms: u64) -> ReserveRequest {
    let mut r = request(id, vec![item("A", qty)], ttl_ms);
    r.customer = Some(customer.to_owned());
    r.cap = Some(CustomerCap {
        max_units: 2,
        window_ms: 60_000,
    });
    r
}

/// Finding 6 of the red-team review: one client could hold a whole drop through many
/// reservations. With `MAX_UNITS_PER_CUSTOMER`, a customer's units of one SKU held, placed and
/// bought are counted across its reservations: released and expired holds stop counting, placed
/// ones count until they are released.
#[test]
fn adversary_a_customer_never_holds_more_than_the_cap_across_reservations() {
    block(async {
        let mut e = engine();
        e.seed(&sku("A"), &Location::default(), 20, 0)
            .await
            .unwrap();
        let limit = |allowed| ReserveOutcome::CustomerLimit {
            sku: "A".into(),
            allowed,
        };
        let held = |o: &ReserveOutcome| matches!(o, ReserveOutcome::Held(_));

        assert!(held(
            &e.reserve(&capped("k1", 2, "c1", 10_000)).await.unwrap()
        ));
        assert_eq!(
            e.reserve(&capped("k2", 1, "c1", 10_000)).await.unwrap(),
            limit(0)
        );
        assert_eq!(
            available(&e, "A").await,
            18,
            "a refused reserve holds nothing"
        );
        assert!(
            held(&e.reserve(&capped("k3", 2, "c2", 10_000)).await.unwrap()),
            "another customer has its own count"
        );
        // A released hold stops counting.
        assert!(matches!(
            e.release("k1", false).await.unwrap(),
            ReleaseOutcome::Released { changed: true, .. }
        ));
        assert!(held(
            &e.reserve(&capped("k4", 1, "c1", 10_000)).await.unwrap()
        ));
        assert_eq!(
            e.reserve(&capped("k5", 2, "c1", 10_000)).await.unwrap(),
            limit(1)
        );
        // An extended hold counts until its new expiry; an expired one stops counting.
        assert!(matches!(
            e.extend("k4", 10_000).await.unwrap(),
            ExtendOutcome::Extended { .. }
        ));
        e.set_clock_offset_ms(12_500);
        assert_eq!(
            e.reserve(&capped("k6", 2, "c1", 10_000)).await.unwrap(),
            limit(1)
        );
        e.set_clock_offset_ms(22_500);
        assert!(held(
            &e.reserve(&capped("k7", 2, "c1", 10_000)).await.unwrap()
        ));
        // A placed order counts past its hold's own expiry, until it is released.
        assert!(matches!(
            e.pin("k7", 5_000, 1_000).await.unwrap().0,
            PinOutcome::Pinned { .. }
        ));
        e.set_clock_offset_ms(40_000);
        assert_eq!(
            e.reserve(&capped("k8", 1, "c1", 10_000)).await.unwrap(),
            limit(0)
        );
        assert!(matches!(
            e.release("k7", true).await.unwrap(),
            ReleaseOutcome::Released { .. }
        ));
        assert!(held(
            &e.reserve(&capped("k9", 2, "c1", 10_000)).await.unwrap()
        ));
        // An undone pin counts as the hold it was again.
        let (_, items) = e.pin("k9", 5_000, 1_000).await.unwrap();
        assert!(matches!(
            e.unpin("k9", &items).await.unwrap(),
            UnpinOutcome::Unpinned { .. }
        ));
        e.set_clock_offset_ms(51_000);
        assert!(held(
            &e.reserve(&capped("k10", 2, "c1", 10_000)).await.unwrap()
        ));
    });
}
