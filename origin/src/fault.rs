//! Fault injection for the crash-safety tests: stops the confirm handler at a named point as if
//! the process had died there. Only test builds (`cfg(test)` or the `fault-injection` feature)
//! can arm it; in production builds [`Faults::hit`] is a constant `false`.

#[cfg(any(test, feature = "fault-injection"))]
use std::sync::{Arc, Mutex};

/// Where the confirm handler can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// After the hold was pinned, before the Postgres transaction.
    AfterPin,
    /// After the Postgres commit, before the Redis commit.
    AfterPgCommit,
}

/// Armed fault points of one application instance.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    #[cfg(any(test, feature = "fault-injection"))]
    armed: Arc<Mutex<Vec<FaultPoint>>>,
}

impl Faults {
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
