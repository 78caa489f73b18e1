//! Work items (`struct work_struct`) that importers queue with `queue_work()`, and the
//! kernel's worker thread that runs them, oldest first.
//!
//! A work item is data: the importer whose work function runs, and how far it has got. Its
//! function runs in stages ([`Work`]): straight-line code, split where another thread may run
//! while it is half-way. Without a schedule the worker gets the CPU promptly: an item runs
//! whole while a thread sleeps in a wait (the exporter's wait for unmaps), when the step that
//! queued it ends, or when devices complete their work. Under a schedule the worker is a
//! thread of its own (`kworker`): a stage the schedule runs at a scheduling point marks the
//! item *scheduled*, and from then on the item goes on only where the schedule runs it again,
//! in a wait that needs it (one stage at a time, until the wait can return: the waiter wakes
//! as soon as the worker has done what it waits for), when devices complete their work, or
//! after the last step. So a worker can stop half-way while other threads run, which a step
//! run inside another step's scheduling point cannot.

#[allow(unused_imports)]
use super::*;
use crate::Work;

/// One queued work item.
#[derive(Debug)]
pub(super) struct WorkItem {
    /// The importer whose work function runs.
    att: AttId,
    /// The next stage to run.
    stage: u32,
    /// A stage of it ran where a schedule said: it goes on only where the schedule says, in
    /// a wait that needs it, or at the end.
    scheduled: bool,
}

/// Where the worker runs queued items.
enum Run<'w> {
    /// Every item queued now, whole (devices completing their work, the scenario's end).
    All,
    /// Items queued now, whole, up to one a schedule started (the end of a step).
    StepEnd,
    /// A thread sleeps until `woken()` holds: items no schedule started run whole; one a
    /// schedule started runs a stage at a time while `woken()` does not hold.
    Until(&'w dyn Fn() -> bool),
}

impl Kernel {
    /// `queue_work()`: the importer of `att` queues its work item. A pending item is not
    /// queued twice; one that has started (even half-way) can be queued again.
    pub fn queue_work(&self, att: AttId) {
        let mut st = self.st.borrow_mut();
        let running = self.worker_running.get();
        let pending = st
            .work
            .iter()
            .enumerate()
            .any(|(i, w)| w.att == att && w.stage == 0 && !(running && i == 0));
        if !pending {
            st.work.push(WorkItem {
                att,
                stage: 0,
                scheduled: false,
            });
        }
    }

    /// `flush_work()`: waits until the work item of `att` has run to its end (one queued, or
    /// one a schedule left half-way); runs the queue up to it meanwhile. Called from inside
    /// its own work function it never returns; called by a step that runs inside the
    /// worker's stage (at one of its scheduling points), that schedule cannot run
    /// ([`Blocked`]): the worker cannot go on until the step it interrupted returns.
    pub fn flush_work(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        if self.worker_running.get() {
            let head = self.st.borrow().work.first().map(|w| w.att);
            if head == Some(att) {
                if self.worker_depth.get() < self.depth.get() {
                    panic::resume_unwind(Box::new(Blocked {
                        buf,
                        lock: "work item (flush_work)",
                    }));
                }
                self.hang();
            }
            return;
        }
        while self.st.borrow().work.iter().any(|w| w.att == att) {
            self.run_work_item();
        }
    }

    /// The buffer of the oldest queued work item, if the worker is free to run it.
    pub(super) fn queued_work_buf(&self) -> Option<BufId> {
        if self.worker_running.get() {
            return None;
        }
        let att = self.st.borrow().work.first().map(|w| w.att)?;
        Some(self.attachment(att).buf)
    }

    /// Runs the next stage of the oldest queued work item as its importer (traced as a call
    /// of `worker`); `None` if nothing is queued, else what the stage returned. A schedule's
    /// stage (`scheduled`) marks the item so.
    pub(super) fn run_work_stage(&self, scheduled: bool) -> Option<Work> {
        let (att, stage) = {
            let mut st = self.st.borrow_mut();
            let w = st.work.first_mut()?;
            w.scheduled |= scheduled;
            (w.att, w.stage)
        };
        let ops = self.importers.borrow().get(&att).cloned();
        let mut more = Work::Done;
        if let Some(ops) = ops {
            let buf = self.attachment(att).buf;
            let pushed = {
                let mut log = self.log.borrow_mut();
                log.stack.push(Actor::Harness);
                log.stack.len()
            };
            self.worker_running.set(true);
            self.worker_depth.set(self.depth.get());
            let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                self.traced(buf, Actor::Importer(att), Call::Worker { att }, || {
                    more = ops.work(self, att, stage);
                })
            }));
            self.worker_running.set(false);
            if let Err(payload) = ran {
                panic::resume_unwind(payload);
            }
            self.log.borrow_mut().stack.truncate(pushed - 1);
        }
        let mut st = self.st.borrow_mut();
        match more {
            Work::Done => {
                st.work.remove(0);
            }
            Work::Continue => st.work[0].stage += 1,
        }
        Some(more)
    }

    /// Runs the oldest work item to its end.
    fn run_work_item(&self) {
        while self.run_work_stage(false) == Some(Work::Continue) {}
    }

    fn run_work(&self, how: Run<'_>) {
        if self.worker_running.get() {
            return;
        }
        // Only the items queued now: one queued meanwhile waits for the worker's next turn.
        let mut left = self.st.borrow().work.len();
        while left > 0 {
            let Some(scheduled) = self.st.borrow().work.first().map(|w| w.scheduled) else {
                return;
            };
            match how {
                _ if !scheduled => self.run_work_item(),
                Run::All => self.run_work_item(),
                Run::StepEnd => return,
                Run::Until(woken) => {
                    if woken() {
                        return;
                    }
                    if self.run_work_stage(false) != Some(Work::Done) {
                        continue;
                    }
                }
            }
            left -= 1;
        }
    }

    /// Every queued work item runs whole, oldest first (devices completing their work, the
    /// end of a scenario).
    pub(super) fn run_queued_work(&self) {
        self.run_work(Run::All)
    }

    /// The worker's turn at the end of a step: items run whole, up to one a schedule has
    /// started, which waits for the schedule.
    pub(super) fn run_work_at_step_end(&self) {
        self.run_work(Run::StepEnd)
    }

    /// A thread sleeps until `woken()` holds: the worker runs meanwhile. Items no schedule
    /// started run whole, as a prompt worker runs them; an item a schedule started runs one
    /// stage at a time and stops as soon as `woken()` holds (the rest is the schedule's).
    pub(super) fn sleep_until(&self, woken: impl Fn() -> bool) {
        self.run_work(Run::Until(&woken))
    }
}
