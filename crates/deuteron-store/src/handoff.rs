//! Idle workers of this process, to which whoever starts a deployment can hand it already
//! claimed. A worker with nothing to do offers itself here while it waits; a rollout driver that
//! finds one inserts its deployment running and leased to that worker (see
//! [`crate::RolloutLink::claimed_by`]) and passes the row over. The deployment then starts as
//! soon as its insert commits: no wake-up, look at the queue or claim in between, and one write
//! instead of two. Without an idle worker the deployment is queued as usual.
//!
//! A worker offers itself only once it found the queue empty, so it never holds a handed
//! deployment (its lease running) while it runs another. When it stops waiting (a wake-up, its
//! poll, a stop) it withdraws the offer; if a driver took it meanwhile, the worker waits for what
//! the driver hands it (or for the driver to drop the offer when its insert fails), so no handed
//! deployment is left behind.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use crate::{ClaimFor, DeploymentRecord};

#[derive(Debug, Default)]
pub struct Handoff {
    idle: Mutex<Vec<Offer>>,
    tickets: AtomicU64,
}

#[derive(Debug)]
struct Offer {
    ticket: u64,
    claim: ClaimFor,
    to: oneshot::Sender<DeploymentRecord>,
}

/// A worker's offer, while it waits.
#[derive(Debug)]
pub struct Waiting {
    ticket: u64,
    /// Receives the deployment handed over; an error when the taker dropped the offer.
    pub handed: oneshot::Receiver<DeploymentRecord>,
}

/// An offer a starter took: whom to claim the deployment for, and where to hand it.
#[derive(Debug)]
pub struct Taken {
    pub claim: ClaimFor,
    to: oneshot::Sender<DeploymentRecord>,
}

impl Taken {
    /// Hands the claimed deployment over; false if the worker is gone (its lease then expires
    /// and another worker takes the deployment over).
    pub fn give(self, d: DeploymentRecord) -> bool {
        self.to.send(d).is_ok()
    }
}

impl Handoff {
    /// Offers `worker` (one of its loops) for deployments claimed with a lease of `lease_ms`.
    pub fn offer(&self, worker: &str, lease_ms: i64) -> Waiting {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let (to, handed) = oneshot::channel();
        let claim = ClaimFor { worker: worker.to_string(), lease_ms };
        self.idle.lock().expect("handoff").push(Offer { ticket, claim, to });
        Waiting { ticket, handed }
    }

    /// Withdraws an offer: true if nobody had taken it; false if a starter has (then what it
    /// hands over, if anything, arrives on [`Waiting::handed`]).
    pub fn withdraw(&self, w: &Waiting) -> bool {
        let mut idle = self.idle.lock().expect("handoff");
        match idle.iter().position(|o| o.ticket == w.ticket) {
            Some(i) => {
                idle.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes the offer of an idle worker, if there is one.
    pub fn take(&self) -> Option<Taken> {
        let mut idle = self.idle.lock().expect("handoff");
        while let Some(o) = idle.pop() {
            // A loop that gave up waiting without withdrawing (it was dropped) is skipped.
            if !o.to.is_closed() {
                return Some(Taken { claim: o.claim, to: o.to });
            }
        }
        None
    }

    /// How many workers are on offer.
    pub fn idle(&self) -> usize {
        self.idle.lock().expect("handoff").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_taken_withdrawn_or_skipped_once_dropped() {
        let h = Handoff::default();
        let a = h.offer("w", 1000);
        let b = h.offer("w", 1000);
        assert_eq!(h.idle(), 2);
        assert!(h.withdraw(&a), "nobody took a");
        assert!(!h.withdraw(&a), "withdrawn once");
        let taken = h.take().expect("b is on offer");
        assert_eq!(taken.claim, ClaimFor { worker: "w".into(), lease_ms: 1000 });
        assert!(!h.withdraw(&b), "b was taken: its worker waits for what is handed");
        drop(taken);
        let mut b = b;
        assert!(b.handed.try_recv().is_err(), "a dropped offer hands nothing");
        let c = h.offer("w", 1000);
        drop(c);
        assert!(h.take().is_none(), "an offer whose worker is gone is skipped");
        assert_eq!(h.idle(), 0);
    }
}
