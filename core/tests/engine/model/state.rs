//! The model's steps and state: locations, reservations and counters, the allocation it expects, and the
//! invariants checked against Redis after every step.

use super::super::*;
use super::{LOCS, SKUS};

/// One step of a case.
#[derive(Debug, Clone)]
pub(super) enum Op {
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

/// A random step.
pub(super) fn op() -> impl Strategy<Value = Op> {
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
pub(super) enum St {
    Held,
    Confirming,
    Committed,
    Released,
    Expired,
}

#[derive(Debug, Clone)]
pub(super) struct MRes {
    pub(super) id: String,
    /// The requested lines (for replays).
    pub(super) lines: Vec<(usize, u32)>,
    pub(super) pickup: Option<usize>,
    /// The allocated parts: (sku, location, units).
    pub(super) items: Vec<(usize, usize, u32)>,
    pub(super) expires: i64,
    pub(super) max_expires: i64,
    pub(super) st: St,
    pub(super) fp: String,
    /// Set by a pin: the expiry to go back to on unpin, and the deadline Redis answered.
    pub(super) held_expires: i64,
    pub(super) deadline: Option<i64>,
}

/// A location's settings in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MLoc {
    pub(super) priority: i32,
    pub(super) active: bool,
    pub(super) ships: bool,
    pub(super) pickup: bool,
}

#[derive(Debug)]
pub(super) struct Model {
    pub(super) now: i64, // model time (ms) = clock offset
    pub(super) exists: [bool; 3],
    /// SKUs that require a customer to reserve.
    pub(super) rc: [bool; 3],
    /// Per [sku][location].
    pub(super) on_hand: [[i64; 3]; 3],
    pub(super) sold: [[i64; 3]; 3],
    pub(super) total_in: [[i64; 3]; 3],
    pub(super) locs: [MLoc; 3],
    pub(super) res: Vec<MRes>,
    pub(super) movements: Vec<String>,
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
    pub(super) fn live(&self, r: &MRes) -> bool {
        matches!(r.st, St::Held | St::Confirming) && r.expires > self.now
    }
    pub(super) fn reserved(&self, s: usize, l: usize) -> i64 {
        self.res
            .iter()
            .filter(|r| self.live(r))
            .flat_map(|r| r.items.iter())
            .filter(|(k, at, _)| *k == s && *at == l)
            .map(|(_, _, q)| i64::from(*q))
            .sum()
    }
    pub(super) fn available_at(&self, s: usize, l: usize) -> i64 {
        self.on_hand[s][l] - self.reserved(s, l)
    }
    /// Active shipping locations in allocation order (priority, then code bytes).
    pub(super) fn ship_order(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..3)
            .filter(|l| self.locs[*l].active && self.locs[*l].ships)
            .collect();
        v.sort_by_key(|l| (self.locs[*l].priority, LOCS[*l].as_bytes()));
        v
    }
    /// What a shopper sees: the sum over the active shipping locations.
    pub(super) fn available(&self, s: usize) -> i64 {
        self.ship_order()
            .into_iter()
            .map(|l| self.available_at(s, l))
            .sum()
    }
    pub(super) fn settings(&self) -> Vec<LocationSettings> {
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

pub(super) fn lines_of(v: &[(usize, u32)]) -> Vec<Line> {
    v.iter().map(|(s, q)| item(SKUS[*s], *q)).collect()
}

pub(super) fn parts_of(v: &[(usize, usize, u32)]) -> Vec<Item> {
    v.iter()
        .map(|(s, l, q)| Item {
            sku: sku(SKUS[*s]),
            qty: *q,
            location: loc(LOCS[*l]),
        })
        .collect()
}

pub(super) async fn check_invariants(e: &Engine<ReqwestTransport>, m: &Model, step: usize) {
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
pub(super) fn allocate(
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

/// A transfer of `q` units of SKU `s` from location `a` to `b` (a repeated movement id with
/// `dup`), checked against the model and applied to it.
pub(super) async fn transfer_step(
    e: &Engine<ReqwestTransport>,
    m: &mut Model,
    (s, a, b, q, dup): (usize, usize, usize, u32, bool),
    step: usize,
) {
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
        return;
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
