//! The property test: random operation sequences against an in-memory model, checking every
//! reply and the invariants after every step.

use super::*;

// ---------------------------------------------------------------------------------------------
// Property test: random operation sequences against an in-memory model.
//
// Times are chosen so no expiry ever sits near "now": TTLs, extensions and the grace period are
// ≡ 2.5 s (mod 5 s) and time advances in multiples of 5 s, so real clock drift during a case
// (milliseconds) can never flip an outcome.

const SKUS: [&str; 3] = ["P0", "P1", "P2"];
const MAX_HOLD_MS: u64 = 42_500;
const GRACE_MS: u64 = 7_500;
const WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        items: Vec<(usize, u32)>,
        ttl_ms: u64,
        customer: bool,
    },
    RequireCustomer(usize, bool),
    Replay(usize),
    Extend(usize, u64),
    Release(usize),
    Cancel(usize),
    Pin(usize),
    Unpin(usize),
    Commit(usize),
    Adjust(usize, i64, bool),
    Seed(usize, i64),
    Advance(i64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::collection::btree_map(0..3usize, 1..5u32, 1..3), prop_oneof![Just(2_500u64), Just(12_500), Just(22_500)], any::<bool>())
            .prop_map(|(m, ttl_ms, customer)| Op::Reserve { items: m.into_iter().collect(), ttl_ms, customer }),
        1 => (0..3usize, any::<bool>()).prop_map(|(s, on)| Op::RequireCustomer(s, on)),
        1 => (0..20usize).prop_map(Op::Replay),
        1 => (0..20usize, prop_oneof![Just(5_000u64), Just(15_000)]).prop_map(|(i, a)| Op::Extend(i, a)),
        1 => (0..20usize).prop_map(Op::Release),
        1 => (0..20usize).prop_map(Op::Cancel),
        2 => (0..20usize).prop_map(Op::Pin),
        1 => (0..20usize).prop_map(Op::Unpin),
        2 => (0..20usize).prop_map(Op::Commit),
        1 => (0..3usize, -6..10i64, any::<bool>()).prop_map(|(s, d, dup)| Op::Adjust(s, d, dup)),
        1 => (0..3usize, 0..25i64).prop_map(|(s, n)| Op::Seed(s, n)),
        2 => prop_oneof![Just(5_000i64), Just(10_000), Just(20_000)].prop_map(Op::Advance),
        1 => Just(Op::Sweep),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Held,
    Confirming,
    Committed,
    Released,
    Expired,
}

#[derive(Debug, Clone)]
struct MRes {
    id: String,
    items: Vec<(usize, u32)>,
    expires: i64,
    max_expires: i64,
    st: St,
    fp: String,
    /// Set by a pin: the expiry to go back to on unpin, and the deadline Redis answered.
    held_expires: i64,
    deadline: Option<i64>,
}

#[derive(Debug, Default)]
struct Model {
    now: i64, // model time (ms) = clock offset
    exists: [bool; 3],
    /// SKUs that require a customer to reserve.
    rc: [bool; 3],
    on_hand: [i64; 3],
    sold: [i64; 3],
    total_in: [i64; 3],
    res: Vec<MRes>,
    movements: Vec<String>,
}

impl Model {
    fn live(&self, r: &MRes) -> bool {
        matches!(r.st, St::Held | St::Confirming) && r.expires > self.now
    }
    fn reserved(&self, s: usize) -> i64 {
        self.res
            .iter()
            .filter(|r| self.live(r))
            .flat_map(|r| r.items.iter())
            .filter(|(k, _)| *k == s)
            .map(|(_, q)| i64::from(*q))
            .sum()
    }
    fn available(&self, s: usize) -> i64 {
        self.on_hand[s] - self.reserved(s)
    }
}

fn items_of(v: &[(usize, u32)]) -> Vec<Item> {
    v.iter().map(|(s, q)| item(SKUS[*s], *q)).collect()
}

async fn check_invariants(e: &Engine<ReqwestTransport>, m: &Model, step: usize) {
    let mut r = redis().await;
    let levels = e.stock(&SKUS.map(sku)).await.unwrap();
    for (s, name) in SKUS.iter().enumerate() {
        let h: HashMap<String, String> = r.hgetall(e.keys().stock(name)).await.unwrap();
        let h: HashMap<String, i64> = h
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let members: Vec<(String, i64)> = r
            .zrange_withscores(e.keys().holds(name), 0, -1)
            .await
            .unwrap();
        let on_hand = *h.get("on_hand").unwrap_or(&0);
        let reserved = *h.get("reserved").unwrap_or(&0);
        let sold = *h.get("sold").unwrap_or(&0);
        let held: i64 = members
            .iter()
            .map(|(m, _)| m.rsplit('|').next().unwrap().parse::<i64>().unwrap())
            .sum();
        // 1. 0 <= reserved <= on_hand.
        assert!(
            0 <= reserved && reserved <= on_hand,
            "step {step} {name}: reserved {reserved} on_hand {on_hand}"
        );
        // 2. reserved = the sum of the holds in the zset.
        assert_eq!(reserved, held, "step {step} {name}: reserved vs holds");
        // 3. Conservation: everything put in is on hand or sold.
        assert_eq!(
            on_hand + sold,
            m.total_in[s],
            "step {step} {name}: conservation"
        );
        // The model agrees on what a shopper sees.
        assert_eq!(
            on_hand, m.on_hand[s],
            "step {step} {name}: on_hand vs model"
        );
        assert_eq!(
            levels[s].on_hand - levels[s].reserved,
            m.available(s),
            "step {step} {name}: available vs model"
        );
        assert_eq!(sold, m.sold[s], "step {step} {name}: sold vs model");
    }
    // 4. A reservation's live holds are all there or none are.
    for res in &m.res {
        let mut live = 0;
        for (s, q) in &res.items {
            let score: Option<f64> = r
                .zscore(e.keys().holds(SKUS[*s]), format!("{}|{q}", res.id))
                .await
                .unwrap();
            if score.is_some() && m.live(res) {
                live += 1;
            }
        }
        assert!(
            live == 0 || live == res.items.len(),
            "step {step}: reservation {} partially held",
            res.id
        );
        assert_eq!(
            live > 0,
            m.live(res),
            "step {step}: reservation {} liveness vs model",
            res.id
        );
    }
}

async fn run_case(ops: Vec<Op>) {
    let mut e = engine();
    let mut m = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        e.set_clock_offset_ms(m.now);
        let pick = |i: usize, m: &Model| (!m.res.is_empty()).then(|| i % m.res.len());
        match op {
            Op::RequireCustomer(s, on) => {
                e.set_require_customer(&sku(SKUS[s]), on).await.unwrap();
                m.rc[s] = on;
            }
            Op::Reserve {
                items,
                ttl_ms,
                customer,
            } => {
                let id = format!("p{step}");
                let mut req = request(&id, items_of(&items), ttl_ms);
                req.max_hold_ms = MAX_HOLD_MS;
                req.customer = customer.then(|| "0123456789abcdef0123456789abcdef".to_owned());
                let got = e.reserve(&req).await.unwrap();
                // Without a customer, a SKU that requires one refuses before anything else.
                let required = (!customer)
                    .then(|| items.iter().find(|(s, _)| m.rc[*s]))
                    .flatten()
                    .map(|(s, _)| ReserveOutcome::CustomerRequired(SKUS[*s].into()));
                let first_bad = required.or_else(|| {
                    items.iter().find_map(|(s, q)| {
                        if !m.exists[*s] {
                            Some(ReserveOutcome::UnknownSku(SKUS[*s].into()))
                        } else if m.available(*s) < i64::from(*q) {
                            Some(ReserveOutcome::Insufficient {
                                sku: SKUS[*s].into(),
                                available: m.available(*s),
                            })
                        } else {
                            None
                        }
                    })
                });
                let want = if let Some(bad) = first_bad {
                    bad
                } else {
                    m.res.push(MRes {
                        id: id.clone(),
                        items: items.clone(),
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
                    })
                };
                match (&got, &want) {
                    (ReserveOutcome::Held(g), ReserveOutcome::Held(w)) => assert_eq!(
                        (&g.id, &g.status, g.replay),
                        (&w.id, &w.status, false),
                        "step {step}"
                    ),
                    _ => assert_eq!(got, want, "step {step}"),
                }
            }
            Op::Replay(i) => {
                let Some(i) = pick(i, &m) else { continue };
                let r = m.res[i].clone();
                let mut req = request(&r.id, items_of(&r.items), 2_500);
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
                let got = e.unpin(&r.id, &items_of(&r.items)).await.unwrap();
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
                let got = e.commit(&r.id, &items_of(&r.items)).await.unwrap();
                let want = if r.st == St::Committed {
                    CommitOutcome::AlreadyCommitted
                } else if m.live(&r) {
                    CommitOutcome::Committed
                } else {
                    // A late commit that comes up short leaves the record as it was.
                    match r
                        .items
                        .iter()
                        .find(|(s, q)| m.available(*s) < i64::from(*q))
                    {
                        Some((s, _)) => CommitOutcome::Short {
                            sku: SKUS[*s].into(),
                            available: m.available(*s),
                        },
                        None => CommitOutcome::Late,
                    }
                };
                if matches!(want, CommitOutcome::Committed | CommitOutcome::Late) {
                    for (s, q) in &r.items {
                        m.on_hand[*s] -= i64::from(*q);
                        m.sold[*s] += i64::from(*q);
                    }
                    m.res[i].st = St::Committed;
                }
                assert_eq!(got, want, "step {step}: commit");
            }
            Op::Adjust(s, delta, dup) => {
                let mv = if dup && !m.movements.is_empty() {
                    m.movements[0].clone()
                } else {
                    format!("mv{step}")
                };
                let got = e.adjust(&sku(SKUS[s]), delta, &mv).await.unwrap();
                let duplicate = m.movements.contains(&mv);
                let reserved = m.reserved(s);
                let ok = !duplicate && m.on_hand[s] + delta >= reserved;
                match got {
                    LevelOutcome::Duplicate { .. } => assert!(duplicate, "step {step}"),
                    LevelOutcome::BelowReserved { .. } => assert!(!duplicate && !ok, "step {step}"),
                    LevelOutcome::Applied { on_hand, .. } => {
                        assert!(ok, "step {step}: adjust applied but model refuses");
                        m.on_hand[s] += delta;
                        m.total_in[s] += delta;
                        m.exists[s] = true;
                        m.movements.push(mv);
                        assert_eq!(on_hand, m.on_hand[s], "step {step}");
                    }
                }
            }
            Op::Seed(s, n) => {
                let got = e.seed(&sku(SKUS[s]), n, 2).await.unwrap();
                let reserved = m.reserved(s);
                let target = n.max(reserved);
                m.total_in[s] += target - m.on_hand[s];
                m.on_hand[s] = target;
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
                e.sweep(100).await.unwrap();
            }
        }
        e.set_clock_offset_ms(m.now);
        check_invariants(&e, &m, step).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn scripts_match_the_model_and_keep_the_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        block(run_case(ops));
    }
}
