//! The property test: random operation sequences against an in-memory model, checking every
//! reply and the invariants after every step.

use super::*;

mod state;
use state::{
    allocate, check_invariants, lines_of, op, parts_of, transfer_step, MLoc, MRes, Model, Op, St,
};

// ---------------------------------------------------------------------------------------------
// Property test: random operation sequences against an in-memory model.
//
// Times are chosen so no expiry ever sits near "now": TTLs, extensions and the grace period are
// ≡ 2.5 s (mod 5 s) and time advances in multiples of 5 s, so real clock drift during a case
// (milliseconds) can never flip an outcome.

const SKUS: [&str; 3] = ["P0", "P1", "P2"];
/// Locations: `default` plus two more, each with random settings the case may change.
const LOCS: [&str; 3] = ["default", "L1", "L2"];
const MAX_HOLD_MS: u64 = 42_500;
const GRACE_MS: u64 = 7_500;
const WINDOW_MS: u64 = 10_000;

async fn run_case(ops: Vec<Op>) {
    let mut e = engine();
    let mut m = Model::default();
    e.put_locations(&m.settings()).await.unwrap();
    for (step, op) in ops.into_iter().enumerate() {
        e.set_clock_offset_ms(m.now);
        let pick = |i: usize, m: &Model| (!m.res.is_empty()).then(|| i % m.res.len());
        match op {
            Op::RequireCustomer(s, on) => {
                e.set_require_customer(&sku(SKUS[s]), on).await.unwrap();
                m.rc[s] = on;
            }
            Op::SetLocation(l, priority, active, ships, pickup) => {
                m.locs[l] = MLoc {
                    priority,
                    active,
                    ships,
                    pickup,
                };
                e.put_locations(&m.settings()).await.unwrap();
            }
            Op::Transfer(s, a, b, q, dup) => {
                transfer_step(&e, &mut m, (s, a, b, q, dup), step).await
            }
            Op::Reserve {
                items,
                ttl_ms,
                customer,
                pickup,
            } => {
                let id = format!("p{step}");
                let mut req = request(&id, lines_of(&items), ttl_ms);
                req.pickup = pickup.map(|p| loc(LOCS[p]));
                req.max_hold_ms = MAX_HOLD_MS;
                req.customer = customer.then(|| "0123456789abcdef0123456789abcdef".to_owned());
                let got = e.reserve(&req).await.unwrap();
                // Without a customer, a stocked SKU that requires one refuses before anything else
                // (an unstocked one is unknown, whatever its flag).
                let required = (!customer)
                    .then(|| items.iter().find(|(s, _)| m.rc[*s] && m.exists[*s]))
                    .flatten()
                    .map(|(s, _)| ReserveOutcome::CustomerRequired(SKUS[*s].into()));
                // A pickup location must be active and offer pickup, before anything else.
                let closed = pickup
                    .filter(|p| !(m.locs[*p].active && m.locs[*p].pickup))
                    .map(|p| ReserveOutcome::LocationUnavailable(loc(LOCS[p])));
                let unknown = items
                    .iter()
                    .find(|(s, _)| !m.exists[*s])
                    .map(|(s, _)| ReserveOutcome::UnknownSku(SKUS[*s].into()));
                // Per line in order: unknown SKU, then short; the first refusal wins.
                let per_line = items.iter().enumerate().find_map(|(i, (s, _))| {
                    if !m.exists[*s] {
                        return unknown.clone();
                    }
                    allocate(&m, &items[i..=i], pickup).err()
                });
                let first_bad = closed.or(required).or(per_line);
                let want = if let Some(bad) = first_bad {
                    bad
                } else {
                    let parts = allocate(&m, &items, pickup).unwrap();
                    m.res.push(MRes {
                        id: id.clone(),
                        lines: items.clone(),
                        pickup,
                        items: parts.clone(),
                        expires: m.now + ttl_ms as i64,
                        max_expires: m.now + MAX_HOLD_MS as i64,
                        st: St::Held,
                        fp: req.fingerprint.clone(),
                        held_expires: 0,
                        deadline: None,
                    });
                    ReserveOutcome::Held(Hold {
                        id,
                        status: ReservationStatus::Held,
                        created_ms: 0,
                        expires_ms: 0,
                        replay: false,
                        now_ms: 0,
                        items: parts_of(&parts),
                    })
                };
                match (&got, &want) {
                    (ReserveOutcome::Held(g), ReserveOutcome::Held(w)) => assert_eq!(
                        (&g.id, &g.status, g.replay, &g.items),
                        (&w.id, &w.status, false, &w.items),
                        "step {step}: the allocation"
                    ),
                    _ => assert_eq!(got, want, "step {step}"),
                }
            }
            Op::Replay(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let mut req = request(&r.id, lines_of(&r.lines), 2_500);
                req.pickup = r.pickup.map(|p| loc(LOCS[p]));
                req.fingerprint = r.fp.clone();
                let ReserveOutcome::Held(h) = e.reserve(&req).await.unwrap() else {
                    panic!("step {step}: replay")
                };
                let want = match r.st {
                    St::Held | St::Confirming if r.expires <= m.now => "expired",
                    St::Held => "held",
                    St::Confirming => "confirming",
                    St::Committed => "committed",
                    St::Released => "released",
                    St::Expired => "expired",
                };
                assert!(h.replay, "step {step}");
                assert_eq!(
                    h.items,
                    parts_of(&r.items),
                    "step {step}: the stored allocation"
                );
                assert_eq!(h.status, want, "step {step}: replay status");
            }
            Op::Extend(i, add) => {
                let Some(i) = pick(i, &m) else { continue };
                let got = e.extend(&m.res[i].id.clone(), add).await.unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Held if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        ExtendOutcome::Expired
                    }
                    St::Held => {
                        let new = (r.expires + add as i64).min(r.max_expires);
                        if new <= r.expires {
                            ExtendOutcome::AtLimit { max_expires_ms: 0 }
                        } else {
                            m.res[i].expires = new;
                            ExtendOutcome::Extended {
                                expires_ms: 0,
                                max_expires_ms: 0,
                            }
                        }
                    }
                    St::Confirming => ExtendOutcome::NotHeld(ReservationStatus::Confirming),
                    St::Committed => ExtendOutcome::NotHeld(ReservationStatus::Committed),
                    St::Released => ExtendOutcome::NotHeld(ReservationStatus::Released),
                    St::Expired => ExtendOutcome::NotHeld(ReservationStatus::Expired),
                };
                let same = match (&got, &want) {
                    (ExtendOutcome::Extended { .. }, ExtendOutcome::Extended { .. })
                    | (ExtendOutcome::AtLimit { .. }, ExtendOutcome::AtLimit { .. }) => true,
                    _ => got == want,
                };
                assert!(same, "step {step}: extend got {got:?} want {want:?}");
            }
            Op::Release(i) | Op::Cancel(i) => {
                let allow = matches!(op, Op::Cancel(_));
                let Some(i) = pick(i, &m) else { continue };
                let got = e.release(&m.res[i].id.clone(), allow).await.unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Released => ReleaseOutcome::Released {
                        status: ReservationStatus::Released,
                        changed: false,
                    },
                    St::Expired => ReleaseOutcome::Released {
                        status: ReservationStatus::Expired,
                        changed: false,
                    },
                    St::Committed => ReleaseOutcome::Committed,
                    St::Confirming if !allow => ReleaseOutcome::Confirming,
                    St::Held | St::Confirming if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        ReleaseOutcome::Released {
                            status: ReservationStatus::Expired,
                            changed: true,
                        }
                    }
                    _ => {
                        m.res[i].st = St::Released;
                        ReleaseOutcome::Released {
                            status: ReservationStatus::Released,
                            changed: true,
                        }
                    }
                };
                assert_eq!(got, want, "step {step}: release");
            }
            Op::Pin(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let (got, _) = e
                    .pin(&m.res[i].id.clone(), WINDOW_MS, GRACE_MS)
                    .await
                    .unwrap();
                let r = m.res[i].clone();
                let want = match r.st {
                    St::Committed => Some(PinOutcome::Committed),
                    St::Released => Some(PinOutcome::Expired {
                        status: ReservationStatus::Released,
                    }),
                    St::Expired => Some(PinOutcome::Expired {
                        status: ReservationStatus::Expired,
                    }),
                    _ if r.expires <= m.now => {
                        m.res[i].st = St::Expired;
                        Some(PinOutcome::Expired {
                            status: ReservationStatus::Expired,
                        })
                    }
                    // Pinned before: nothing moves, the first deadline stands.
                    St::Confirming => None,
                    St::Held => {
                        let new = r.expires.max(m.now + (WINDOW_MS + GRACE_MS) as i64);
                        m.res[i].held_expires = r.expires;
                        m.res[i].expires = new;
                        m.res[i].st = St::Confirming;
                        None
                    }
                };
                match (got, want) {
                    (got, Some(want)) => assert_eq!(got, want, "step {step}: pin"),
                    (
                        PinOutcome::Pinned {
                            deadline_ms, again, ..
                        },
                        None,
                    ) => {
                        assert_eq!(again, r.st == St::Confirming, "step {step}: pin again");
                        match r.deadline {
                            Some(d) => assert_eq!(deadline_ms, d, "step {step}: deadline moved"),
                            None => m.res[i].deadline = Some(deadline_ms),
                        }
                    }
                    (got, None) => panic!("step {step}: pin got {got:?}, want pinned"),
                }
            }
            Op::Unpin(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let got = e.unpin(&r.id, &parts_of(&r.items)).await.unwrap();
                let want = match r.st {
                    St::Confirming => {
                        m.res[i].st = St::Held;
                        m.res[i].expires = r.held_expires;
                        m.res[i].deadline = None;
                        // The restored expiry, in Redis's clock: unknown to the model, checked
                        // through liveness by the invariants.
                        None
                    }
                    St::Held => Some(ReservationStatus::Held),
                    St::Committed => Some(ReservationStatus::Committed),
                    St::Released => Some(ReservationStatus::Released),
                    St::Expired => Some(ReservationStatus::Expired),
                };
                match (got, want) {
                    (UnpinOutcome::Unpinned { .. }, None) => {}
                    (UnpinOutcome::NotPinned(s), Some(w)) => {
                        assert_eq!(s, w, "step {step}: unpin");
                    }
                    (got, want) => panic!("step {step}: unpin got {got:?} want {want:?}"),
                }
            }
            Op::Commit(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let got = e.commit(&r.id, &parts_of(&r.items)).await.unwrap();
                let want = if r.st == St::Committed {
                    CommitOutcome::AlreadyCommitted
                } else if m.live(&r) {
                    CommitOutcome::Committed
                } else {
                    // A late commit that comes up short leaves the record as it was.
                    // Each part only at its own location, never another.
                    match r
                        .items
                        .iter()
                        .find(|(s, l, q)| m.available_at(*s, *l) < i64::from(*q))
                    {
                        Some((s, l, _)) => CommitOutcome::Short {
                            sku: SKUS[*s].into(),
                            available: m.available_at(*s, *l).max(0),
                            location: loc(LOCS[*l]),
                        },
                        None => CommitOutcome::Late,
                    }
                };
                if matches!(want, CommitOutcome::Committed | CommitOutcome::Late) {
                    for (s, l, q) in &r.items {
                        m.on_hand[*s][*l] -= i64::from(*q);
                        m.sold[*s][*l] += i64::from(*q);
                    }
                    m.res[i].st = St::Committed;
                }
                assert_eq!(got, want, "step {step}: commit");
            }
            Op::Adjust(s, l, delta, dup) => {
                let mv = if dup && !m.movements.is_empty() {
                    m.movements[0].clone()
                } else {
                    format!("mv{step}")
                };
                let got = e
                    .adjust(&sku(SKUS[s]), &loc(LOCS[l]), delta, &mv)
                    .await
                    .unwrap();
                let duplicate = m.movements.contains(&mv);
                let reserved = m.reserved(s, l);
                let ok = !duplicate && m.on_hand[s][l] + delta >= reserved;
                match got {
                    LevelOutcome::Duplicate { .. } => assert!(duplicate, "step {step}"),
                    LevelOutcome::BelowReserved { .. } => assert!(!duplicate && !ok, "step {step}"),
                    LevelOutcome::Applied { on_hand, .. } => {
                        assert!(ok, "step {step}: adjust applied but model refuses");
                        m.on_hand[s][l] += delta;
                        m.total_in[s][l] += delta;
                        m.exists[s] = true;
                        m.movements.push(mv);
                        assert_eq!(on_hand, m.on_hand[s][l], "step {step}");
                    }
                }
            }
            Op::Seed(s, l, n) => {
                let got = e.seed(&sku(SKUS[s]), &loc(LOCS[l]), n, 2).await.unwrap();
                let reserved = m.reserved(s, l);
                let target = n.max(reserved);
                m.total_in[s][l] += target - m.on_hand[s][l];
                m.on_hand[s][l] = target;
                m.exists[s] = true;
                let want = if n < reserved {
                    LevelOutcome::BelowReserved {
                        on_hand: target,
                        reserved,
                    }
                } else {
                    LevelOutcome::Applied {
                        on_hand: target,
                        reserved,
                    }
                };
                assert_eq!(got, want, "step {step}: seed");
            }
            Op::Advance(ms) => m.now += ms,
            Op::Sweep => {
                e.sweep(ShardId(0), 100).await.unwrap();
            }
        }
        e.set_clock_offset_ms(m.now);
        check_invariants(&e, &m, step).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn scripts_match_the_model_and_keep_the_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        block(run_case(ops));
    }
}
