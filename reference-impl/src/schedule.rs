//! Running a scenario file under its schedule: steps of several threads, another thread's
//! step run inside a step at one of its scheduling points. The runner owns the interleaving:
//! the core only reports its points ([`SchedPoint`](crate::SchedPoint)).
//!
//! A preempting step runs to completion before the step it interrupted goes on (the model is
//! one machine on one stack). A preempting step that wants a reservation lock the interrupted
//! step holds would wait for it in the kernel; here that schedule cannot run, and the run says
//! so ([`ScheduledRun::blocked`]) instead of producing a trace.
//!
//! The kernel's worker, [`Thread::kworker`], has no steps: a preemption naming it runs the
//! next stage of the oldest queued work item (see `kernel/work.rs`), which is data, so the
//! worker can stop between two stages while other steps run, and go on later.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::run::StepRunner;
use crate::{
    AttId, Blocked, BufId, Kernel, PointKind, Preemption, Roles, ScenarioFile, SchedPoint, Step,
    Thread, Trace,
};

/// A scheduling point a run reached, with the threads that could have run a step there:
/// what an explorer chooses from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// The step that reached it.
    pub step: usize,
    /// Its kind.
    pub point: PointKind,
    /// Which point of that kind in that step, from 1.
    pub nth: u32,
    /// The threads whose next step could run there and touches the same buffer.
    pub threads: Vec<Thread>,
}

impl Offered {
    /// The preemption that runs `thread` here.
    pub fn preemption(&self, thread: &Thread) -> Preemption {
        Preemption {
            step: self.step,
            point: self.point,
            nth: self.nth,
            run: thread.clone(),
        }
    }
}

/// What a scheduled run gave.
#[derive(Debug, Clone)]
pub struct ScheduledRun {
    /// The trace, or why the scenario could not run.
    pub trace: Result<Trace, String>,
    /// The schedule cannot run: a preempting step wanted a lock the step it interrupted
    /// holds (or the schedule names a point the run never reached, see `unused`).
    pub blocked: Option<String>,
    /// Every scheduling point reached, in the order reached.
    pub offered: Vec<Offered>,
    /// The preemptions of the schedule the run never reached.
    pub unused: Vec<Preemption>,
    /// For each step, the step it ran inside (`None`: it ran on its own).
    pub inside: Vec<Option<usize>>,
}

struct Sched {
    runner: StepRunner<Rc<Roles>>,
    threads: Vec<Thread>,
    bufs: Vec<Option<BufId>>,
    deps: Vec<Option<usize>>,
    schedule: Vec<Preemption>,
    evictions: bool,
    done: RefCell<Vec<bool>>,
    stack: RefCell<Vec<usize>>,
    counts: RefCell<HashMap<(usize, PointKind), u32>>,
    used: RefCell<Vec<bool>>,
    offered: RefCell<Vec<Offered>>,
    inside: RefCell<Vec<Option<usize>>>,
    error: RefCell<Option<String>>,
}

/// The buffer each step touches (through its attachment for an importer's step); `None` for
/// a step that touches every buffer (device completion).
pub fn step_buffers(steps: &[Step]) -> Vec<Option<BufId>> {
    let mut of_att: HashMap<AttId, BufId> = HashMap::new();
    steps
        .iter()
        .map(|s| match *s {
            Step::Export { buf, .. }
            | Step::Mmap { buf }
            | Step::Revoke { buf }
            | Step::Restore { buf }
            | Step::Move { buf }
            | Step::Reclaim { buf }
            | Step::ExporterFence { buf, .. }
            | Step::Put { buf }
            | Step::Signal { buf } => Some(buf),
            Step::Attach { att, buf, .. } | Step::AttachDuringEviction { att, buf, .. } => {
                of_att.insert(att, buf);
                Some(buf)
            }
            Step::Map { att }
            | Step::Access { att, .. }
            | Step::Submit { att, .. }
            | Step::Unmap { att }
            | Step::Detach { att }
            | Step::Vmap { att }
            | Step::VmapHold { att }
            | Step::Vunmap { att } => of_att.get(&att).copied(),
            Step::Complete => None,
        })
        .collect()
}

/// For each step, the earlier step that creates the buffer or attachment it uses (`None` for
/// a step that creates its own, or uses none).
pub fn step_dependencies(steps: &[Step]) -> Vec<Option<usize>> {
    let mut exported: HashMap<BufId, usize> = HashMap::new();
    let mut attached: HashMap<AttId, usize> = HashMap::new();
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| match *s {
            Step::Export { buf, .. } => {
                exported.insert(buf, i);
                None
            }
            Step::Attach { att, buf, .. } | Step::AttachDuringEviction { att, buf, .. } => {
                attached.insert(att, i);
                exported.get(&buf).copied()
            }
            Step::Mmap { buf }
            | Step::Revoke { buf }
            | Step::Restore { buf }
            | Step::Move { buf }
            | Step::Reclaim { buf }
            | Step::ExporterFence { buf, .. }
            | Step::Put { buf }
            | Step::Signal { buf } => exported.get(&buf).copied(),
            Step::Map { att }
            | Step::Access { att, .. }
            | Step::Submit { att, .. }
            | Step::Unmap { att }
            | Step::Detach { att }
            | Step::Vmap { att }
            | Step::VmapHold { att }
            | Step::Vunmap { att } => attached.get(&att).copied(),
            Step::Complete => None,
        })
        .collect()
}

fn conflicts(a: Option<BufId>, b: Option<BufId>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

impl Sched {
    fn next_of(&self, thread: &Thread) -> Option<usize> {
        let done = self.done.borrow();
        (0..self.threads.len()).find(|&i| !done[i] && self.threads[i] == *thread)
    }

    /// The threads that could run a step now, at a point concerning `buf`, other than those
    /// of the steps on the stack.
    fn eligible(&self, k: &Kernel, buf: Option<BufId>, busy: &[Thread]) -> Vec<Thread> {
        let mut out: Vec<Thread> = Vec::new();
        for t in &self.threads {
            if busy.contains(t) || out.contains(t) {
                continue;
            }
            if let Some(j) = self.next_of(t)
                && conflicts(buf, self.bufs[j])
                && self.ready(j)
            {
                out.push(t.clone());
            }
        }
        // The kernel's worker, when a work item is queued on a buffer that conflicts.
        if let Some(w) = k.harness().queued_work()
            && conflicts(buf, Some(w))
        {
            out.push(Thread::kworker());
        }
        out
    }

    /// Whether the step that creates what step `j` uses (its buffer's export, its
    /// attachment's attach) has run to completion: a thread cannot use an attachment before
    /// the call that returns it has returned.
    fn ready(&self, j: usize) -> bool {
        self.deps[j].is_none_or(|d| self.done.borrow()[d] && !self.stack.borrow().contains(&d))
    }

    fn count(&self, step: usize, point: PointKind) -> u32 {
        let mut counts = self.counts.borrow_mut();
        let n = counts.entry((step, point)).or_insert(0);
        *n += 1;
        *n
    }

    /// The schedule's preemptions at this point, marked used.
    fn due(&self, step: usize, point: PointKind, nth: u32) -> Vec<Thread> {
        let mut used = self.used.borrow_mut();
        let mut out = Vec::new();
        for (qi, q) in self.schedule.iter().enumerate() {
            if !used[qi] && q.step == step && q.point == point && q.nth == nth {
                used[qi] = true;
                out.push(q.run.clone());
            }
        }
        out
    }

    fn fail(&self, message: String) {
        self.error.borrow_mut().get_or_insert(message);
    }

    fn at_point(self: &Rc<Self>, k: &Kernel, point: SchedPoint) {
        let Some(cur) = self.stack.borrow().last().copied() else {
            return;
        };
        let kind = point.kind();
        let nth = self.count(cur, kind);
        let busy: Vec<Thread> = self
            .stack
            .borrow()
            .iter()
            .map(|&i| self.threads[i].clone())
            .collect();
        let threads = self.eligible(k, Some(point.buf()), &busy);
        self.offered.borrow_mut().push(Offered {
            step: cur,
            point: kind,
            nth,
            threads,
        });
        for t in self.due(cur, kind, nth) {
            if t.is_kworker() {
                if k.harness().queued_work().is_none() {
                    self.fail(format!(
                        "schedule: no work item is queued for `{t}` at step {cur}'s {kind} \
                         (the drivers here queue none there): this schedule cannot run"
                    ));
                    continue;
                }
                // One stage of the oldest work item, inside this step; the points it
                // reaches are this step's.
                k.harness().set_scheduler(Some(scheduler(self.clone())));
                k.harness().run_worker_stage(None);
                continue;
            }
            if busy.contains(&t) {
                self.fail(format!(
                    "schedule: thread `{t}` is already running at step {cur}'s {kind}"
                ));
                continue;
            }
            let Some(j) = self.next_of(&t) else {
                self.fail(format!("schedule: thread `{t}` has no step left to run"));
                continue;
            };
            self.run_inner(k, cur, j);
        }
    }

    fn run_inner(self: &Rc<Self>, k: &Kernel, cur: usize, j: usize) {
        let (actor, f) = match self.runner.prepare(k, j, self.evictions) {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        self.done.borrow_mut()[j] = true;
        self.inside.borrow_mut()[j] = Some(cur);
        self.stack.borrow_mut().push(j);
        // The step that runs here reaches points of its own: the scheduler sees them too.
        k.harness().set_scheduler(Some(scheduler(self.clone())));
        k.harness().run_inner_step(j, actor, || f(k));
        self.stack.borrow_mut().pop();
    }

    /// Runs step `i` on its own; false if the run stops there.
    fn run_top(self: &Rc<Self>, k: &Kernel, i: usize) -> Result<bool, Stop> {
        let (actor, f) = self
            .runner
            .prepare(k, i, self.evictions)
            .map_err(Stop::Invalid)?;
        self.done.borrow_mut()[i] = true;
        *self.stack.borrow_mut() = vec![i];
        if !self.evictions {
            k.harness().set_scheduler(Some(scheduler(self.clone())));
        }
        let h = k.harness();
        let ran = panic::catch_unwind(AssertUnwindSafe(|| h.run_step(i, actor, || f(k))));
        self.stack.borrow_mut().clear();
        match ran {
            Ok(completed) => Ok(completed),
            Err(payload) => match payload.downcast::<Blocked>() {
                Ok(b) => Err(Stop::Blocked(format!(
                    "a step run inside step {i} waits for {}'s {}, which the step it \
                     interrupted holds: this schedule cannot run",
                    b.buf, b.lock
                ))),
                Err(payload) => panic::resume_unwind(payload),
            },
        }
    }
}

/// Why a run stopped before its last step.
enum Stop {
    /// The schedule cannot run (a lock the interrupted step holds).
    Blocked(String),
    /// The scenario is not one (a buffer used before it was exported...).
    Invalid(String),
}

fn scheduler(s: Rc<Sched>) -> crate::Scheduler {
    Box::new(move |k, point| s.at_point(k, point))
}

/// Runs a scenario file under its schedule with the given roles.
pub fn run_scheduled(roles: Rc<Roles>, file: &ScenarioFile) -> ScheduledRun {
    let steps = file.plain_steps();
    let n = steps.len();
    if let Some(i) = file.steps.iter().position(|f| f.thread().is_kworker()) {
        return ScheduledRun {
            trace: Err(format!(
                "step {i} runs on thread `{}`, the kernel's worker: it runs the work items \
                 drivers queue, not steps",
                Thread::kworker()
            )),
            blocked: None,
            offered: Vec::new(),
            unused: Vec::new(),
            inside: vec![None; n],
        };
    }
    let s = Rc::new(Sched {
        threads: file.threads(),
        bufs: step_buffers(&steps),
        deps: step_dependencies(&steps),
        runner: StepRunner::new(roles.clone(), steps),
        schedule: file.schedule.clone(),
        evictions: !file.is_concurrent(),
        done: RefCell::new(vec![false; n]),
        stack: RefCell::default(),
        counts: RefCell::default(),
        used: RefCell::new(vec![false; file.schedule.len()]),
        offered: RefCell::default(),
        inside: RefCell::new(vec![None; n]),
        error: RefCell::default(),
    });
    let k = Kernel::with_core((roles.core)());
    let mut blocked = None;
    let mut failed = None;
    let mut stopped = false;
    'run: loop {
        let Some(i) = s.done.borrow().iter().position(|d| !d) else {
            break;
        };
        // Other threads' steps scheduled before this one starts.
        let busy = [s.threads[i].clone()];
        let threads = s.eligible(&k, s.bufs[i], &busy);
        s.offered.borrow_mut().push(Offered {
            step: i,
            point: PointKind::Start,
            nth: 1,
            threads,
        });
        let mut order = Vec::new();
        for t in s.due(i, PointKind::Start, 1) {
            if t.is_kworker() {
                // One stage of the oldest work item, before the step starts.
                if k.harness().queued_work().is_none() {
                    s.fail(format!(
                        "schedule: no work item is queued for `{t}` before step {i} (the \
                         drivers here queue none there): this schedule cannot run"
                    ));
                } else if !k.harness().run_worker_stage(Some(i)) {
                    stopped = true;
                    break 'run;
                }
            } else if t == s.threads[i] {
                s.fail(format!("schedule: step {i} runs on thread `{t}` already"));
            } else if let Some(j) = s.next_of(&t) {
                order.push(j);
                s.done.borrow_mut()[j] = true; // reserved; run_top marks it again
            } else {
                s.fail(format!("schedule: thread `{t}` has no step left to run"));
            }
        }
        for j in order.into_iter().chain([i]) {
            if j == i && s.done.borrow()[i] {
                // It ran inside a step scheduled before it.
                continue;
            }
            match s.run_top(&k, j) {
                Ok(true) => {}
                Ok(false) => {
                    stopped = true;
                    break 'run;
                }
                Err(Stop::Blocked(e)) => {
                    blocked = Some(e);
                    break 'run;
                }
                Err(Stop::Invalid(e)) => {
                    failed = Some(e);
                    break 'run;
                }
            }
        }
    }
    // The worker finishes what a schedule left queued.
    if !stopped && blocked.is_none() && failed.is_none() {
        k.harness().finish_work(n.saturating_sub(1));
    }
    k.harness().set_scheduler(None);
    let used = s.used.borrow().clone();
    let unused: Vec<Preemption> = file
        .schedule
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(p, _)| p.clone())
        .collect();
    let error = s.error.borrow().clone();
    ScheduledRun {
        trace: match failed.or(error) {
            Some(e) => Err(e),
            None => Ok(k.harness().trace()),
        },
        blocked,
        offered: s.offered.borrow().clone(),
        unused,
        inside: s.inside.borrow().clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DmaResvUsage, ExporterKind, FileStep, ImporterKind, SCENARIO_FORMAT};

    pub(super) fn on(step: Step, thread: Option<&str>) -> FileStep {
        FileStep {
            step,
            thread: thread.map(|t| Thread::new(t).expect("a thread name")),
        }
    }

    /// A file of buf0 exported by VFIO and att0 attached to it by a dynamic importer, on
    /// `main`, then `more`, under `schedule`.
    pub(super) fn vfio_file(more: Vec<FileStep>, schedule: Vec<Preemption>) -> ScenarioFile {
        let (buf, att) = (BufId(0), AttId(0));
        let mut steps = vec![
            on(
                Step::Export {
                    buf,
                    exporter: ExporterKind::Vfio,
                },
                None,
            ),
            on(
                Step::Attach {
                    att,
                    buf,
                    importer: ImporterKind::Dynamic,
                },
                None,
            ),
        ];
        steps.extend(more);
        ScenarioFile {
            format: SCENARIO_FORMAT,
            title: None,
            case: None,
            seed: None,
            steps,
            schedule,
        }
    }

    /// Export, attach a dynamic importer, revoke; a map on thread `importer`.
    fn revoke_and_map(schedule: Vec<Preemption>) -> ScenarioFile {
        let (buf, att) = (BufId(0), AttId(0));
        vfio_file(
            vec![
                on(Step::Revoke { buf }, None),
                on(Step::Map { att }, Some("importer")),
            ],
            schedule,
        )
    }

    fn at(point: PointKind, nth: u32) -> Preemption {
        Preemption {
            step: 2,
            point,
            nth,
            run: Thread::new("importer").expect("a thread name"),
        }
    }

    fn steps_in_order(t: &Trace) -> Vec<usize> {
        t.step_order()
    }

    /// Without a schedule the steps run in file order; with one, the map runs inside the
    /// revoke where the schedule says, and the revoke goes on afterwards.
    #[test]
    fn a_preemption_runs_the_other_threads_step_inside() {
        let roles = Rc::new(Roles::reference());
        let plain = run_scheduled(roles.clone(), &revoke_and_map(vec![]));
        assert_eq!(steps_in_order(&plain.trace.expect("runs")), [0, 1, 2, 3]);
        let run = run_scheduled(roles, &revoke_and_map(vec![at(PointKind::Unlock, 1)]));
        assert!(run.unused.is_empty() && run.blocked.is_none());
        assert_eq!(steps_in_order(&run.trace.expect("runs")), [0, 1, 2, 3, 2]);
        assert_eq!(run.inside[3], Some(2));
        // The revoke offered the map at its lock, callback, wait and unlock points.
        let kinds: Vec<PointKind> = run
            .offered
            .iter()
            .filter(|o| o.step == 2 && !o.threads.is_empty())
            .map(|o| o.point)
            .collect();
        assert_eq!(
            kinds,
            [
                PointKind::Start,
                PointKind::Lock,
                PointKind::CallbackEntry,
                PointKind::CallbackExit,
                PointKind::FenceWait,
                PointKind::Unlock
            ]
        );
    }

    /// A map run while the revoke holds the lock would wait for it: that schedule cannot run.
    #[test]
    fn a_step_wanting_the_interrupted_steps_lock_is_blocked() {
        let run = run_scheduled(
            Rc::new(Roles::reference()),
            &revoke_and_map(vec![at(PointKind::CallbackEntry, 1)]),
        );
        let why = run.blocked.expect("blocked");
        assert!(why.contains("buf0's reservation lock"), "{why}");
    }

    /// A point the run never reaches is reported, not silently ignored.
    #[test]
    fn a_preemption_never_reached_is_reported() {
        let run = run_scheduled(
            Rc::new(Roles::reference()),
            &revoke_and_map(vec![at(PointKind::Unlock, 7)]),
        );
        assert_eq!(run.unused, [at(PointKind::Unlock, 7)]);
    }

    /// Steps on one thread keep their order; a step of no buffer conflicts with every point.
    #[test]
    fn buffers_of_steps_follow_attachments() {
        let (buf, att) = (BufId(3), AttId(5));
        let steps = [
            Step::Export {
                buf,
                exporter: ExporterKind::Gpu,
            },
            Step::Attach {
                att,
                buf,
                importer: ImporterKind::Dynamic,
            },
            Step::Submit { att, write: true },
            Step::ExporterFence {
                buf,
                usage: DmaResvUsage::Kernel,
                stuck: false,
            },
            Step::Complete,
        ];
        assert_eq!(
            step_buffers(&steps),
            [Some(buf), Some(buf), Some(buf), Some(buf), None]
        );
    }
}

/// The kernel's worker as a thread of the schedule: a work item in two stages, stopped
/// half-way.
#[cfg(test)]
mod worker_tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::tests::{on, vfio_file};
    use super::*;
    use crate::book::invalidation::GpuImporter;
    use crate::{AttId, Call, DmaBufAttachOps, Errno, Importer, SgtId, Work};

    /// A dynamic importer whose callback leaves the unmap to a work item of two stages: the
    /// unmap under the lock, then the lock taken once more; its detach flushes the work.
    struct TwoStages {
        inner: GpuImporter,
        att: AttId,
        stale: RefCell<Option<SgtId>>,
    }

    impl DmaBufAttachOps for TwoStages {
        fn allow_peer2peer(&self) -> bool {
            true
        }
        fn has_invalidate_mappings(&self) -> bool {
            true
        }
        fn invalidate_mappings(&self, k: &Kernel, att: AttId) {
            *self.stale.borrow_mut() = self.inner.state.borrow_mut().sgt.take();
            k.queue_work(att);
        }
        fn work(&self, k: &Kernel, att: AttId, stage: u32) -> Work {
            let buf = k.attachment(att).buf;
            k.dma_resv_lock(buf);
            if stage == 0
                && let Some(sgt) = self.stale.take()
            {
                k.dma_buf_unmap_attachment(att, sgt);
            }
            k.dma_resv_unlock(buf);
            if stage == 0 {
                Work::Continue
            } else {
                Work::Done
            }
        }
    }

    impl Importer for TwoStages {
        fn att(&self) -> AttId {
            self.att
        }
        fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
            self.inner.attach(k, buf)
        }
        fn map(&self, k: &Kernel) -> Result<(), Errno> {
            self.inner.map(k)
        }
        fn access(&self, k: &Kernel, write: bool) {
            self.inner.access(k, write)
        }
        fn unmap(&self, k: &Kernel) {
            self.inner.unmap(k)
        }
        fn detach(&self, k: &Kernel) {
            k.flush_work(self.att);
            self.inner.detach(k)
        }
    }

    fn roles() -> Rc<Roles> {
        Rc::new(Roles::with_importer(|_, att| {
            Some(Rc::new(TwoStages {
                inner: GpuImporter::new(att),
                att,
                stale: RefCell::new(None),
            }))
        }))
    }

    /// Export, attach, map, revoke on `main`; the detach on thread `importer`.
    fn file(schedule: Vec<Preemption>) -> ScenarioFile {
        let (buf, att) = (BufId(0), AttId(0));
        vfio_file(
            vec![
                on(Step::Map { att }, None),
                on(Step::Revoke { buf }, None),
                on(Step::Detach { att }, Some("importer")),
            ],
            schedule,
        )
    }

    fn at(point: PointKind, nth: u32, run: Thread) -> Preemption {
        Preemption {
            step: 3,
            point,
            nth,
            run,
        }
    }

    /// The steps of the `worker` events, in order.
    fn worker_steps(t: &Trace) -> Vec<usize> {
        t.events
            .iter()
            .filter(|e| matches!(e.call, Call::Worker { .. }))
            .map(|e| e.step)
            .collect()
    }

    /// Without a schedule the worker runs whole inside the revoke's wait; `kworker` is
    /// offered wherever the item is queued.
    #[test]
    fn a_work_item_runs_whole_unless_a_schedule_names_the_worker() {
        let run = run_scheduled(roles(), &file(vec![]));
        let t = run.trace.expect("runs");
        assert_eq!(worker_steps(&t), [3, 3]);
        let offered: Vec<PointKind> = run
            .offered
            .iter()
            .filter(|o| o.threads.contains(&Thread::kworker()))
            .map(|o| o.point)
            .collect();
        assert!(offered.contains(&PointKind::Unlock), "{offered:?}");
        assert!(offered.contains(&PointKind::UnmapWait), "{offered:?}");
        assert!(!offered.contains(&PointKind::Lock), "{offered:?}");
    }

    /// Run at the revoke's unlock, the first stage unmaps; the wait then returns at once and
    /// the second stage waits for the detach's `flush_work()`, in the next step.
    #[test]
    fn a_worker_stopped_half_way_goes_on_where_it_is_flushed() {
        let run = run_scheduled(
            roles(),
            &file(vec![at(PointKind::Unlock, 1, Thread::kworker())]),
        );
        assert!(run.blocked.is_none() && run.unused.is_empty(), "{run:?}");
        let t = run.trace.expect("runs");
        assert_eq!(worker_steps(&t), [3, 4]);
        let wait = t
            .events
            .iter()
            .position(|e| matches!(e.call, Call::WaitForUnmap { .. }))
            .expect("the wait");
        let first = t
            .events
            .iter()
            .position(|e| matches!(e.call, Call::Worker { .. }))
            .expect("a stage");
        assert!(first < wait, "the first stage runs before the wait");
    }

    /// A step run inside the worker's stage that flushes that work item would wait for the
    /// stage it interrupted: that schedule cannot run. A schedule naming the worker where no
    /// item is queued cannot either.
    #[test]
    fn flushing_the_work_item_from_inside_it_cannot_run() {
        let importer = Thread::new("importer").expect("a name");
        // The revoke's locks: its own, then the first and the second stage's.
        let run = run_scheduled(roles(), &file(vec![at(PointKind::Lock, 3, importer)]));
        let why = run.blocked.expect("blocked");
        assert!(why.contains("work item (flush_work)"), "{why}");
        let none = run_scheduled(
            roles(),
            &file(vec![at(PointKind::Lock, 1, Thread::kworker())]),
        );
        let err = none.trace.expect_err("no work item queued there");
        assert!(err.contains("no work item is queued"), "{err}");
    }
}
