//! Who may hold what: rate limits per subject (refused attempts count too), SKUs that require a
//! customer, and the per-customer cap across reservations.

use super::*;

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
