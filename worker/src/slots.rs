//! `ConversionSlots`: how many images a worker converts at once (one per
//! core by default), given out interactive work first.
//!
//! A job holds one only while it converts. Fetching a URL source, waiting
//! for a permit of its host, reading a staged upload and storing the avatar
//! happen outside them, so that jobs waiting on slow origins leave the
//! cores to jobs that have their bytes. When every slot is busy, a waiting
//! interactive job takes the next free one before any waiting bulk job.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use avatar_common::jobs::Lane;
use avatar_common::metrics;
use tokio::sync::oneshot;

/// The conversion slots of one worker pool.
pub struct ConversionSlots {
    inner: Mutex<Inner>,
}

struct Inner {
    free: usize,
    interactive: VecDeque<oneshot::Sender<()>>,
    bulk: VecDeque<oneshot::Sender<()>>,
}

/// One slot, given back when dropped.
pub struct Slot {
    slots: Arc<ConversionSlots>,
}

impl ConversionSlots {
    pub fn new(count: usize) -> Arc<Self> {
        metrics::slots_added(count);
        Arc::new(Self {
            inner: Mutex::new(Inner {
                free: count,
                interactive: VecDeque::new(),
                bulk: VecDeque::new(),
            }),
        })
    }

    /// A slot for a job of `lane`, once one is free and no job of a lane
    /// before it waits.
    pub async fn acquire(self: &Arc<Self>, lane: Lane) -> Slot {
        let receiver = {
            let mut inner = self.lock();
            let ahead = match lane {
                Lane::Interactive => 0,
                Lane::Bulk => inner.interactive.len(),
            };
            if inner.free > 0 && ahead == 0 {
                inner.free -= 1;
                return self.slot();
            }
            let (sender, receiver) = oneshot::channel();
            match lane {
                Lane::Interactive => inner.interactive.push_back(sender),
                Lane::Bulk => inner.bulk.push_back(sender),
            }
            receiver
        };
        let mut waiting = Waiting {
            slots: self,
            receiver: Some(receiver),
        };
        if let Some(receiver) = waiting.receiver.as_mut() {
            // The sender is only dropped after a send, or with the slots.
            let _ = receiver.await;
        }
        waiting.receiver = None;
        self.slot()
    }

    /// How many slots are free, for the tests.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.lock().free
    }

    fn slot(self: &Arc<Self>) -> Slot {
        metrics::slot_busy(true);
        Slot {
            slots: Arc::clone(self),
        }
    }

    /// Hands a given-back slot to the first waiter, interactive first, or
    /// counts it free.
    fn release(&self) {
        let mut inner = self.lock();
        while let Some(next) = inner
            .interactive
            .pop_front()
            .or_else(|| inner.bulk.pop_front())
        {
            if next.send(()).is_ok() {
                return;
            }
        }
        inner.free += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is plain counts and queues, valid after any panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::slot_busy(false);
        self.slots.release();
    }
}

/// A waiter whose future may be dropped: a slot handed to it meanwhile is
/// given back rather than lost.
struct Waiting<'a> {
    slots: &'a ConversionSlots,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiting_interactive_job_takes_the_next_slot_before_earlier_bulk_ones() {
        let slots = ConversionSlots::new(1);
        let running = slots.acquire(Lane::Bulk).await;
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        for (name, lane) in [("bulk-1", Lane::Bulk), ("bulk-2", Lane::Bulk)] {
            let (slots, order_tx) = (slots.clone(), order_tx.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire(lane).await;
                order_tx.send(name).expect("send");
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (slots_i, order_i) = (slots.clone(), order_tx.clone());
        tokio::spawn(async move {
            let _slot = slots_i.acquire(Lane::Interactive).await;
            order_i.send("interactive").expect("send");
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(running);
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(order.recv().await.expect("a job ran"));
        }
        assert_eq!(seen, ["interactive", "bulk-1", "bulk-2"]);
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_loses_no_slot() {
        let slots = ConversionSlots::new(1);
        let running = slots.acquire(Lane::Interactive).await;
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move {
                let _slot = slots.acquire(Lane::Bulk).await;
                std::future::pending::<()>().await;
            }
        });
        let gives_up = tokio::time::timeout(Duration::from_millis(20), slots.acquire(Lane::Bulk));
        assert!(gives_up.await.is_err());
        drop(running);
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(slots.free(), 1);
        let _again = slots.acquire(Lane::Bulk).await;
        assert_eq!(slots.free(), 0);
    }
}
