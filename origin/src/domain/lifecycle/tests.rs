use super::OrderEvent::*;
use super::OrderStatus::*;
use super::*;

const ALL: [OrderStatus; 5] = [
    PendingPayment,
    Confirmed,
    Cancelled,
    Expired,
    NeedsAttention,
];
const EVENTS: [OrderEvent; 4] = [Confirm, Cancel, Expire, CommitShort];

/// The whole table: every (status, event) pair, allowed or not.
#[test]
fn the_transition_table_is_exactly_the_documented_one() {
    let allowed = [
        (PendingPayment, Confirm, Confirmed),
        (Expired, Confirm, Confirmed),
        (NeedsAttention, Confirm, Confirmed),
        (PendingPayment, Cancel, Cancelled),
        (Confirmed, Cancel, Cancelled),
        (NeedsAttention, Cancel, Cancelled),
        (Cancelled, Cancel, Cancelled),
        (PendingPayment, Expire, Expired),
        (Confirmed, CommitShort, NeedsAttention),
    ];
    for from in ALL {
        for event in EVENTS {
            let want = allowed
                .iter()
                .find(|(f, e, _)| *f == from && *e == event)
                .map(|(_, _, to)| *to);
            match (from.next(event), want) {
                (Ok(got), Some(to)) => assert_eq!(got, to, "{from:?} + {event:?}"),
                (Err(Error::IllegalTransition { from: f, event: e }), None) => {
                    assert_eq!((f, e), (from, event));
                }
                (got, want) => panic!("{from:?} + {event:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}

#[test]
fn cancel_plan_follows_the_table() {
    use CancelPlan as P;
    let cases = [
        (Cancelled, true, None, Some(P::AlreadyCancelled)),
        (PendingPayment, false, None, Some(P::ReleaseHold)),
        (NeedsAttention, true, None, Some(P::NothingInRedis)),
        (Confirmed, true, Some(false), Some(P::KeepSold)),
        (Confirmed, false, Some(false), Some(P::KeepSold)),
        (Confirmed, true, Some(true), Some(P::Restock)),
        (Confirmed, false, Some(true), Some(P::RewriteCommit)),
        (Confirmed, true, None, None),
        (Expired, false, Some(true), None),
    ];
    for (status, done, restock, want) in cases {
        let got = CancelPlan::for_order(status, done, restock).ok();
        assert_eq!(got, want, "{status:?} done={done} restock={restock:?}");
    }
}
