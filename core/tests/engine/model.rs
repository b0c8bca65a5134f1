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
/// Locations: `default` plus two more, each with random settings the case may change.
const LOCS: [&str; 3] = ["default", "L1", "L2"];
const MAX_HOLD_MS: u64 = 42_500;
const GRACE_MS: u64 = 7_500;
const WINDOW_MS: u64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        items: Vec<(usize, u32)>,
        ttl_ms: u64,
        customer: bool,
        pickup: Option<usize>,
    },
    /// New settings for one location: priority, active, ships, pickup.
    SetLocation(usize, i32, bool, bool, bool),
    /// Move units of a SKU between two locations (a repeated movement id when the flag is set).
    Transfer(usize, usize, usize, u32, bool),
    RequireCustomer(usize, bool),
    Replay(usize),
    Extend(usize, u64),
    Release(usize),
    Cancel(usize),
    Pin(usize),
    Unpin(usize),
    Commit(usize),
    Adjust(usize, usize, i64, bool),
    Seed(usize, usize, i64),
    Advance(i64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::collection::btree_map(0..3usize, 1..5u32, 1..3), prop_oneof![Just(2_500u64), Just(12_500), Just(22_500)], any::<bool>(), prop_oneof![3 => Just(None), 1 => (0..3usize).prop_map(Some)])
            .prop_map(|(m, ttl_ms, customer, pickup)| Op::Reserve { items: m.into_iter().collect(), ttl_ms, customer, pickup }),
        1 => (0..3usize, 0..3i32, prop::bool::weighted(0.8), prop::bool::weighted(0.7), any::<bool>())
            .prop_map(|(l, p, a, s, k)| Op::SetLocation(l, p, a, s, k)),
        1 => (0..3usize, 0..3usize, 0..3usize, 1..6u32, any::<bool>()).prop_map(|(s, a, b, q, d)| Op::Transfer(s, a, b, q, d)),
        1 => (0..3usize, any::<bool>()).prop_map(|(s, on)| Op::RequireCustomer(s, on)),
        1 => (0..20usize).prop_map(Op::Replay),
        1 => (0..20usize, prop_oneof![Just(5_000u64), Just(15_000)]).prop_map(|(i, a)| Op::Extend(i, a)),
        1 => (0..20usize).prop_map(Op::Release),
        1 => (0..20usize).prop_map(Op::Cancel),
        2 => (0..20usize).prop_map(Op::Pin),
        1 => (0..20usize).prop_map(Op::Unpin),
        2 => (0..20usize).prop_map(Op::Commit),
        1 => (0..3usize, 0..3usize, -6..10i64, any::<bool>()).prop_map(|(s, l, d, dup)| Op::Adjust(s, l, d, dup)),
        2 => (0..3usize, 0..3usize, 0..25i64).prop_map(|(s, l, n)| Op::Seed(s, l, n)),
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
    /// The requested lines (for replays).
    lines: Vec<(usize, u32)>,
    pickup: Option<usize>,
    /// The allocated parts: (sku, location, units).
    items: Vec<(usize, usize, u32)>,
    expires: i64,
    max_expires: i64,
    st: St,
    fp: String,
    /// Set by a pin: the expiry to go back to on unpin, and the deadline Redis answered.
    held_expires: i64,
    deadline: Option<i64>,
}

/// A location's settings in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MLoc {
    priority: i32,
    active: bool,
    ships: bool,
    pickup: bool,
}

#[derive(Debug)]
struct Model {
    now: i64, // model time (ms) = clock offset
    exists: [bool; 3],
    /// SKUs that require a customer to reserve.
    rc: [bool; 3],
    /// Per [sku][location].
    on_hand: [[i64; 3]; 3],
    sold: [[i64; 3]; 3],
    total_in: [[i64; 3]; 3],
    locs: [MLoc; 3],
    res: Vec<MRes>,
    movements: Vec<String>,
}

impl Default for Model {
    fn default() -> Self {
        let l = |priority| MLoc {
            priority,
            active: true,
            ships: true,
            pickup: true,
        };
        Self {
            now: 0,
            exists: [false; 3],
            rc: [false; 3],
            on_hand: [[0; 3]; 3],
            sold: [[0; 3]; 3],
            total_in: [[0; 3]; 3],
            locs: [l(0), l(1), l(1)],
            res: Vec::new(),
            movements: Vec::new(),
        }
    }
}

impl Model {
    fn live(&self, r: &MRes) -> bool {
        matches!(r.st, St::Held | St::Confirming) && r.expires > self.now
    }
    fn reserved(&self, s: usize, l: usize) -> i64 {
        self.res
            .iter()
            .filter(|r| self.live(r))
            .flat_map(|r| r.items.iter())
            .filter(|(k, at, _)| *k == s && *at == l)
            .map(|(_, _, q)| i64::from(*q))
            .sum()
    }
    fn available_at(&self, s: usize, l: usize) -> i64 {
        self.on_hand[s][l] - self.reserved(s, l)
    }
    /// Active shipping locations in allocation order (priority, then code bytes).
    fn ship_order(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..3)
            .filter(|l| self.locs[*l].active && self.locs[*l].ships)
            .collect();
        v.sort_by_key(|l| (self.locs[*l].priority, LOCS[*l].as_bytes()));
        v
    }
    /// What a shopper sees: the sum over the active shipping locations.
    fn available(&self, s: usize) -> i64 {
        self.ship_order()
            .into_iter()
            .map(|l| self.available_at(s, l))
            .sum()
    }
    fn settings(&self) -> Vec<LocationSettings> {
        (0..3)
            .map(|l| LocationSettings {
                code: loc(LOCS[l]),
                name: format!("Location {l}"),
                priority: self.locs[l].priority,
                active: self.locs[l].active,
                ships: self.locs[l].ships,
                pickup: self.locs[l].pickup,
            })
            .collect()
    }
}

fn lines_of(v: &[(usize, u32)]) -> Vec<Line> {
    v.iter().map(|(s, q)| item(SKUS[*s], *q)).collect()
}

fn parts_of(v: &[(usize, usize, u32)]) -> Vec<Item> {
    v.iter()
        .map(|(s, l, q)| Item {
            sku: sku(SKUS[*s]),
            qty: *q,
            location: loc(LOCS[*l]),
        })
        .collect()
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
        for (l, code) in LOCS.iter().enumerate() {
            let field = |f: &str| {
                let k = if l == 0 {
                    f.to_owned()
                } else {
                    format!("{f}@{code}")
                };
                *h.get(&k).unwrap_or(&0)
            };
            let (on_hand, reserved, sold) = (field("on_hand"), field("reserved"), field("sold"));
            let held: i64 = members
                .iter()
                .filter_map(|(m, _)| {
                    let mut f = m.split('|');
                    let (_, q, at) = (f.next()?, f.next()?, f.next().unwrap_or("default"));
                    (at == *code).then(|| q.parse::<i64>().unwrap())
                })
                .sum();
            let at = format!("step {step} {name}@{code}");
            // 1. Per location: 0 <= reserved <= on_hand.
            assert!(
                0 <= reserved && reserved <= on_hand,
                "{at}: reserved {reserved} on_hand {on_hand}"
            );
            // 2. Per location: reserved = the sum of the holds there.
            assert_eq!(reserved, held, "{at}: reserved vs holds");
            // 3. Conservation per location: everything put in (transfers included) is on
            //    hand or sold there.
            assert_eq!(on_hand + sold, m.total_in[s][l], "{at}: conservation");
            assert_eq!(on_hand, m.on_hand[s][l], "{at}: on_hand vs model");
            assert_eq!(sold, m.sold[s][l], "{at}: sold vs model");
        }
        // What a shopper sees: the sum over the active shipping locations.
        assert_eq!(
            levels[s].on_hand - levels[s].reserved,
            m.available(s),
            "step {step} {name}: available vs model"
        );
    }
    // 4. A reservation's live holds are all there or none are.
    for res in &m.res {
        let mut live = 0;
        for (s, l, q) in &res.items {
            let member = if *l == 0 {
                format!("{}|{q}", res.id)
            } else {
                format!("{}|{q}|{}", res.id, LOCS[*l])
            };
            let score: Option<f64> = r.zscore(e.keys().holds(SKUS[*s]), member).await.unwrap();
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

/// The model's allocation of one reserve: the parts, or the refusal Redis must answer.
fn allocate(
    m: &Model,
    items: &[(usize, u32)],
    pickup: Option<usize>,
) -> Result<Vec<(usize, usize, u32)>, ReserveOutcome> {
    let mut parts = Vec::new();
    for (s, q) in items {
        let q = i64::from(*q);
        if let Some(p) = pickup {
            let a = m.available_at(*s, p);
            if a < q {
                return Err(ReserveOutcome::Insufficient {
                    sku: SKUS[*s].into(),
                    available: a.max(0),
                    location: Some(loc(LOCS[p])),
                });
            }
            parts.push((*s, p, q as u32));
            continue;
        }
        if m.available(*s) < q {
            return Err(ReserveOutcome::Insufficient {
                sku: SKUS[*s].into(),
                available: m.available(*s).max(0),
                location: None,
            });
        }
        // Never skip a better-priority location that has a unit.
        let mut left = q;
        for l in m.ship_order() {
            let here = m.available_at(*s, l);
            if here >= 1 && left > 0 {
                let take = here.min(left);
                parts.push((*s, l, take as u32));
                left -= take;
            }
        }
    }
    Ok(parts)
}

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
                let mv = if dup && !m.movements.is_empty() {
                    m.movements[0].clone()
                } else {
                    format!("mv{step}")
                };
                let got = e
                    .transfer(&sku(SKUS[s]), &loc(LOCS[a]), &loc(LOCS[b]), q, &mv)
                    .await;
                if a == b {
                    assert!(got.is_err(), "step {step}: a transfer to itself is refused");
                    continue;
                }
                let q = i64::from(q);
                let want = if m.movements.contains(&mv) {
                    TransferOutcome::Duplicate
                } else if !m.exists[s] {
                    TransferOutcome::Short { available: 0 }
                } else if m.available_at(s, a) < q {
                    TransferOutcome::Short {
                        available: m.available_at(s, a).max(0),
                    }
                } else {
                    m.on_hand[s][a] -= q;
                    m.total_in[s][a] -= q;
                    m.on_hand[s][b] += q;
                    m.total_in[s][b] += q;
                    m.movements.push(mv);
                    TransferOutcome::Applied {
                        from_on_hand: m.on_hand[s][a],
                        to_on_hand: m.on_hand[s][b],
                    }
                };
                assert_eq!(got.unwrap(), want, "step {step}: transfer");
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
                e.sweep(100).await.unwrap();
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
