//! Fault injection for the crash-safety and interleaving tests: stops a lifecycle handler at a
//! named point as if the process had died there ([`Faults::hit`]), or holds it there until the
//! test lets it go ([`Faults::gate`], [`Faults::wait`]), so a test can force an interleaving.
//! Only test builds (`cfg(test)` or the `fault-injection` feature) can arm them; in production
//! builds `hit` is a constant `false` and `wait` returns at once.

#[cfg(any(test, feature = "fault-injection"))]
use std::sync::{Arc, Mutex};

/// Where a handler can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Place or confirm: after the hold was pinned, before the order is recorded.
    AfterPin,
    /// Place: after the order was recorded, before the transaction commits (a failed record).
    BeforePlaceCommit,
    /// Confirm: after the Postgres commit, before the Redis commit.
    AfterPgCommit,
    /// Shopper release: under the reservation lock, before Redis is called.
    BeforeRelease,
    /// Transfer: the ledger and outbox row are recorded and committed, Redis is not called.
    BeforeTransferApply,
}

/// A point a handler waits at until the test opens it.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Default)]
pub struct Gate {
    reached: tokio::sync::Notify,
    resume: tokio::sync::Notify,
}

#[cfg(any(test, feature = "fault-injection"))]
impl Gate {
    /// Resolves once a handler waits at the gate.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the waiting handler go on.
    pub fn open(&self) {
        self.resume.notify_one();
    }
}

/// Gates set by a test, each at its point.
#[cfg(any(test, feature = "fault-injection"))]
type Gates = Arc<Mutex<Vec<(FaultPoint, Arc<Gate>)>>>;

/// Armed fault points of one application instance.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    #[cfg(any(test, feature = "fault-injection"))]
    armed: Arc<Mutex<Vec<FaultPoint>>>,
    #[cfg(any(test, feature = "fault-injection"))]
    gates: Gates,
}

impl Faults {
    /// Sets a one-shot gate at `point`: the next handler reaching it waits until
    /// [`Gate::open`].
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn gate(&self, point: FaultPoint) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        self.gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((point, gate.clone()));
        gate
    }

    /// Waits at `point` when a gate is set there (test builds); returns at once otherwise.
    #[cfg(any(test, feature = "fault-injection"))]
    pub async fn wait(&self, point: FaultPoint) {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            let i = gates.iter().position(|(p, _)| *p == point);
            i.map(|i| gates.remove(i).1)
        };
        if let Some(g) = gate {
            tracing::warn!(?point, "waiting at a test gate");
            g.reached.notify_one();
            g.resume.notified().await;
        }
    }

    /// Returns at once in builds without fault injection.
    #[cfg(not(any(test, feature = "fault-injection")))]
    pub async fn wait(&self, _point: FaultPoint) {}

    /// Arms `point`: every confirm reaching it stops there until [`Faults::disarm`].
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn arm(&self, point: FaultPoint) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(point);
    }

    /// Disarms every point.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn disarm(&self) {
        self.armed.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// True when `point` is armed (the caller then stops).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn hit(&self, point: FaultPoint) -> bool {
        let hit = self
            .armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&point);
        if hit {
            tracing::warn!(?point, "fault injected");
        }
        hit
    }

    /// Always false in builds without fault injection.
    #[cfg(not(any(test, feature = "fault-injection")))]
    pub fn hit(&self, _point: FaultPoint) -> bool {
        false
    }
}
