//! Broken VFIO exporters.

use std::rc::Rc;

use reference_impl::book::revocation::VfioExporter;
use reference_impl::{
    Actor, AttId, BufId, Call, DmaBufOps, DmaResvUsage, Errno, Exporter, ExporterKind, Kernel,
    OpsTable, SgtId, ShimRole, Timeout,
};

/// Which bug a [`BuggyVfio`] has.
#[derive(Clone, Copy, Default)]
struct Bugs {
    no_bookkeep_wait: bool,
    no_unmap_wait: bool,
    map_while_revoked: bool,
    check_in_pin: bool,
    restore_without_notify: bool,
    accepts_non_revocable: bool,
    attach_while_revoked: bool,
    cleanup_revokes_again: bool,
    ignores_peer2peer: bool,
    invalidates_unlocked: bool,
    gives_up_after_timeout: bool,
    ignores_interrupted_wait: bool,
    marks_after_unlock: bool,
    rearms_on_unrevoke: bool,
    cleanup_without_memory_lock: bool,
    cleanup_relocks_memory_lock: bool,
}

/// The reference VFIO exporter with one bug.
struct BuggyVfio {
    inner: VfioExporter,
    buf: BufId,
    bugs: Bugs,
}

impl BuggyVfio {
    fn make(buf: BufId, bugs: Bugs) -> Rc<dyn Exporter> {
        Rc::new(BuggyVfio {
            inner: VfioExporter::new(buf),
            buf,
            bugs,
        })
    }
}

impl DmaBufOps for BuggyVfio {
    fn table(&self) -> OpsTable {
        // v2's VFIO had `pin` and `unpin` ops, where it checked revocability.
        let pin = self.bugs.check_in_pin;
        OpsTable {
            pin,
            unpin: pin,
            ..self.inner.table()
        }
    }
    fn attach(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        if self.bugs.ignores_peer2peer {
            return if k.dma_buf_attach_revocable(att) {
                Ok(())
            } else {
                Err(Errno::EOPNOTSUPP)
            };
        }
        if self.bugs.attach_while_revoked {
            let ok = k.attachment(att).peer2peer && k.dma_buf_attach_revocable(att);
            return if ok { Ok(()) } else { Err(Errno::EOPNOTSUPP) };
        }
        if self.bugs.accepts_non_revocable {
            return if k.attachment(att).peer2peer {
                Ok(())
            } else {
                Err(Errno::EOPNOTSUPP)
            };
        }
        if self.bugs.check_in_pin {
            return if k.attachment(att).peer2peer {
                Ok(())
            } else {
                Err(Errno::EOPNOTSUPP)
            };
        }
        self.inner.attach(k, att)
    }
    fn pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        if self.bugs.check_in_pin && !k.dma_buf_attach_revocable(att) {
            return Err(Errno::EOPNOTSUPP);
        }
        self.inner.pin(k, att)
    }
    fn unpin(&self, k: &Kernel, att: AttId) {
        self.inner.unpin(k, att)
    }
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        if self.bugs.map_while_revoked {
            return Ok(k.new_sg_table(att));
        }
        self.inner.map_dma_buf(k, att)
    }
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        self.inner.unmap_dma_buf(k, att, sgt)
    }
    fn private_map(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        if self.bugs.map_while_revoked {
            return Ok(k.new_sg_table(att));
        }
        self.inner.private_map(k, att)
    }
}

impl Exporter for BuggyVfio {
    fn buf(&self) -> BufId {
        self.buf
    }
    fn export(&self, k: &Kernel) -> Result<(), Errno> {
        self.inner.export(k)
    }
    fn revoke(&self, k: &Kernel) {
        if self.bugs.invalidates_unlocked {
            // Marks and invalidates before taking the lock.
            self.inner.priv_.borrow_mut().revoked = true;
            k.dma_buf_invalidate_mappings(self.buf);
            k.dma_resv_lock(self.buf);
            k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
            k.dma_resv_unlock(self.buf);
            k.wait_for_unmap(self.buf);
            return;
        }
        if self.bugs.gives_up_after_timeout {
            // One bounded wait; on a timeout it carries on and the reset reuses the memory.
            k.dma_resv_lock(self.buf);
            self.inner.priv_.borrow_mut().revoked = true;
            k.dma_buf_invalidate_mappings(self.buf);
            k.dma_resv_wait_timeout(
                self.buf,
                DmaResvUsage::Bookkeep,
                false,
                Timeout::Jiffies(250),
            );
            k.dma_resv_unlock(self.buf);
            k.wait_for_unmap(self.buf);
            return;
        }
        if self.bugs.ignores_interrupted_wait {
            // The reference revoke, but its wait is interruptible and its return ignored: a
            // signal pending for the reset's caller cuts the wait short, and the revoke goes
            // on to the unmap wait and the reset as if the fences had signalled.
            k.down_write(self.buf);
            k.dma_resv_lock(self.buf);
            self.inner.priv_.borrow_mut().revoked = true;
            k.dma_buf_invalidate_mappings(self.buf);
            k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, true, Timeout::Max);
            k.dma_resv_unlock(self.buf);
            self.inner.put_ref(k);
            k.wait_for_completion(self.buf, &self.inner.comp);
            k.kref_init(&self.inner.kref);
            k.reinit_completion(&self.inner.comp);
            k.up_write(self.buf);
            return;
        }
        if self.bugs.marks_after_unlock {
            // Invalidates and waits under the lock, but sets the mark only after dropping it.
            k.dma_resv_lock(self.buf);
            k.dma_buf_invalidate_mappings(self.buf);
            k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
            k.dma_resv_unlock(self.buf);
            self.inner.priv_.borrow_mut().revoked = true;
            k.wait_for_unmap(self.buf);
            return;
        }
        if self.bugs.rearms_on_unrevoke {
            // Before v7's fix: the revoke leaves the counter at 0 and the completion done;
            // the restore re-arms them.
            k.down_write(self.buf);
            if !self.inner.priv_.borrow().revoked {
                k.dma_resv_lock(self.buf);
                self.inner.priv_.borrow_mut().revoked = true;
                k.dma_buf_invalidate_mappings(self.buf);
                k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
                k.dma_resv_unlock(self.buf);
                self.inner.put_ref(k);
                k.wait_for_completion(self.buf, &self.inner.comp);
            }
            k.up_write(self.buf);
            return;
        }
        if !(self.bugs.no_bookkeep_wait || self.bugs.no_unmap_wait) {
            return self.inner.revoke(k);
        }
        k.dma_resv_lock(self.buf);
        self.inner.priv_.borrow_mut().revoked = true;
        k.dma_buf_invalidate_mappings(self.buf);
        if !self.bugs.no_bookkeep_wait {
            k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        }
        k.dma_resv_unlock(self.buf);
        if !self.bugs.no_unmap_wait {
            k.wait_for_unmap(self.buf);
        }
    }
    fn put(&self, k: &Kernel) {
        if self.bugs.cleanup_relocks_memory_lock {
            // The cleanup takes `memory_lock` and drains through the reset path, which takes
            // it again (instead of the move that asserts it held): it never returns.
            k.down_write(self.buf);
            self.inner.revoke(k);
            k.up_write(self.buf);
            k.dma_buf_put(self.buf);
            return;
        }
        if self.bugs.cleanup_without_memory_lock {
            // The cleanup's revoke without `down_write(&vdev->memory_lock)`: a reset on
            // another thread can run between its test of the mark and its invalidation.
            self.inner.set_revoked(k, true);
            k.dma_buf_put(self.buf);
            return;
        }
        if !self.bugs.cleanup_revokes_again {
            return self.inner.put(k);
        }
        // vfio_pci_dma_buf_cleanup() as merged for 7.1: revoke whatever the state, then
        // kref_put() and wait_for_completion() unconditionally.
        let buf = self.buf;
        if !self.inner.priv_.borrow().revoked {
            return self.inner.put(k);
        }
        k.dma_resv_lock(buf);
        k.dma_buf_invalidate_mappings(buf);
        k.dma_resv_wait_timeout(buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        k.dma_resv_unlock(buf);
        // The revoke already dropped the exporter's reference: kref_put() underflows.
        k.warn(buf, "refcount_t: underflow; use-after-free");
        // The completion fired once, at the revoke: nobody will complete it again.
        k.traced(buf, Actor::Core, Call::WaitForUnmap { buf }, || -> () {
            k.hang()
        });
    }
    fn restore(&self, k: &Kernel) {
        if self.bugs.rearms_on_unrevoke {
            k.down_write(self.buf);
            if self.inner.priv_.borrow().revoked {
                k.dma_resv_lock(self.buf);
                k.dma_buf_invalidate_mappings(self.buf);
                k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
                k.dma_resv_unlock(self.buf);
                k.dma_resv_lock(self.buf);
                self.inner.priv_.borrow_mut().revoked = false;
                k.dma_resv_unlock(self.buf);
                // Re-armed after the mark is clear: a map in between took its reference
                // on a count of 0, and this throws it away.
                k.kref_init(&self.inner.kref);
                k.reinit_completion(&self.inner.comp);
            }
            k.up_write(self.buf);
            return;
        }
        if self.bugs.restore_without_notify {
            k.dma_resv_lock(self.buf);
            self.inner.priv_.borrow_mut().revoked = false;
            k.dma_resv_unlock(self.buf);
            return;
        }
        self.inner.restore(k)
    }
}

// VFIO before the fix the seed thread asked for: the invalidation is asynchronous, and the
// memory is reused before the importers' queued work has finished.
broken!(
    NO_BOOKKEEP_WAIT,
    "broken-vfio-no-bookkeep-wait",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                no_bookkeep_wait: true,
                ..Bugs::default()
            }
        ),
    },
    "invalidates, then does not wait for BOOKKEEP fences before the memory is reused",
    "revoke.exporter.wait-bookkeep"
);

// VFIO before v5: no wait for the importers' unmaps.
broken!(
    NO_UNMAP_WAIT,
    "broken-vfio-no-unmap-wait",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                no_unmap_wait: true,
                ..Bugs::default()
            }
        ),
    },
    "invalidates and waits for fences, but does not wait for importers to unmap before the memory is reused",
    "revoke.exporter.wait-unmap"
);

// A map that succeeds while the buffer is revoked.
broken!(
    MAP_WHILE_REVOKED,
    "broken-vfio-map-while-revoked",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| {
            BuggyVfio::make(
                buf,
                Bugs {
                    map_while_revoked: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "map_dma_buf succeeds while the buffer is revoked",
    "revoke.exporter.reject-map"
);

// The v2 proposal: revocability checked in `pin`, not in `attach`.
broken!(
    CHECK_IN_PIN,
    "broken-vfio-check-in-pin",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| {
            BuggyVfio::make(
                buf,
                Bugs {
                    check_in_pin: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "checks dma_buf_attach_revocable() in pin instead of attach, so non-revocable importers attach",
    "attach.revocable.check-in-attach"
);

// A restore that clears the mark without telling anyone.
broken!(
    RESTORE_WITHOUT_NOTIFY,
    "broken-vfio-restore-without-notify",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| {
            BuggyVfio::make(
                buf,
                Bugs {
                    restore_without_notify: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "restores a revoked buffer without calling dma_buf_invalidate_mappings(), so dynamic importers stay without access",
    "revoke.restore.notify"
);

// A revoking exporter that never asks whether the importer can be revoked.
broken!(
    ACCEPTS_NON_REVOCABLE,
    "broken-vfio-accepts-non-revocable",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| {
            BuggyVfio::make(
                buf,
                Bugs {
                    accepts_non_revocable: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "accepts a pinned importer that has no invalidate_mappings (RDMA), which a revoke cannot reach",
    "attach.revocable.check-in-attach"
);

// Attach does not look at the revoked mark.
broken!(
    ATTACH_WHILE_REVOKED,
    "broken-vfio-attach-while-revoked",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| {
            BuggyVfio::make(
                buf,
                Bugs {
                    attach_while_revoked: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "attach succeeds while the buffer is revoked",
    "revoke.exporter.reject-attach"
);

// VFIO's cleanup as merged: a second revoke of a revoked buffer.
broken!(
    CLEANUP_REVOKES_AGAIN,
    "broken-vfio-cleanup-revokes-again",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                cleanup_revokes_again: true,
                ..Bugs::default()
            }
        ),
    },
    "its cleanup revokes an already revoked buffer again: the refcount underflows and the wait never ends",
    "revoke.exporter.cleanup-once"
);

// A BAR exporter that does not require peer-to-peer.
broken!(
    IGNORES_PEER2PEER,
    "broken-vfio-ignores-peer2peer",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                ignores_peer2peer: true,
                ..Bugs::default()
            }
        ),
    },
    "does not refuse attachments without peer2peer, so a BAR is offered to importers that cannot reach it",
    "attach.peer2peer.refuse"
);

// A revoke that invalidates before it takes the lock.
broken!(
    INVALIDATES_UNLOCKED,
    "broken-vfio-invalidates-unlocked",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                invalidates_unlocked: true,
                ..Bugs::default()
            }
        ),
    },
    "marks the buffer revoked and invalidates before taking the reservation lock",
    "revoke.exporter.mark-under-lock"
);

// A revoke that waits one second for the fences and then carries on (v6 waited one second for
// the unmaps and warned): the memory is reused while a fence is still unsignalled.
broken!(
    GIVES_UP_AFTER_TIMEOUT,
    "broken-vfio-gives-up-after-timeout",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                gives_up_after_timeout: true,
                ..Bugs::default()
            }
        ),
    },
    "waits for the fences with a one-second timeout and, when it expires, goes on to reuse the memory",
    "revoke.exporter.unbounded-wait"
);

// A revoke that waits for the fences interruptibly (`intr=true`) and ignores what the wait
// returns: when the reset's caller has a signal pending, the wait returns -ERESTARTSYS at once
// and the revoke goes on as if the fences had signalled.
broken!(
    IGNORES_INTERRUPTED_WAIT,
    "broken-vfio-ignores-interrupted-wait",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                ignores_interrupted_wait: true,
                ..Bugs::default()
            }
        ),
    },
    "waits for the fences interruptibly and ignores the -ERESTARTSYS a pending signal returns, going on to the unmap wait and the reset",
    "revoke.exporter.wait-result"
);

// A revoke that sets the mark after it dropped the lock: every case passes when steps run one
// after another; a map that runs between the unlock and the mark succeeds on a revoked BAR.
broken!(
    MARKS_AFTER_UNLOCK,
    "broken-vfio-marks-after-unlock",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                marks_after_unlock: true,
                ..Bugs::default()
            }
        ),
    },
    "marks the buffer revoked only after dropping the reservation lock, so a concurrent map succeeds",
    "revoke.exporter.mark-under-lock"
);

// VFIO before "vfio: Fix race between dma-buf attach and kref reinitialization" (folded into
// v7): the revoke leaves `priv->kref` at 0, and the restore re-arms it after clearing the
// mark. In order, every case passes; a map between the clear and the `kref_init()` takes a
// reference on a count of 0 (`refcount_t` warns), and the re-arm throws it away.
broken!(
    REARMS_ON_UNREVOKE,
    "broken-vfio-rearms-on-unrevoke",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                rearms_on_unrevoke: true,
                ..Bugs::default()
            }
        ),
    },
    "re-arms its unmap counter in the restore, after clearing the revoked mark, so a map in between takes a reference on a count of 0",
    "revoke.restore.count-ready"
);

// A cleanup that revokes without the device's memory lock: in order it does what 7.2 does; a
// reset on another thread that marks the buffer between the cleanup's test of the mark and
// its invalidation makes the cleanup revoke a buffer already revoked.
broken!(
    CLEANUP_WITHOUT_MEMORY_LOCK,
    "broken-vfio-cleanup-without-memory-lock",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                cleanup_without_memory_lock: true,
                ..Bugs::default()
            }
        ),
    },
    "tears the buffer down through the revoke path without taking the device's memory lock, so a concurrent reset makes it revoke twice",
    "revoke.exporter.cleanup-once"
);

// A cleanup that holds `vdev->memory_lock` and calls the reset path, which takes it again.
broken!(
    CLEANUP_RELOCKS_MEMORY_LOCK,
    "broken-vfio-cleanup-relocks-memory-lock",
    ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| BuggyVfio::make(
            buf,
            Bugs {
                cleanup_relocks_memory_lock: true,
                ..Bugs::default()
            }
        ),
    },
    "tears the buffer down holding the device's memory lock and drains through the reset path, which takes that lock again",
    "lock.no-deadlock"
);
