//! Lockdep: the order in which the locks a revoke crosses are taken, per thread, checked
//! against the order Linux 7.2 documents, as `CONFIG_PROVE_LOCKING` does. An inversion prints
//! lockdep's warning (a `Warn` event) when it is taken, whether or not that run deadlocks.
//!
//! The order: VFIO's `vdev->memory_lock` (held for write around `vfio_pci_dma_buf_move()`),
//! then the reservation lock (`dma_resv_lockdep()` primes it at boot, with `mmap_lock`
//! before it and reclaim after it), then iommufd's `pages->mutex` (taken inside the
//! reservation lock in `iopt_map_dmabuf()` "to make sure lockdep sees this", and in its
//! callback `iopt_revoke_notify()`). `mmap_lock` is not modelled: no step faults user memory.

use std::fmt;

#[allow(unused_imports)]
use super::*;

/// A class of locks lockdep orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockClass {
    /// `vdev->memory_lock`.
    MemoryLock,
    /// A buffer's reservation lock (`dma_resv_lock()`).
    Reservation,
    /// iommufd's `pages->mutex` of a dma-buf import.
    PagesMutex,
}

impl fmt::Display for LockClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockClass::MemoryLock => "vdev->memory_lock",
            LockClass::Reservation => "the reservation lock",
            LockClass::PagesMutex => "pages->mutex",
        })
    }
}

/// The words every lockdep warning of the model starts with, as the kernel's does.
pub const LOCKDEP_WARNING: &str = "possible circular locking dependency detected";

impl Kernel {
    /// The thread running now, as lockdep tells threads apart: the step depth, and whether
    /// the kernel's worker runs (a work item runs on its own thread).
    fn lock_thread(&self) -> (usize, bool) {
        (self.depth.get(), self.worker_running.get())
    }

    /// The running thread takes a lock of `class` (of `buf`'s objects): warns if it holds
    /// one the order puts after it.
    pub(super) fn lockdep_acquire(&self, buf: BufId, class: LockClass) {
        let thread = self.lock_thread();
        let inverted = self
            .lockdep_held
            .borrow()
            .iter()
            .filter(|(t, held)| *t == thread && *held > class)
            .map(|(_, held)| *held)
            .max();
        if let Some(held) = inverted {
            self.warn(
                buf,
                &format!(
                    "{LOCKDEP_WARNING}: taking {class} while holding {held} (the order is \
                     vdev->memory_lock, the reservation lock, pages->mutex)"
                ),
            );
        }
        self.lockdep_held.borrow_mut().push((thread, class));
    }

    /// The running thread releases a lock of `class`.
    pub(super) fn lockdep_release(&self, class: LockClass) {
        let thread = self.lock_thread();
        let mut held = self.lockdep_held.borrow_mut();
        if let Some(i) = held.iter().rposition(|e| *e == (thread, class)) {
            held.remove(i);
        }
    }

    /// `mutex_lock(&pages->mutex)` of the iommufd import `att`. Taking it twice on one thread
    /// never returns; wanted by a step running inside the step that holds it, that schedule
    /// cannot run ([`Blocked`]).
    pub fn pages_mutex_lock(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        self.lockdep_acquire(buf, LockClass::PagesMutex);
        let holder = self.pages_mutexes.borrow().get(&att).copied();
        if let Some(d) = holder {
            if d < self.depth.get() {
                panic::resume_unwind(Box::new(Blocked {
                    buf,
                    lock: "pages mutex",
                }));
            }
            self.hang();
        }
        self.pages_mutexes
            .borrow_mut()
            .insert(att, self.depth.get());
    }

    /// `mutex_unlock(&pages->mutex)`.
    pub fn pages_mutex_unlock(&self, att: AttId) {
        if self.pages_mutexes.borrow_mut().remove(&att).is_none() {
            let buf = self.attachment(att).buf;
            self.warn(buf, "mutex_unlock() of pages->mutex not held");
        }
        self.lockdep_release(LockClass::PagesMutex);
    }
}
