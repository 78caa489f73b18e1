//! What an exporter that counts its mappings uses: VFIO's `priv->kref` (a `refcount_t`),
//! the completion it fires (`priv->comp`), and the device's `memory_lock`, which serialises
//! resets, restores and cleanup.
//!
//! The counter and the completion belong to the driver (they are fields of its private
//! structure); the kernel's functions change them, print the kernel's `refcount_t` warnings,
//! and hold the scheduling points. None of them is traced except the wait (recorded as
//! `wait_for_unmap`, the model's name for an exporter's wait for its importers' unmaps) and
//! the warnings.

use std::cell::Cell;

#[allow(unused_imports)]
use super::*;

/// `struct kref`: a `refcount_t`. An addition on 0 or an underflow warns and saturates the
/// counter, as `refcount_t` does; a saturated counter never reaches 0 again.
#[derive(Debug, Default)]
pub struct Kref {
    count: Cell<i64>,
    saturated: Cell<bool>,
}

/// `struct completion`: done once `complete()` ran, until `reinit_completion()`.
#[derive(Debug, Default)]
pub struct Completion {
    done: Cell<bool>,
}

impl Kref {
    /// The count now (a saturated counter reads as `None`).
    pub fn count(&self) -> Option<i64> {
        (!self.saturated.get()).then(|| self.count.get())
    }
}

impl Kernel {
    /// `kref_init()`: the count is 1.
    pub fn kref_init(&self, kref: &Kref) {
        kref.count.set(1);
        kref.saturated.set(false);
    }

    /// `kref_get()`: one more reference. On a count of 0 the kernel warns ("refcount_t:
    /// addition on 0; use-after-free.") and saturates the counter.
    pub fn kref_get(&self, buf: BufId, kref: &Kref) {
        if kref.saturated.get() {
            return;
        }
        if kref.count.get() <= 0 {
            kref.saturated.set(true);
            self.warn(buf, "refcount_t: addition on 0; use-after-free");
            return;
        }
        kref.count.set(kref.count.get() + 1);
    }

    /// `kref_put()`: one reference less; true if it was the last one (the caller's release
    /// function runs then). Below 0 the kernel warns ("refcount_t: underflow;
    /// use-after-free.") and saturates the counter.
    pub fn kref_put(&self, buf: BufId, kref: &Kref) -> bool {
        if kref.saturated.get() {
            return false;
        }
        let n = kref.count.get() - 1;
        if n < 0 {
            kref.saturated.set(true);
            self.warn(buf, "refcount_t: underflow; use-after-free");
            return false;
        }
        kref.count.set(n);
        n == 0
    }

    /// `complete()`: wakes whoever waits for `comp`, now or later.
    pub fn complete(&self, comp: &Completion) {
        comp.done.set(true);
    }

    /// `reinit_completion()` (and `init_completion()`): not done.
    pub fn reinit_completion(&self, comp: &Completion) {
        comp.done.set(false);
    }

    /// `wait_for_completion()` for the completion that fires when the last mapping of
    /// `buf` is given back; traced as `wait_for_unmap(buf)`. The exporter sleeps: queued
    /// work items run meanwhile; if the completion has still not fired, nothing will fire
    /// it and the call never returns.
    pub fn wait_for_completion(&self, buf: BufId, comp: &Completion) {
        self.sched_point(SchedPoint::UnmapWait { buf });
        self.core(buf, Call::WaitForUnmap { buf }, || {
            self.sleep_until(|| comp.done.get());
            if !comp.done.get() {
                self.hang();
            }
        })
    }

    /// `down_write(&vdev->memory_lock)`: the device's memory lock, one per exporter of `buf`
    /// in the model (a VFIO device exports one buffer here). Taking it twice on one thread
    /// never returns; wanted by a step running inside the step that holds it, that schedule
    /// cannot run ([`Blocked`]). It has no scheduling point of its own: every exporter step
    /// that takes it takes it first, so the step's `start` point is the same place.
    pub fn down_write(&self, buf: BufId) {
        self.lockdep_acquire(buf, LockClass::MemoryLock);
        let holder = self.memory_locks.borrow().get(&buf).copied();
        if let Some(d) = holder {
            if d < self.depth.get() {
                panic::resume_unwind(Box::new(Blocked {
                    buf,
                    lock: "memory lock",
                }));
            }
            self.hang();
        }
        self.memory_locks.borrow_mut().insert(buf, self.depth.get());
    }

    /// `up_write(&vdev->memory_lock)`.
    pub fn up_write(&self, buf: BufId) {
        if self.memory_locks.borrow_mut().remove(&buf).is_none() {
            self.warn(buf, "up_write() of a memory lock not held");
        }
        self.lockdep_release(LockClass::MemoryLock);
    }
}
