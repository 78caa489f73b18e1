//! The reservation object: its lock, its fences and waits, and the scheduling points where
//! the runner may let another thread run.

#[allow(unused_imports)]
use super::*;

/// How many bounded waits in a row, in one step, may time out on fences nothing will ever
/// signal before the model takes the loop that makes them for one that never ends (a driver
/// that waits a second, warns and waits again, as Jason Gunthorpe suggested for VFIO).
pub const FRUITLESS_WAITS: u32 = 8;

impl Kernel {
    /// Whether `buf`'s reservation lock is held.
    pub fn dma_resv_is_locked(&self, buf: BufId) -> bool {
        self.st.borrow().bufs.get(&buf).is_some_and(|b| b.locked)
    }

    /// Whether the running thread holds `buf`'s reservation lock (lockdep's view): under a
    /// schedule, a lock the interrupted step holds is another thread's.
    pub(super) fn dma_resv_held_here(&self, buf: BufId) -> bool {
        self.dma_resv_is_locked(buf)
            && self.lock_depth.borrow().get(&buf).copied() == Some(self.depth.get())
    }

    /// `dma_resv_lock(dmabuf->resv, NULL)`. Taking it twice on one thread never returns.
    /// Wanted by a step running inside the step that holds it: that schedule cannot run
    /// ([`Blocked`]).
    pub fn dma_resv_lock(&self, buf: BufId) {
        self.sched_point(SchedPoint::Lock { buf });
        self.core(buf, Call::DmaResvLock { buf }, || {
            self.lockdep_acquire(buf, LockClass::Reservation);
            if self.dma_resv_is_locked(buf) {
                let holder = self.lock_depth.borrow().get(&buf).copied();
                if holder.is_some_and(|d| d < self.depth.get()) {
                    panic::resume_unwind(Box::new(Blocked {
                        buf,
                        lock: "reservation lock",
                    }));
                }
                self.hang();
            }
            self.lock_depth.borrow_mut().insert(buf, self.depth.get());
            self.st.borrow_mut().bufs.entry(buf).or_default().locked = true;
        })
    }

    /// `dma_resv_unlock(dmabuf->resv)`.
    pub fn dma_resv_unlock(&self, buf: BufId) {
        self.core(buf, Call::DmaResvUnlock { buf }, || {
            if !self.dma_resv_is_locked(buf) {
                self.warn(buf, "dma_resv_unlock() of an unlocked reservation object");
            }
            self.st.borrow_mut().bufs.entry(buf).or_default().locked = false;
            self.lockdep_release(LockClass::Reservation);
        });
        self.sched_point(SchedPoint::Unlocked { buf });
    }

    /// `dma_resv_assert_held()`: a lockdep splat (a `Warn` event) if the lock is not held.
    pub fn dma_resv_assert_held(&self, buf: BufId) {
        if !self.dma_resv_held_here(buf) {
            self.warn(
                buf,
                "dma_resv_assert_held() failed: reservation lock not held",
            );
        }
    }

    /// `dma_resv_add_fence()`: requires the lock.
    pub fn dma_resv_add_fence(&self, buf: BufId, fence: FenceId, usage: DmaResvUsage) {
        self.core(buf, Call::DmaResvAddFence { buf, fence, usage }, || {
            self.dma_resv_assert_held(buf);
            self.st
                .borrow_mut()
                .bufs
                .entry(buf)
                .or_default()
                .fences
                .push((fence, usage));
        })
    }

    /// `dma_resv_wait_timeout()`: waits for every fence of `usage` or a lower usage.
    ///
    /// Model: time passes only inside waits. A fence backed by queued device work completes
    /// (the device runs the job); a fence nothing will ever signal makes a bounded wait return
    /// 0 (timed out) and an unbounded wait never return; the [`FRUITLESS_WAITS`]th bounded
    /// wait in a row of one step that times out never returns either (a loop of them). Success returns the remaining
    /// timeout, which is positive (`MAX_SCHEDULE_TIMEOUT` for an unbounded wait). A timeout of
    /// 0 is a poll: 1 if every fence has signalled, else 0, and no time passes. An
    /// interruptible wait (`intr`) of a thread with a signal pending returns `-ERESTARTSYS`
    /// at once if a fence has not signalled (`dma_fence_default_wait()`), and no time passes.
    pub fn dma_resv_wait_timeout(
        &self,
        buf: BufId,
        usage: DmaResvUsage,
        intr: bool,
        timeout: Timeout,
    ) -> i64 {
        self.core(
            buf,
            Call::DmaResvWaitTimeout {
                buf,
                usage,
                intr,
                timeout,
            },
            || {
                self.sched_point(SchedPoint::FenceWait { buf });
                let pending = self.unsignalled(buf, usage);
                if timeout == Timeout::Jiffies(0) {
                    // A poll: no time passes.
                    return i64::from(pending.is_empty());
                }
                if intr && !pending.is_empty() && self.signal_pending() {
                    return Errno::ERESTARTSYS.to_kernel();
                }
                for fence in pending {
                    if !self.complete_fence(buf, fence, timeout) {
                        return 0;
                    }
                }
                match timeout {
                    Timeout::Max => i64::MAX,
                    Timeout::Jiffies(0) => 1,
                    Timeout::Jiffies(j) => i64::from(j),
                }
            },
        )
    }

    /// Time passes inside a wait until `fence` of `buf` signals: its device job runs, or its
    /// work completes, or (a pipelined copy) the fences it follows complete first, it signals,
    /// then the old placement is freed. False when a bounded wait times out on a fence
    /// nothing will signal; an unbounded wait on one never returns.
    fn complete_fence(&self, buf: BufId, fence: FenceId, timeout: Timeout) -> bool {
        let (signaled, job, completes, copy_after) = {
            let st = self.st.borrow();
            let f = &st.fences[&fence];
            (f.signaled, f.job, f.completes, f.copy_after.clone())
        };
        if signaled {
            return true;
        }
        if let Some((after, old)) = copy_after {
            for dep in after {
                if !self.complete_fence(buf, dep, timeout) {
                    return false;
                }
            }
            // The ghost object holding the old placement goes once the copy's fence has
            // signalled (`ttm_bo_move_to_ghost()`, then its release).
            self.signal(buf, fence);
            self.free_old_placement(buf, old);
            return true;
        }
        match job {
            Some(job) => self.complete_job(job),
            None if completes => self.signal(buf, fence),
            None if timeout == Timeout::Max => self.hang(),
            None => {
                if self.timed_out(buf) >= FRUITLESS_WAITS {
                    // A loop of bounded waits on a fence nothing will signal: the thread
                    // never gets past it.
                    self.hang();
                }
                return false;
            }
        }
        true
    }

    /// TTM's pipelined move (`ttm_bo_move_accel_cleanup()` after the driver scheduled the
    /// copy): a fence for the copy, which runs on the GPU after every fence `buf` holds now,
    /// added to the reservation object as `DMA_RESV_USAGE_KERNEL`; the old placement hangs on
    /// it (a ghost object) and is freed when it signals. No CPU wait: whoever waits for the
    /// KERNEL fence (an importer remapping, a pin) lets the copy and the reclaim happen.
    pub fn ttm_bo_move_accel_cleanup(&self, buf: BufId) -> FenceId {
        let fence = {
            let mut st = self.st.borrow_mut();
            let b = st.bufs.entry(buf).or_default();
            let after: Vec<FenceId> = b.fences.iter().map(|(f, _)| *f).collect();
            // New mappings are of the new placement; the old one stays until the copy is done.
            let old = b.generation;
            b.generation += 1;
            st.new_fence(None, true, Some((after, old)))
        };
        self.dma_resv_add_fence(buf, fence, DmaResvUsage::Kernel);
        fence
    }

    /// `buf`'s fences of `usage` or a lower usage that have not signalled, in the order they
    /// were added.
    pub(super) fn unsignalled(&self, buf: BufId, usage: DmaResvUsage) -> Vec<FenceId> {
        let st = self.st.borrow();
        st.bufs
            .get(&buf)
            .map(|b| {
                b.fences
                    .iter()
                    .filter(|(f, u)| *u <= usage && !st.fences.get(f).is_some_and(|f| f.signaled))
                    .map(|(f, _)| *f)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Counts a bounded wait of the current step that timed out on `buf`: how many in a row.
    fn timed_out(&self, buf: BufId) -> u32 {
        let step = self.log.borrow().step;
        let mut st = self.st.borrow_mut();
        let b = st.bufs.entry(buf).or_default();
        b.timeouts = match b.timeouts {
            (s, n) if s == step => (s, n + 1),
            _ => (step, 1),
        };
        b.timeouts.1
    }

    /// A new fence for work of the caller's own (an exporter's clear or copy). If `completes`
    /// is false, nothing will ever signal it (stuck hardware, a lost job).
    pub fn dma_fence_create(&self, completes: bool) -> FenceId {
        self.st.borrow_mut().new_fence(None, completes, None)
    }

    /// The work behind `fence` completes and the fence signals.
    pub(super) fn signal(&self, buf: BufId, fence: FenceId) {
        self.traced(buf, Actor::Core, Call::DmaFenceSignal { fence }, || {
            if let Some(f) = self.st.borrow_mut().fences.get_mut(&fence) {
                f.signaled = true;
            }
        });
        self.sched_point(SchedPoint::FenceSignal { buf });
    }

    // Scheduling points.

    /// Another thread could take over here: let the scheduler run what it chose. What it runs
    /// may reach further scheduling points; the scheduler sees those too if it put itself
    /// back (see `Harness::set_scheduler`).
    pub(super) fn sched_point(&self, point: SchedPoint) {
        let Some(mut scheduler) = self.scheduler.borrow_mut().take() else {
            return;
        };
        scheduler(self, point);
        let mut slot = self.scheduler.borrow_mut();
        if slot.is_none() {
            *slot = Some(scheduler);
        }
    }
}
