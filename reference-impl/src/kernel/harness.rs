//! Harness plumbing: registering the drivers of a scenario, running a step, and reading
//! the trace back. The runner uses these; drivers never do.

#[allow(unused_imports)]
use super::*;

/// What the runner uses to drive the machine, apart from what drivers call: registering
/// the drivers of a scenario, running a step, choosing interleavings, reading the trace.
/// Drivers and the book's code see [`Kernel`]; only the runner holds a `Harness`.
pub struct Harness<'k>(&'k Kernel);

impl Kernel {
    /// The runner's handle on this machine.
    pub fn harness(&self) -> Harness<'_> {
        Harness(self)
    }

    /// Whether a signal is pending for the thread running now: the one that runs a step of
    /// an exporter that [`Harness::signal`] signalled.
    pub(super) fn signal_pending(&self) -> bool {
        if self.worker_running.get() {
            return false; // A kernel worker takes no signals.
        }
        match self.log.borrow().stack.first() {
            Some(Actor::Exporter(buf)) => self.signals.borrow().contains(buf),
            _ => false,
        }
    }

    /// A step of `actor` returned to user space: a signal pending for it is delivered.
    fn deliver_signal(&self, actor: Actor) {
        if let Actor::Exporter(buf) = actor {
            self.signals.borrow_mut().remove(&buf);
        }
    }

    /// Whether the innermost running code is a driver's (an exporter, an importer, or a core
    /// under test) rather than the model's (the reference core, devices, memory) or the
    /// harness's. After a panic, the call stack still shows where it happened.
    pub(super) fn in_driver(&self) -> bool {
        match self.log.borrow().stack.last() {
            Some(Actor::Exporter(_) | Actor::Importer(_)) => true,
            Some(Actor::Core) => !self.core.is_model(),
            Some(Actor::Harness | Actor::Device(_) | Actor::Memory(_)) | None => false,
        }
    }
}

impl Harness<'_> {
    /// Registers the exporter's ops table for `buf` (the `exp_info.ops` pointer).
    pub fn register_exporter(&self, buf: BufId, ops: Rc<dyn DmaBufOps>) {
        self.0.exporters.borrow_mut().insert(buf, ops);
    }

    /// Registers the importer's `dma_buf_attach_ops` for `att` (used only if it attaches
    /// dynamically).
    pub fn register_importer(&self, att: AttId, ops: Rc<dyn DmaBufAttachOps>) {
        self.0.importers.borrow_mut().insert(att, ops);
    }

    /// Runs scenario step `index` as `actor`. Returns false if a call in it never returned,
    /// or a driver crashed (panicked: in the kernel, an oops); the machine must not be used
    /// further then. A panic of the model itself (the reference core, a device, the harness)
    /// is not a driver's crash: it goes on unwinding to the caller.
    pub fn run_step(&self, index: usize, actor: Actor, f: impl FnOnce()) -> bool {
        {
            let mut log = self.0.log.borrow_mut();
            log.step = index;
            log.stack = vec![actor];
            log.open.clear();
        }
        self.0.depth.set(0);
        let completed = self.catch_step(index, f);
        self.0.deliver_signal(actor);
        completed
    }

    /// Runs scenario step `index` as `actor` inside the step that is running now, at one of
    /// its scheduling points: another thread's step, run to completion before the
    /// interrupted one goes on. If it hangs or crashes, the interrupted step stops too. If it
    /// wants a lock the interrupted step holds, it unwinds with [`Blocked`].
    pub fn run_inner_step(&self, index: usize, actor: Actor, f: impl FnOnce()) {
        self.run_inner(index, actor, true, f)
    }

    /// Whether the kernel's worker thread could run a queued work item now, and on which
    /// buffer: `None` if nothing is queued or the worker is running.
    pub fn queued_work(&self) -> Option<BufId> {
        self.0.queued_work_buf()
    }

    /// The kernel's worker thread runs the next stage of the oldest queued work item where a
    /// schedule says (`kworker`): inside the step running now, at one of its scheduling
    /// points (as [`Harness::run_inner_step`] runs a step), or, with `between` naming the
    /// step about to start, before it. From then on the item goes on only where the
    /// schedule runs it again, in a wait that needs it, when devices complete their work,
    /// or after the last step ([`Harness::finish_work`]). Returns false if the stage hung or
    /// crashed (between steps: the run stops).
    pub fn run_worker_stage(&self, between: Option<usize>) -> bool {
        let k = self.0;
        let stage = || {
            k.run_work_stage(true);
        };
        match between {
            Some(index) => self.run_step(index, Actor::Harness, stage),
            None => {
                let index = self.current_step();
                self.run_inner(index, Actor::Harness, false, stage);
                true
            }
        }
    }

    /// After the last step: the worker runs what is still queued (a work item a schedule
    /// left half-way, say). Returns false if it hung or crashed.
    pub fn finish_work(&self, last: usize) -> bool {
        let k = self.0;
        if k.st.borrow().work.is_empty() {
            return true;
        }
        self.run_step(last, Actor::Harness, || k.run_queued_work())
    }

    fn run_inner(&self, index: usize, actor: Actor, step_end_work: bool, f: impl FnOnce()) {
        let saved = {
            let mut log = self.0.log.borrow_mut();
            let saved = (
                log.step,
                std::mem::replace(&mut log.stack, vec![actor]),
                std::mem::take(&mut log.open),
            );
            log.step = index;
            saved
        };
        let depth = self.0.depth.get();
        self.0.depth.set(depth + 1);
        let completed = self.catch(index, step_end_work, f);
        self.0.deliver_signal(actor);
        self.0.depth.set(depth);
        {
            let mut log = self.0.log.borrow_mut();
            log.step = saved.0;
            log.stack = saved.1;
            log.open = saved.2;
        }
        if !completed {
            panic::resume_unwind(Box::new(Stopped));
        }
    }

    fn catch_step(&self, index: usize, f: impl FnOnce()) -> bool {
        self.catch(index, true, f)
    }

    fn catch(&self, index: usize, step_end_work: bool, f: impl FnOnce()) -> bool {
        // Work items the step's drivers queued run before the next step: a worker thread
        // gets to them in bounded time (unless a schedule took the worker in hand).
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            f();
            if step_end_work {
                self.0.run_work_at_step_end();
            }
        }));
        match result {
            Ok(()) => true,
            Err(payload) if payload.is::<Hung>() || payload.is::<Stopped>() => false,
            Err(payload) if payload.is::<Blocked>() => panic::resume_unwind(payload),
            Err(payload) if payload.is::<crate::trace::ShimProcessFailed>() => {
                let message = payload
                    .downcast_ref::<crate::trace::ShimProcessFailed>()
                    .map(|f| f.0.clone())
                    .unwrap_or_default();
                self.0.log.borrow_mut().crashed = Some(crate::trace::Crash {
                    step: index,
                    message,
                    shim_process: true,
                });
                false
            }
            Err(payload) if !self.0.in_driver() => {
                // The model or the harness panicked, not a driver: a bug of the suite, which
                // must reach whoever runs it rather than pass for a driver's oops.
                panic::resume_unwind(payload)
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_string());
                self.0.log.borrow_mut().crashed = Some(crate::trace::Crash {
                    step: index,
                    message,
                    shim_process: false,
                });
                false
            }
        }
    }

    /// The scenario step running now (the innermost, when one runs inside another at a
    /// scheduling point): a shim process is told which thread a call runs on from it.
    pub fn current_step(&self) -> usize {
        self.0.log.borrow().step
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> Trace {
        let log = self.0.log.borrow();
        Trace {
            events: log.events.clone(),
            hung_at: log.hung_at,
            crashed: log.crashed.clone(),
        }
    }

    /// Installs (or, with `None`, removes) what runs at each scheduling point: the runner's
    /// choice of interleaving, kept out of the core's primitives.
    pub fn set_scheduler(&self, scheduler: Option<Scheduler>) {
        *self.0.scheduler.borrow_mut() = scheduler;
    }

    /// A signal becomes pending for the process that runs exporter `buf`'s next step (the
    /// step `Signal`); it is delivered, and no longer pending, when that step returns.
    pub fn signal(&self, buf: BufId) {
        self.0.signals.borrow_mut().insert(buf);
    }

    /// Every device finishes its queued work, oldest first (the step `Complete`).
    pub fn complete_all(&self) {
        self.0.complete_all()
    }

    /// Whether `buf` names a buffer the model knows (exporter registered or state created).
    pub fn knows_buf(&self, buf: BufId) -> bool {
        self.0.knows_buf(buf)
    }

    /// Whether `att` names an attachment object the core created.
    pub fn knows_att(&self, att: AttId) -> bool {
        self.0.knows_att(att)
    }

    /// Whether `sgt` names a mapping the model handed out.
    pub fn knows_sgt(&self, sgt: SgtId) -> bool {
        self.0.knows_sgt(sgt)
    }

    /// Whether `fence` names a fence the model created.
    pub fn knows_fence(&self, fence: FenceId) -> bool {
        self.0.knows_fence(fence)
    }

    /// Runs `f` as `actor` on another thread: the calls it makes come from `actor`.
    pub fn as_actor<R>(&self, actor: Actor, f: impl FnOnce() -> R) -> R {
        self.0.log.borrow_mut().stack.push(actor);
        let r = f();
        self.0.log.borrow_mut().stack.pop();
        r
    }
}
