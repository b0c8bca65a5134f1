//! One answer for a reservation across shards from its parts' answers: a reservation is only as
//! far along as its slowest part, and the worst part's refusal decides.

use super::{
    CommitOutcome, ExtendOutcome, Item, PinOutcome, ReleaseOutcome, RepinOutcome,
    ReservationRecord, UnpinOutcome,
};
use crate::domain::ReservationStatus;
use crate::keys::ShardId;

/// Every part of a reservation as its shards answer (`None`: the shard has no part).
#[derive(Debug, Clone)]
pub struct Parts(pub Vec<(ShardId, Option<ReservationRecord>)>);

/// The least advanced of two statuses: a reservation is only as far along as its slowest part.
pub(super) fn least(a: ReservationStatus, b: ReservationStatus) -> ReservationStatus {
    use ReservationStatus::{Committed, Confirming, Expired, Held, Released};
    let rank = |s| match s {
        Released => 0,
        Expired => 1,
        Held => 2,
        Confirming => 3,
        Committed => 4,
    };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

impl Parts {
    /// The reservation as one record: every part present, the least advanced status, the
    /// earliest expiries, the parts' items in shard order. `None` when a part is missing.
    pub fn whole(self) -> Option<ReservationRecord> {
        let mut out: Option<ReservationRecord> = None;
        for (_, part) in self.0 {
            let part = part?;
            out = Some(match out {
                None => part,
                Some(mut w) => {
                    w.status = least(w.status, part.status);
                    w.items.extend(part.items);
                    w.created_ms = w.created_ms.min(part.created_ms);
                    w.expires_ms = w.expires_ms.min(part.expires_ms);
                    w.max_expires_ms = w.max_expires_ms.min(part.max_expires_ms);
                    w
                }
            });
        }
        out
    }
}

impl ExtendOutcome {
    /// One answer for a reservation's parts: any part gone or not held decides; else the
    /// earliest expiry (a part already at its cap counts with its cap).
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(p) = parts
            .iter()
            .find(|p| matches!(p, Self::NotFound | Self::Expired | Self::NotHeld(_)))
        {
            return p.clone();
        }
        let (mut expires, mut max, mut extended) = (i64::MAX, i64::MAX, false);
        for p in &parts {
            match p {
                Self::Extended {
                    expires_ms,
                    max_expires_ms,
                } => {
                    extended = true;
                    expires = expires.min(*expires_ms);
                    max = max.min(*max_expires_ms);
                }
                Self::AtLimit { max_expires_ms } => {
                    expires = expires.min(*max_expires_ms);
                    max = max.min(*max_expires_ms);
                }
                _ => {}
            }
        }
        if extended {
            Self::Extended {
                expires_ms: expires,
                max_expires_ms: max,
            }
        } else {
            Self::AtLimit {
                max_expires_ms: max,
            }
        }
    }
}

impl ReleaseOutcome {
    /// One answer for a reservation's parts: committed or confirming parts refuse; parts that
    /// are gone are skipped; `changed` when any part gave units back.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        for refusal in [Self::Committed, Self::Confirming] {
            if parts.contains(&refusal) {
                return refusal;
            }
        }
        let mut out = Self::NotFound;
        for p in parts {
            if let Self::Released { status, changed } = p {
                out = match out {
                    Self::Released {
                        status: s,
                        changed: c,
                    } => Self::Released {
                        status: least(s, status),
                        changed: c || changed,
                    },
                    _ => Self::Released { status, changed },
                };
            }
        }
        out
    }
}

impl PinOutcome {
    /// Every part pinned: the earliest deadline and expiry; `again` when every part was.
    pub(super) fn combine(parts: Vec<(Self, Vec<Item>)>) -> (Self, Vec<Item>) {
        let mut items = Vec::new();
        let mut out: Option<Self> = None;
        for (p, part_items) in parts {
            items.extend(part_items);
            let Self::Pinned {
                deadline_ms,
                expires_ms,
                now_ms: _,
                again,
            } = p
            else {
                return (p, Vec::new());
            };
            out = Some(match out {
                Some(Self::Pinned {
                    deadline_ms: d,
                    expires_ms: e,
                    now_ms: n,
                    again: a,
                }) => Self::Pinned {
                    deadline_ms: d.min(deadline_ms),
                    expires_ms: e.min(expires_ms),
                    now_ms: n,
                    again: a && again,
                },
                _ => p,
            });
        }
        (out.unwrap_or(Self::NotFound), items)
    }
}

impl UnpinOutcome {
    /// Unpinned when any part was (the earliest restored expiry), else the first part's answer.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        let earliest = parts
            .iter()
            .filter_map(|p| match p {
                Self::Unpinned { expires_ms } => Some(*expires_ms),
                _ => None,
            })
            .min();
        match earliest {
            Some(expires_ms) => Self::Unpinned { expires_ms },
            None => parts.into_iter().next().unwrap_or(Self::NotFound),
        }
    }
}

impl RepinOutcome {
    /// The first short part; else held again (the earliest expiry) when any part was.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(short) = parts.iter().find(|p| matches!(p, Self::Short { .. })) {
            return short.clone();
        }
        let earliest = parts
            .iter()
            .filter_map(|p| match p {
                Self::Repinned { expires_ms } => Some(*expires_ms),
                _ => None,
            })
            .min();
        match earliest {
            Some(expires_ms) => Self::Repinned { expires_ms },
            None => parts
                .into_iter()
                .next()
                .unwrap_or(Self::Exists(ReservationStatus::Released)),
        }
    }
}

impl CommitOutcome {
    /// The first short part; else late when any part was late; committed before only when
    /// every part was.
    pub(super) fn combine(parts: Vec<Self>) -> Self {
        if let Some(short) = parts.iter().find(|p| matches!(p, Self::Short { .. })) {
            return short.clone();
        }
        if parts.contains(&Self::Late) {
            Self::Late
        } else if !parts.is_empty() && parts.iter().all(|p| *p == Self::AlreadyCommitted) {
            Self::AlreadyCommitted
        } else {
            Self::Committed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_is_as_far_along_as_its_slowest_part() {
        use ReservationStatus::*;
        assert_eq!(least(Committed, Confirming), Confirming);
        assert_eq!(least(Held, Confirming), Held);
        assert_eq!(least(Held, Released), Released);
        assert_eq!(least(Expired, Held), Expired);
    }

    #[test]
    fn combined_answers_let_the_worst_part_decide() {
        let ext = |e, m| ExtendOutcome::Extended {
            expires_ms: e,
            max_expires_ms: m,
        };
        assert_eq!(
            ExtendOutcome::combine(vec![ext(50, 90), ext(40, 95)]),
            ext(40, 90)
        );
        assert_eq!(
            ExtendOutcome::combine(vec![ext(50, 90), ExtendOutcome::Expired]),
            ExtendOutcome::Expired
        );
        assert_eq!(
            CommitOutcome::combine(vec![CommitOutcome::Committed, CommitOutcome::Late]),
            CommitOutcome::Late
        );
        assert_eq!(
            CommitOutcome::combine(vec![
                CommitOutcome::AlreadyCommitted,
                CommitOutcome::AlreadyCommitted
            ]),
            CommitOutcome::AlreadyCommitted
        );
        assert_eq!(
            ReleaseOutcome::combine(vec![
                ReleaseOutcome::NotFound,
                ReleaseOutcome::Released {
                    status: ReservationStatus::Expired,
                    changed: false
                },
                ReleaseOutcome::Released {
                    status: ReservationStatus::Released,
                    changed: true
                },
            ]),
            ReleaseOutcome::Released {
                status: ReservationStatus::Released,
                changed: true
            }
        );
    }
}
