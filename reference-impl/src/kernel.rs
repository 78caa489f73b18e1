//! The simulated machine: the dma-buf core's state, the reservation locks, fences, devices and
//! backing memory, and the trace every boundary-crossing call is recorded in.
//!
//! This file is infrastructure. The core's *behaviour* (what `dma_buf_map_attachment()` and
//! friends do) is normative and lives in the book; it is written as `impl Kernel` blocks that
//! use the primitives here: [`Kernel::traced`] to record a call, the `ops_*` dispatchers to
//! call the exporter, and the `dma_resv_*` functions for locks and fences.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::ops::{DmaBufAttachOps, DmaBufOps, OpsTable};
use crate::trace::{AccessOutcome, Actor, Call, DmaResvUsage, Event, Ret, Timeout, Trace};
use crate::{AttId, BufId, Errno, FenceId, JobId, SgtId};

/// Unwinding payload: a call never returns, so the scenario stops.
struct Hung;

/// A point in the core where another thread could take over. The runner's [`Scheduler`]
/// decides what, if anything, runs there; the core's primitives hold no interleaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedPoint {
    /// An attachment was linked into its buffer's list (`list_add`).
    Linked {
        /// The buffer.
        buf: BufId,
        /// The attachment.
        att: AttId,
    },
    /// A buffer's reservation lock was dropped (`dma_resv_unlock`).
    Unlocked {
        /// The buffer.
        buf: BufId,
    },
}

/// What the runner runs at a scheduling point; it may call back into the kernel, for
/// example as another actor with [`Kernel::as_actor`].
pub type Scheduler = Box<dyn FnMut(&Kernel, SchedPoint)>;

/// Return values that can be recorded in a trace.
pub trait Traced {
    /// The value as a trace records it.
    fn to_ret(&self) -> Ret;
}

impl Traced for () {
    fn to_ret(&self) -> Ret {
        Ret::Void
    }
}
impl Traced for bool {
    fn to_ret(&self) -> Ret {
        Ret::Bool(*self)
    }
}
impl Traced for i64 {
    fn to_ret(&self) -> Ret {
        Ret::Int(*self)
    }
}
impl Traced for AccessOutcome {
    fn to_ret(&self) -> Ret {
        Ret::Access(*self)
    }
}
impl Traced for Result<(), Errno> {
    fn to_ret(&self) -> Ret {
        match self {
            Ok(()) => Ret::Int(0),
            Err(e) => Ret::Err(*e),
        }
    }
}
impl Traced for Result<SgtId, Errno> {
    fn to_ret(&self) -> Ret {
        match self {
            Ok(s) => Ret::Sgt(*s),
            Err(e) => Ret::Err(*e),
        }
    }
}

/// What the core knows about an attachment (`struct dma_buf_attachment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment {
    /// `attach->dmabuf`
    pub buf: BufId,
    /// `attach->importer_ops != NULL`: a dynamic attachment.
    pub dynamic: bool,
    /// `attach->peer2peer`
    pub peer2peer: bool,
    /// `attach->importer_ops->invalidate_mappings != NULL`
    pub invalidate_mappings: bool,
}

#[derive(Debug, Default)]
struct BufState {
    exported: bool,
    locked: bool,
    attachments: Vec<AttId>,
    fences: Vec<(FenceId, DmaResvUsage)>,
    generation: u32,
    vmaps: u32,
    released: bool,
}

#[derive(Debug)]
struct AttState {
    info: Attachment,
    linked: bool,
    pins: i64,
    mappings: i64,
}

#[derive(Debug)]
struct SgtState {
    att: AttId,
    buf: BufId,
    generation: u32,
    invalidated: bool,
    unmapped: bool,
}

#[derive(Debug)]
struct JobState {
    att: AttId,
    sgt: SgtId,
    write: bool,
    fence: FenceId,
    stale_at_submit: Option<AccessOutcome>,
    done: bool,
}

#[derive(Debug, Default)]
struct FenceState {
    signaled: bool,
    /// Device work whose completion signals the fence.
    job: Option<JobId>,
    /// Work without memory access of its own (an exporter's clear or copy) that completes
    /// when waited for; false for a fence nothing will ever signal.
    completes: bool,
}

#[derive(Debug, Default)]
struct State {
    bufs: BTreeMap<BufId, BufState>,
    atts: BTreeMap<AttId, AttState>,
    sgts: BTreeMap<SgtId, SgtState>,
    jobs: BTreeMap<JobId, JobState>,
    fences: BTreeMap<FenceId, FenceState>,
    next_sgt: u32,
    next_job: u32,
    next_fence: u32,
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<Event>,
    stack: Vec<Actor>,
    open: Vec<usize>,
    step: usize,
    hung_at: Option<usize>,
    crashed: Option<crate::trace::Crash>,
}

/// The simulated machine. Single-threaded and deterministic: the same steps give the same
/// trace. All methods take `&self` so that drivers can call back into the core from inside a
/// callback, as kernel drivers do.
pub struct Kernel {
    core: Rc<dyn crate::core_role::DmaBufCore>,
    /// What the runner runs where another thread could take over ([`SchedPoint`]).
    scheduler: RefCell<Option<Scheduler>>,
    st: RefCell<State>,
    log: RefCell<Log>,
    exporters: RefCell<BTreeMap<BufId, Rc<dyn DmaBufOps>>>,
    importers: RefCell<BTreeMap<AttId, Rc<dyn DmaBufAttachOps>>>,
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel::with_core(crate::core_role::default_core())
    }
}

impl Kernel {
    /// An empty machine with the reference core.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty machine whose core role is played by `core`.
    pub fn with_core(core: Rc<dyn crate::core_role::DmaBufCore>) -> Self {
        Kernel {
            core,
            scheduler: RefCell::new(None),
            st: RefCell::default(),
            log: RefCell::default(),
            exporters: RefCell::default(),
            importers: RefCell::default(),
        }
    }

    /// The core playing the role.
    pub(crate) fn core_role(&self) -> Rc<dyn crate::core_role::DmaBufCore> {
        self.core.clone()
    }

    // ---------------------------------------------------------------- harness plumbing

    /// Registers the exporter's ops table for `buf` (the `exp_info.ops` pointer).
    pub fn register_exporter(&self, buf: BufId, ops: Rc<dyn DmaBufOps>) {
        self.exporters.borrow_mut().insert(buf, ops);
    }

    /// Registers the importer's `dma_buf_attach_ops` for `att` (used only if it attaches
    /// dynamically).
    pub fn register_importer(&self, att: AttId, ops: Rc<dyn DmaBufAttachOps>) {
        self.importers.borrow_mut().insert(att, ops);
    }

    /// Runs scenario step `index` as `actor`. Returns false if a call in it never returned,
    /// or a driver crashed (panicked: in the kernel, an oops); the machine must not be used
    /// further then. A panic of the model itself (the reference core, a device, the harness)
    /// is not a driver's crash: it goes on unwinding to the caller.
    pub fn run_step(&self, index: usize, actor: Actor, f: impl FnOnce()) -> bool {
        {
            let mut log = self.log.borrow_mut();
            log.step = index;
            log.stack = vec![actor];
            log.open.clear();
        }
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        match result {
            Ok(()) => true,
            Err(payload) if payload.is::<Hung>() => false,
            Err(payload) if payload.is::<crate::trace::ShimProcessFailed>() => {
                let message = payload
                    .downcast_ref::<crate::trace::ShimProcessFailed>()
                    .map(|f| f.0.clone())
                    .unwrap_or_default();
                self.log.borrow_mut().crashed = Some(crate::trace::Crash {
                    step: index,
                    message,
                    shim_process: true,
                });
                false
            }
            Err(payload) if !self.in_driver() => {
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
                self.log.borrow_mut().crashed = Some(crate::trace::Crash {
                    step: index,
                    message,
                    shim_process: false,
                });
                false
            }
        }
    }

    /// Whether the innermost running code is a driver's (an exporter, an importer, or a core
    /// under test) rather than the model's (the reference core, devices, memory) or the
    /// harness's. After a panic, the call stack still shows where it happened.
    fn in_driver(&self) -> bool {
        match self.log.borrow().stack.last() {
            Some(Actor::Exporter(_) | Actor::Importer(_)) => true,
            Some(Actor::Core) => !self.core.is_model(),
            Some(Actor::Harness | Actor::Device(_) | Actor::Memory(_)) | None => false,
        }
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> Trace {
        let log = self.log.borrow();
        Trace {
            events: log.events.clone(),
            hung_at: log.hung_at,
            crashed: log.crashed.clone(),
        }
    }

    // ---------------------------------------------------------------- tracing

    /// Records `call` from the current actor to `to`, runs it as `to`, and records what it
    /// returned. `buf` names the buffer whose lock state the event carries.
    pub fn traced<R: Traced>(&self, buf: BufId, to: Actor, call: Call, f: impl FnOnce() -> R) -> R {
        let locked = self.dma_resv_is_locked(buf);
        {
            let mut log = self.log.borrow_mut();
            let from = log.stack.last().copied().unwrap_or(Actor::Harness);
            let ev = Event {
                step: log.step,
                depth: log.stack.len() as u32 - 1,
                from,
                to,
                call: call.clone(),
                locked,
                ret: None,
            };
            let idx = log.events.len();
            log.events.push(ev);
            log.open.push(idx);
            log.stack.push(to);
        }
        let r = f();
        let ret = r.to_ret();
        self.observe(&call, &ret);
        let mut log = self.log.borrow_mut();
        log.stack.pop();
        if let Some(idx) = log.open.pop() {
            log.events[idx].ret = Some(ret);
        }
        r
    }

    /// Records a call into the core.
    pub fn core<R: Traced>(&self, buf: BufId, call: Call, f: impl FnOnce() -> R) -> R {
        self.traced(buf, Actor::Core, call, f)
    }

    /// The innermost open call never returns: record it and stop the scenario.
    pub fn hang(&self) -> ! {
        {
            let mut log = self.log.borrow_mut();
            if let Some(&idx) = log.open.last() {
                log.events[idx].ret = Some(Ret::Hang);
            }
            log.hung_at = Some(log.step);
        }
        panic::resume_unwind(Box::new(Hung))
    }

    /// A kernel warning (`WARN_ON`, a failed `dma_resv_assert_held`), recorded in the trace.
    pub fn warn(&self, buf: BufId, what: &str) {
        self.traced(
            buf,
            Actor::Core,
            Call::Warn {
                what: what.to_string(),
            },
            || (),
        );
    }

    /// Model bookkeeping derived from completed calls (pins and mappings an importer holds).
    fn observe(&self, call: &Call, ret: &Ret) {
        let mut st = self.st.borrow_mut();
        let (att, dpins, dmaps) = match (call, ret) {
            (Call::DmaBufPin { att }, Ret::Int(0)) => (*att, 1, 0),
            (Call::DmaBufUnpin { att }, _) => (*att, -1, 0),
            // The `_unlocked` variants call these, so counting these alone counts once.
            (Call::DmaBufMapAttachment { att }, Ret::Sgt(_)) => (*att, 0, 1),
            (Call::DmaBufUnmapAttachment { att, .. }, _) => (*att, 0, -1),
            _ => return,
        };
        if let Some(a) = st.atts.get_mut(&att) {
            a.pins += dpins;
            a.mappings += dmaps;
        }
    }

    // ---------------------------------------------------------------- core state

    /// The exporter's ops table for `buf`.
    pub fn exporter_table(&self, buf: BufId) -> Option<OpsTable> {
        self.exporters.borrow().get(&buf).map(|e| e.table())
    }

    fn exporter(&self, buf: BufId) -> Rc<dyn DmaBufOps> {
        self.exporters.borrow()[&buf].clone()
    }

    /// Whether `buf` names a buffer the model knows (exporter registered or state created).
    pub fn knows_buf(&self, buf: BufId) -> bool {
        self.exporters.borrow().contains_key(&buf) || self.st.borrow().bufs.contains_key(&buf)
    }

    /// Whether `att` names an attachment object the core created.
    pub fn knows_att(&self, att: AttId) -> bool {
        self.st.borrow().atts.contains_key(&att)
    }

    /// Whether `sgt` names a mapping the model handed out.
    pub fn knows_sgt(&self, sgt: SgtId) -> bool {
        self.st.borrow().sgts.contains_key(&sgt)
    }

    /// Whether `fence` names a fence the model created.
    pub fn knows_fence(&self, fence: FenceId) -> bool {
        self.st.borrow().fences.contains_key(&fence)
    }

    /// Marks `buf` exported (the `struct dma_buf` exists).
    pub fn set_exported(&self, buf: BufId) {
        self.st.borrow_mut().bufs.entry(buf).or_default().exported = true;
    }

    /// Whether `buf` was exported and not yet released.
    pub fn is_live(&self, buf: BufId) -> bool {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .is_some_and(|b| b.exported && !b.released)
    }

    /// Creates the attachment object (`kzalloc` + fields), not yet linked to the buffer.
    /// A dynamic attachment takes its importer ops from the registered importer.
    pub fn new_attachment(&self, buf: BufId, att: AttId, dynamic: bool) -> Attachment {
        let (peer2peer, invalidate_mappings) = match (dynamic, self.importers.borrow().get(&att)) {
            (true, Some(ops)) => (ops.allow_peer2peer(), ops.has_invalidate_mappings()),
            _ => (false, false),
        };
        let info = Attachment {
            buf,
            dynamic,
            peer2peer,
            invalidate_mappings,
        };
        self.st.borrow_mut().atts.insert(
            att,
            AttState {
                info,
                linked: false,
                pins: 0,
                mappings: 0,
            },
        );
        info
    }

    /// `importer_ops->allow_peer2peer` of the importer registered for `att`.
    pub fn importer_allows_peer2peer(&self, att: AttId) -> bool {
        self.importers
            .borrow()
            .get(&att)
            .is_some_and(|o| o.allow_peer2peer())
    }

    /// `importer_ops->invalidate_mappings != NULL` for the importer registered for `att`.
    pub fn importer_has_invalidate_mappings(&self, att: AttId) -> bool {
        self.importers
            .borrow()
            .get(&att)
            .is_some_and(|o| o.has_invalidate_mappings())
    }

    /// The attachment as the core sees it.
    pub fn attachment(&self, att: AttId) -> Attachment {
        self.st.borrow().atts[&att].info
    }

    /// `attach->peer2peer = value` (an exporter's attach op may clear it).
    pub fn set_peer2peer(&self, att: AttId, value: bool) {
        if let Some(a) = self.st.borrow_mut().atts.get_mut(&att) {
            a.info.peer2peer = value;
        }
    }

    /// Installs (or, with `None`, removes) what runs at each scheduling point: the runner's
    /// choice of interleaving, kept out of the core's primitives.
    pub fn set_scheduler(&self, scheduler: Option<Scheduler>) {
        *self.scheduler.borrow_mut() = scheduler;
    }

    /// Another thread could take over here: let the scheduler run what it chose. What it runs
    /// may reach further scheduling points; the scheduler does not see those.
    fn sched_point(&self, point: SchedPoint) {
        let Some(mut scheduler) = self.scheduler.borrow_mut().take() else {
            return;
        };
        scheduler(self, point);
        let mut slot = self.scheduler.borrow_mut();
        if slot.is_none() {
            *slot = Some(scheduler);
        }
    }

    /// Runs `f` as `actor` on another thread: the calls it makes come from `actor`.
    pub fn as_actor<R>(&self, actor: Actor, f: impl FnOnce() -> R) -> R {
        self.log.borrow_mut().stack.push(actor);
        let r = f();
        self.log.borrow_mut().stack.pop();
        r
    }

    /// `list_add(&attach->node, &dmabuf->attachments)`.
    pub fn link_attachment(&self, att: AttId) {
        let buf = self.st.borrow().atts[&att].info.buf;
        {
            let mut st = self.st.borrow_mut();
            st.atts.get_mut(&att).expect("attachment").linked = true;
            st.bufs.entry(buf).or_default().attachments.push(att);
        }
        self.sched_point(SchedPoint::Linked { buf, att });
    }

    /// `list_del(&attach->node)`.
    pub fn unlink_attachment(&self, att: AttId) {
        let mut st = self.st.borrow_mut();
        let buf = st.atts[&att].info.buf;
        if let Some(a) = st.atts.get_mut(&att) {
            a.linked = false;
        }
        if let Some(b) = st.bufs.get_mut(&buf) {
            b.attachments.retain(|x| *x != att);
        }
    }

    /// `dmabuf->attachments`, in the order they were linked.
    pub fn attachments_of(&self, buf: BufId) -> Vec<AttId> {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .map(|b| b.attachments.clone())
            .unwrap_or_default()
    }

    /// Pins and mappings the importer of `att` still holds (observed from its calls).
    pub fn held_by(&self, att: AttId) -> (u32, u32) {
        let st = self.st.borrow();
        let a = &st.atts[&att];
        (a.pins.max(0) as u32, a.mappings.max(0) as u32)
    }

    /// `dmabuf->vmapping_counter`.
    pub fn vmap_count(&self, buf: BufId) -> u32 {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .map(|b| b.vmaps)
            .unwrap_or(0)
    }

    /// Adjusts `dmabuf->vmapping_counter`.
    pub fn add_vmap_count(&self, buf: BufId, delta: i32) {
        let mut st = self.st.borrow_mut();
        let b = st.bufs.entry(buf).or_default();
        b.vmaps = b.vmaps.saturating_add_signed(delta);
    }

    /// Marks `buf` released: its memory may be freed.
    pub fn set_released(&self, buf: BufId) {
        self.st.borrow_mut().bufs.entry(buf).or_default().released = true;
    }

    // ---------------------------------------------------------------- op dispatch

    /// Calls `ops.attach` if set.
    pub fn ops_attach(&self, att: AttId) -> Result<(), Errno> {
        let buf = self.attachment(att).buf;
        if !self.exporter(buf).table().attach {
            return Ok(());
        }
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsAttach { att }, || {
            e.attach(self, att)
        })
    }

    /// Calls `ops.detach` if set.
    pub fn ops_detach(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        if e.table().detach {
            self.traced(buf, Actor::Exporter(buf), Call::OpsDetach { att }, || {
                e.detach(self, att)
            });
        }
    }

    /// Calls `ops.pin` (the caller checked it is set).
    pub fn ops_pin(&self, att: AttId) -> Result<(), Errno> {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsPin { att }, || {
            e.pin(self, att)
        })
    }

    /// Calls `ops.unpin` (the caller checked it is set).
    pub fn ops_unpin(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsUnpin { att }, || {
            e.unpin(self, att)
        })
    }

    /// Calls `ops.map_dma_buf`.
    pub fn ops_map_dma_buf(&self, att: AttId) -> Result<SgtId, Errno> {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(
            buf,
            Actor::Exporter(buf),
            Call::OpsMapDmaBuf { att },
            || e.map_dma_buf(self, att),
        )
    }

    /// Calls `ops.unmap_dma_buf`; the mapping is gone afterwards.
    pub fn ops_unmap_dma_buf(&self, att: AttId, sgt: SgtId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(
            buf,
            Actor::Exporter(buf),
            Call::OpsUnmapDmaBuf { att, sgt },
            || e.unmap_dma_buf(self, att, sgt),
        );
        if let Some(s) = self.st.borrow_mut().sgts.get_mut(&sgt) {
            s.unmapped = true;
        }
    }

    /// Calls `ops.vmap` if set, else `-EINVAL`.
    pub fn ops_vmap(&self, buf: BufId) -> Result<(), Errno> {
        let e = self.exporter(buf);
        if !e.table().vmap {
            return Err(Errno::EINVAL);
        }
        self.traced(buf, Actor::Exporter(buf), Call::OpsVmap { buf }, || {
            e.vmap(self)
        })
    }

    /// Calls `ops.vunmap` if set.
    pub fn ops_vunmap(&self, buf: BufId) {
        let e = self.exporter(buf);
        if e.table().vunmap {
            self.traced(buf, Actor::Exporter(buf), Call::OpsVunmap { buf }, || {
                e.vunmap(self)
            });
        }
    }

    /// Calls `ops.mmap` if set, else `-EINVAL`.
    pub fn ops_mmap(&self, buf: BufId) -> Result<(), Errno> {
        let e = self.exporter(buf);
        if !e.table().mmap {
            return Err(Errno::EINVAL);
        }
        self.traced(buf, Actor::Exporter(buf), Call::OpsMmap { buf }, || {
            e.mmap(self)
        })
    }

    /// Calls `ops.release`.
    pub fn ops_release(&self, buf: BufId) {
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
            e.release(self)
        });
    }

    /// Calls the importer's `invalidate_mappings`; its current mappings become invalidated.
    pub fn importer_invalidate_mappings(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        {
            let mut st = self.st.borrow_mut();
            for s in st.sgts.values_mut().filter(|s| s.att == att && !s.unmapped) {
                s.invalidated = true;
            }
        }
        let ops = self.importers.borrow()[&att].clone();
        self.traced(
            buf,
            Actor::Importer(att),
            Call::InvalidateMappings { att },
            || ops.invalidate_mappings(self, att),
        );
    }

    // ---------------------------------------------------------------- reservation object

    /// Whether `buf`'s reservation lock is held.
    pub fn dma_resv_is_locked(&self, buf: BufId) -> bool {
        self.st.borrow().bufs.get(&buf).is_some_and(|b| b.locked)
    }

    /// `dma_resv_lock(dmabuf->resv, NULL)`. Taking it twice on one thread never returns.
    pub fn dma_resv_lock(&self, buf: BufId) {
        self.core(buf, Call::DmaResvLock { buf }, || {
            if self.dma_resv_is_locked(buf) {
                self.hang();
            }
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
        });
        self.sched_point(SchedPoint::Unlocked { buf });
    }

    /// `dma_resv_assert_held()`: a lockdep splat (a `Warn` event) if the lock is not held.
    pub fn dma_resv_assert_held(&self, buf: BufId) {
        if !self.dma_resv_is_locked(buf) {
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
    /// 0 (timed out) and an unbounded wait never return. Success returns the remaining
    /// timeout, which is positive (`MAX_SCHEDULE_TIMEOUT` for an unbounded wait). A timeout of
    /// 0 is a poll: 1 if every fence has signalled, else 0, and no time passes.
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
                let pending: Vec<FenceId> = {
                    let st = self.st.borrow();
                    st.bufs
                        .get(&buf)
                        .map(|b| {
                            b.fences
                                .iter()
                                .filter(|(f, u)| {
                                    *u <= usage && !st.fences.get(f).is_some_and(|f| f.signaled)
                                })
                                .map(|(f, _)| *f)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                if timeout == Timeout::Jiffies(0) {
                    // A poll: no time passes.
                    return i64::from(pending.is_empty());
                }
                for fence in pending {
                    let (job, completes) = {
                        let st = self.st.borrow();
                        let f = &st.fences[&fence];
                        (f.job, f.completes)
                    };
                    match job {
                        Some(job) => self.complete_job(job),
                        None if completes => self.signal(buf, fence),
                        None if timeout == Timeout::Max => self.hang(),
                        None => return 0,
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

    /// A new fence for work of the caller's own (an exporter's clear or copy). If `completes`
    /// is false, nothing will ever signal it (stuck hardware, a lost job).
    pub fn dma_fence_create(&self, completes: bool) -> FenceId {
        let mut st = self.st.borrow_mut();
        st.next_fence += 1;
        let id = FenceId(st.next_fence);
        st.fences.insert(
            id,
            FenceState {
                signaled: false,
                job: None,
                completes,
            },
        );
        id
    }

    /// The work behind `fence` completes and the fence signals.
    fn signal(&self, buf: BufId, fence: FenceId) {
        self.traced(buf, Actor::Core, Call::DmaFenceSignal { fence }, || {
            if let Some(f) = self.st.borrow_mut().fences.get_mut(&fence) {
                f.signaled = true;
            }
        });
    }

    // ---------------------------------------------------------------- memory and devices

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
            },
        );
        id
    }

    /// The exporter reuses the buffer's backing memory: every older mapping now points at
    /// memory that belongs to someone else.
    pub fn reclaim_memory(&self, buf: BufId) {
        self.traced(buf, Actor::Memory(buf), Call::ReclaimMemory { buf }, || {
            self.st.borrow_mut().bufs.entry(buf).or_default().generation += 1;
        })
    }

    /// The exporter waits until no importer holds a mapping of `buf` (VFIO's completion).
    /// Never returns if an importer keeps a mapping.
    pub fn wait_for_unmap(&self, buf: BufId) {
        self.core(buf, Call::WaitForUnmap { buf }, || {
            let st = self.st.borrow();
            let mapped = st.sgts.values().any(|s| s.buf == buf && !s.unmapped);
            drop(st);
            if mapped {
                self.hang();
            }
        })
    }

    fn outcome(&self, sgt: Option<SgtId>) -> AccessOutcome {
        let st = self.st.borrow();
        let Some(s) = sgt.and_then(|s| st.sgts.get(&s)) else {
            return AccessOutcome::NoMapping;
        };
        let b = &st.bufs[&s.buf];
        let kernel_pending = b.fences.iter().any(|(f, u)| {
            *u == DmaResvUsage::Kernel && !st.fences.get(f).is_some_and(|f| f.signaled)
        });
        if s.generation != b.generation {
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
        let buf = self.attachment(att).buf;
        let stale = match self.outcome(Some(sgt)) {
            AccessOutcome::Ok | AccessOutcome::NotReady => None,
            other => Some(other),
        };
        let (job, fence) = {
            let mut st = self.st.borrow_mut();
            st.next_job += 1;
            st.next_fence += 1;
            let (job, fence) = (JobId(st.next_job), FenceId(st.next_fence));
            st.fences.insert(
                fence,
                FenceState {
                    signaled: false,
                    job: Some(job),
                    completes: true,
                },
            );
            st.jobs.insert(
                job,
                JobState {
                    att,
                    sgt,
                    write,
                    fence,
                    stale_at_submit: stale,
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
    pub fn complete_job(&self, job: JobId) {
        let (att, sgt, write, fence, stale) = {
            let st = self.st.borrow();
            let j = &st.jobs[&job];
            if j.done {
                return;
            }
            (j.att, j.sgt, j.write, j.fence, j.stale_at_submit)
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
                AccessOutcome::NotReady => AccessOutcome::NotReady,
                _ => stale.unwrap_or(AccessOutcome::Ok),
            },
        );
        self.st.borrow_mut().jobs.get_mut(&job).expect("job").done = true;
        self.signal(buf, fence);
        let mut log = self.log.borrow_mut();
        log.stack.truncate(pushed - 1);
        if log.stack.is_empty() {
            log.stack.push(Actor::Harness);
        }
    }

    /// Every device finishes its queued work, oldest first; exporters' own fences that can
    /// complete signal too.
    pub fn complete_all(&self) {
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
            self.signal(buf, fence);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: Box<dyn std::any::Any + Send>) -> String {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    /// A driver that panics has crashed (an oops): the step stops and the trace says so.
    #[test]
    fn a_driver_panic_is_an_oops_in_the_trace() {
        let k = Kernel::new();
        let buf = BufId(0);
        let done = k.run_step(3, Actor::Harness, || {
            k.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
                panic!("exporter bug")
            })
        });
        assert!(!done);
        let crash = k.trace().crashed.expect("a crash");
        assert_eq!((crash.step, crash.message.as_str()), (3, "exporter bug"));
        assert!(!crash.shim_process);
        let events = k.trace().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].ret, None, "the call never returned");
    }

    /// A panic of the harness, or of the model's own core called by a driver, is a bug of
    /// the suite: it reaches the caller instead of passing for a driver's oops.
    #[test]
    fn a_model_panic_goes_on_unwinding() {
        let k = Kernel::new();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            k.run_step(0, Actor::Harness, || panic!("harness bug"))
        }));
        assert_eq!(message(r.expect_err("unwinds")), "harness bug");

        let k = Kernel::new();
        let buf = BufId(0);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            k.run_step(0, Actor::Exporter(buf), || {
                k.core(buf, Call::DmaBufInvalidateMappings { buf }, || {
                    panic!("core bug")
                })
            })
        }));
        assert_eq!(message(r.expect_err("unwinds")), "core bug");
        assert_eq!(k.trace().crashed, None);
    }

    /// The scheduler sees each point once, and what it runs there (here: another lock and
    /// unlock, as the exporter) reaches no further point of it and is traced from its actor.
    #[test]
    fn the_scheduler_runs_at_its_points_and_not_inside_itself() {
        let k = Kernel::new();
        let buf = BufId(0);
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        k.set_scheduler(Some(Box::new(move |k, point| {
            log.borrow_mut().push(point);
            k.as_actor(Actor::Exporter(buf), || {
                k.dma_resv_lock(buf);
                k.dma_resv_unlock(buf);
            });
        })));
        assert!(k.run_step(0, Actor::Harness, || {
            k.dma_resv_lock(buf);
            k.dma_resv_unlock(buf);
        }));
        assert_eq!(*seen.borrow(), [SchedPoint::Unlocked { buf }]);
        let froms: Vec<String> = k
            .trace()
            .events
            .iter()
            .map(|e| format!("{} {}", e.from, e.call.name()))
            .collect();
        assert_eq!(
            froms,
            [
                "harness dma_resv_lock",
                "harness dma_resv_unlock",
                "exporter.buf0 dma_resv_lock",
                "exporter.buf0 dma_resv_unlock",
            ]
        );
        k.set_scheduler(None);
        assert!(k.run_step(1, Actor::Harness, || {
            k.dma_resv_lock(buf);
            k.dma_resv_unlock(buf);
        }));
        assert_eq!(seen.borrow().len(), 1, "no scheduler, no point");
    }
}
