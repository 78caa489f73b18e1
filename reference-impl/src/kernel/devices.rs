//! Time, fences and devices: queued device work, fence signalling, device accesses judged
//! against the buffer's state, and the backing memory.

#[allow(unused_imports)]
use super::*;

impl Kernel {
    /// The exporter maps the buffer's current backing memory for `att` (`dma_map_sgtable`).
    pub fn new_sg_table(&self, att: AttId) -> SgtId {
        let mut st = self.st.borrow_mut();
        let buf = st.atts[&att].info.buf;
        let generation = st.bufs.get(&buf).map(|b| b.generation).unwrap_or(0);
        st.next_sgt += 1;
        let id = SgtId(st.next_sgt);
        st.sgts.insert(
            id,
            SgtState {
                att,
                buf,
                generation,
                invalidated: false,
                unmapped: false,
                private: false,
            },
        );
        id
    }

    /// The exporter reuses the buffer's backing memory: every older mapping now points at
    /// memory that belongs to someone else.
    pub fn reclaim_memory(&self, buf: BufId) {
        self.traced(buf, Actor::Memory(buf), Call::ReclaimMemory { buf }, || {
            let mut st = self.st.borrow_mut();
            let b = st.bufs.entry(buf).or_default();
            b.freed_below = b.generation + 1;
            b.generation += 1;
        })
    }

    /// A pipelined move's old placement, of generation `old`, is freed (TTM's ghost object
    /// goes when the copy's fence signals): mappings made on it now point at reused memory;
    /// mappings of the new placement do not.
    pub(super) fn free_old_placement(&self, buf: BufId, old: u32) {
        self.traced(buf, Actor::Memory(buf), Call::ReclaimMemory { buf }, || {
            let mut st = self.st.borrow_mut();
            let b = st.bufs.entry(buf).or_default();
            b.freed_below = b.freed_below.max(old + 1);
        })
    }

    /// The exporter waits until no importer holds a mapping of `buf` made by `map_dma_buf`
    /// (VFIO's completion, counted by a `kref` taken in map and dropped in unmap). Never
    /// returns if an importer keeps such a mapping. Mappings of a private interconnect are
    /// not counted, as VFIO does not count them.
    pub fn wait_for_unmap(&self, buf: BufId) {
        self.sched_point(SchedPoint::UnmapWait { buf });
        let mapped = || {
            self.st
                .borrow()
                .sgts
                .values()
                .any(|s| s.buf == buf && !s.unmapped && !s.private)
        };
        self.core(buf, Call::WaitForUnmap { buf }, || {
            // The exporter sleeps: queued work items run meanwhile.
            self.sleep_until(|| !mapped());
            if mapped() {
                self.hang();
            }
        })
    }

    /// `vfio_pci_dma_buf_iommufd_map()`: VFIO's private interconnect, called by iommufd with
    /// the reservation lock held. The exporter answers as its `map_dma_buf` would (both test
    /// `priv->revoked`); the range it hands out is not counted by its unmap wait.
    pub fn vfio_pci_dma_buf_iommufd_map(&self, att: AttId) -> Result<SgtId, Errno> {
        let buf = self.attachment(att).buf;
        self.traced(
            buf,
            Actor::Exporter(buf),
            Call::VfioPciDmaBufIommufdMap { att },
            || {
                self.dma_resv_assert_held(buf);
                let sgt = self.exporter(buf).private_map(self, att)?;
                if let Some(s) = self.st.borrow_mut().sgts.get_mut(&sgt) {
                    s.private = true;
                }
                Ok(sgt)
            },
        )
    }

    /// The importer removes its IOMMU mapping `sgt` and flushes the IOTLB (`iommu_unmap()`):
    /// from now on its device faults instead of reaching the memory.
    pub fn iommu_unmap(&self, att: AttId, sgt: SgtId) {
        let buf = self.attachment(att).buf;
        self.traced(buf, Actor::Device(att), Call::IommuUnmap { att }, || {
            if let Some(s) = self.st.borrow_mut().sgts.get_mut(&sgt) {
                s.unmapped = true;
            }
        })
    }

    /// The buffer's KERNEL fences that have not signalled (KERNEL is the lowest usage).
    fn kernel_pending(&self, buf: BufId) -> Vec<FenceId> {
        self.unsignalled(buf, DmaResvUsage::Kernel)
    }

    pub(super) fn outcome(&self, sgt: Option<SgtId>) -> AccessOutcome {
        let st = self.st.borrow();
        let Some(s) = sgt.and_then(|s| st.sgts.get(&s)) else {
            return AccessOutcome::NoMapping;
        };
        let b = &st.bufs[&s.buf];
        let kernel_pending = b.fences.iter().any(|(f, u)| {
            *u == DmaResvUsage::Kernel && !st.fences.get(f).is_some_and(|f| f.signaled)
        });
        if s.generation < b.freed_below {
            AccessOutcome::Reclaimed
        } else if s.unmapped {
            AccessOutcome::Unmapped
        } else if kernel_pending {
            AccessOutcome::NotReady
        } else if s.invalidated {
            AccessOutcome::AfterInvalidate
        } else {
            AccessOutcome::Ok
        }
    }

    /// The importer's device reads or writes the buffer now, through `sgt`.
    pub fn device_access(&self, att: AttId, sgt: Option<SgtId>, write: bool) -> AccessOutcome {
        let buf = self.attachment(att).buf;
        self.traced(
            buf,
            Actor::Device(att),
            Call::DmaAccess {
                att,
                sgt,
                write,
                job: None,
            },
            || self.outcome(sgt),
        )
    }

    /// The importer queues work on its device; returns the fence that signals its completion.
    pub fn device_submit(&self, att: AttId, sgt: SgtId, write: bool) -> FenceId {
        self.submit_job(att, sgt, write, false)
    }

    /// As [`Kernel::device_submit`], but the job's completion path takes the buffer's
    /// reservation lock before it signals the fence (a job-done handler that locks the
    /// object): while anyone holds that lock and waits for the fence, it never signals.
    pub fn device_submit_locking_resv(&self, att: AttId, sgt: SgtId, write: bool) -> FenceId {
        self.submit_job(att, sgt, write, true)
    }

    fn submit_job(&self, att: AttId, sgt: SgtId, write: bool, locks_resv: bool) -> FenceId {
        let buf = self.attachment(att).buf;
        let stale = match self.outcome(Some(sgt)) {
            AccessOutcome::Ok | AccessOutcome::NotReady => None,
            other => Some(other),
        };
        let kernel_at_submit = self.kernel_pending(buf);
        let (job, fence) = {
            let mut st = self.st.borrow_mut();
            st.next_job += 1;
            let job = JobId(st.next_job);
            let fence = st.new_fence(Some(job), true, None);
            st.jobs.insert(
                job,
                JobState {
                    att,
                    sgt,
                    write,
                    fence,
                    stale_at_submit: stale,
                    kernel_at_submit,
                    locks_resv,
                    done: false,
                },
            );
            (job, fence)
        };
        self.traced(
            buf,
            Actor::Device(att),
            Call::DeviceSubmit {
                att,
                job,
                sgt,
                write,
                fence,
            },
            || (),
        );
        fence
    }

    /// The device finishes `job`: its memory access happens now, then its fence signals.
    pub(super) fn complete_job(&self, job: JobId) {
        let (att, sgt, write, fence, stale, locks_resv, before) = {
            let st = self.st.borrow();
            let j = &st.jobs[&job];
            if j.done {
                return;
            }
            (
                j.att,
                j.sgt,
                j.write,
                j.fence,
                j.stale_at_submit,
                j.locks_resv,
                j.kernel_at_submit.clone(),
            )
        };
        let buf = self.attachment(att).buf;
        let pushed = {
            let mut log = self.log.borrow_mut();
            if log.stack.last() == Some(&Actor::Harness) {
                log.stack.pop();
            }
            log.stack.push(Actor::Device(att));
            log.stack.len()
        };
        self.traced(
            buf,
            Actor::Memory(buf),
            Call::DmaAccess {
                att,
                sgt: Some(sgt),
                write,
                job: Some(job),
            },
            || match self.outcome(Some(sgt)) {
                AccessOutcome::Reclaimed => AccessOutcome::Reclaimed,
                _ if self.kernel_pending(buf).iter().any(|f| before.contains(f)) => {
                    AccessOutcome::NotReady
                }
                _ => stale.unwrap_or(AccessOutcome::Ok),
            },
        );
        self.st.borrow_mut().jobs.get_mut(&job).expect("job").done = true;
        if locks_resv {
            // Never returns while the lock is held: the waiter holding it waits for this.
            self.dma_resv_lock(buf);
        }
        self.signal(buf, fence);
        if locks_resv {
            self.dma_resv_unlock(buf);
        }
        let mut log = self.log.borrow_mut();
        log.stack.truncate(pushed - 1);
        if log.stack.is_empty() {
            log.stack.push(Actor::Harness);
        }
    }

    /// Every device finishes its queued work, oldest first; exporters' own fences that can
    /// complete signal too.
    pub(crate) fn complete_all(&self) {
        self.run_queued_work();
        let jobs: Vec<JobId> = self
            .st
            .borrow()
            .jobs
            .iter()
            .filter(|(_, j)| !j.done)
            .map(|(id, _)| *id)
            .collect();
        for job in jobs {
            self.complete_job(job);
        }
        let own: Vec<(BufId, FenceId)> = {
            let st = self.st.borrow();
            st.bufs
                .iter()
                .flat_map(|(b, s)| s.fences.iter().map(move |(f, _)| (*b, *f)))
                .filter(|(_, f)| {
                    st.fences
                        .get(f)
                        .is_some_and(|f| !f.signaled && f.job.is_none() && f.completes)
                })
                .collect()
        };
        for (buf, fence) in own {
            // A pipelined move's copy runs only after every fence it follows (a stuck one
            // keeps it from running); once it signals, the old placement is freed.
            let copy_after = self.st.borrow().fences[&fence].copy_after.clone();
            match copy_after {
                Some((after, old)) => {
                    let ready = after
                        .iter()
                        .all(|f| self.st.borrow().fences.get(f).is_none_or(|f| f.signaled));
                    if ready {
                        self.signal(buf, fence);
                        self.free_old_placement(buf, old);
                    }
                }
                None => self.signal(buf, fence),
            }
        }
    }
}
