//! The simulated machine: the dma-buf core's state, the reservation locks, fences, devices and
//! backing memory, and the trace every boundary-crossing call is recorded in.
//!
//! This file is infrastructure. The core's *behaviour* (what `dma_buf_map_attachment()` and
//! friends do) is normative and lives in the book; it is written as `impl Kernel` blocks that
//! use the primitives here: [`Kernel::traced`] to record a call, the `ops_*` dispatchers to
//! call the exporter, and the `dma_resv_*` functions for locks and fences.
//!
//! One `impl Kernel` per concern, each in its own file:
//!
//! - `state`: the core's buffers and attachments (`struct dma_buf`, `dma_buf_attachment`);
//! - `log`: the trace log ([`Kernel::traced`], hangs, warnings);
//! - `dispatch`: calls into the exporter's and importers' ops tables;
//! - `resv`: the reservation object (lock, fences, waits) and the scheduling points;
//! - `lockdep`: the documented lock order, checked per thread, and iommufd's `pages->mutex`;
//! - `devices`: time, device work, fence signalling, device accesses and memory;
//! - `work`: the work items drivers queue and the kernel's worker thread that runs them;
//! - `harness`: what the runner uses (registering drivers, running a step, the trace).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crate::ops::{DmaBufAttachOps, DmaBufOps, OpsTable};
use crate::trace::{AccessOutcome, Actor, Call, DmaResvUsage, Event, Ret, Timeout, Trace};
use crate::{AttId, BufId, Errno, FenceId, JobId, SgtId};

/// Unwinding payload: a call never returns, so the scenario stops.
struct Hung;

/// Unwinding payload: a step run inside another would wait for a lock the interrupted step
/// holds, which the interrupted step cannot drop until the inner one returns. The schedule
/// that asked for it is not one the model can run (see the chapter "Races").
#[derive(Debug)]
pub struct Blocked {
    /// The buffer whose lock was wanted.
    pub buf: BufId,
    /// Which of its locks: `reservation lock` or `memory lock` (VFIO's `vdev->memory_lock`).
    pub lock: &'static str,
}

/// Unwinding payload: a step run inside another hung or crashed, so the scenario stops.
struct Stopped;

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
    /// A buffer's reservation lock is about to be taken (`dma_resv_lock`).
    Lock {
        /// The buffer.
        buf: BufId,
    },
    /// A buffer's reservation lock was dropped (`dma_resv_unlock`).
    Unlocked {
        /// The buffer.
        buf: BufId,
    },
    /// A wait for a buffer's fences is about to start (`dma_resv_wait_timeout`).
    FenceWait {
        /// The buffer.
        buf: BufId,
    },
    /// A fence of a buffer signalled (`dma_fence_signal`).
    FenceSignal {
        /// The buffer.
        buf: BufId,
    },
    /// An exporter is about to wait for its importers to unmap.
    UnmapWait {
        /// The buffer.
        buf: BufId,
    },
    /// The core is about to call an importer's `invalidate_mappings`.
    CallbackEntry {
        /// The buffer.
        buf: BufId,
        /// The attachment.
        att: AttId,
    },
    /// An importer's `invalidate_mappings` returned.
    CallbackExit {
        /// The buffer.
        buf: BufId,
        /// The attachment.
        att: AttId,
    },
}

impl SchedPoint {
    /// The buffer the point concerns.
    pub fn buf(self) -> BufId {
        match self {
            SchedPoint::Linked { buf, .. }
            | SchedPoint::Lock { buf }
            | SchedPoint::Unlocked { buf }
            | SchedPoint::FenceWait { buf }
            | SchedPoint::FenceSignal { buf }
            | SchedPoint::UnmapWait { buf }
            | SchedPoint::CallbackEntry { buf, .. }
            | SchedPoint::CallbackExit { buf, .. } => buf,
        }
    }

    /// The point's kind, as a schedule names it.
    pub fn kind(self) -> crate::PointKind {
        use crate::PointKind as K;
        match self {
            SchedPoint::Linked { .. } => K::Linked,
            SchedPoint::Lock { .. } => K::Lock,
            SchedPoint::Unlocked { .. } => K::Unlock,
            SchedPoint::FenceWait { .. } => K::FenceWait,
            SchedPoint::FenceSignal { .. } => K::FenceSignal,
            SchedPoint::UnmapWait { .. } => K::UnmapWait,
            SchedPoint::CallbackEntry { .. } => K::CallbackEntry,
            SchedPoint::CallbackExit { .. } => K::CallbackExit,
        }
    }
}

/// What the runner runs at a scheduling point; it may call back into the kernel, for
/// example as another actor with [`Harness::as_actor`].
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
    /// A negative value is an error number (`-ERESTARTSYS` from an interrupted wait).
    fn to_ret(&self) -> Ret {
        match Errno::from_kernel(*self) {
            Some(e) => Ret::Err(e),
            None => Ret::Int(*self),
        }
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
    /// The backing memory's generation: a mapping records the one it was made on.
    generation: u32,
    /// Mappings of a generation below this one point at memory that was reused.
    freed_below: u32,
    vmaps: u32,
    released: bool,
    /// Bounded waits in a row that timed out on fences nothing will signal: (step, count).
    timeouts: (usize, u32),
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
    /// Obtained through a private interconnect (`vfio_pci_dma_buf_iommufd_map()`), not
    /// through `map_dma_buf`: the exporter's unmap accounting does not see it.
    private: bool,
}

#[derive(Debug)]
struct JobState {
    att: AttId,
    sgt: SgtId,
    write: bool,
    fence: FenceId,
    stale_at_submit: Option<AccessOutcome>,
    /// The buffer's KERNEL fences still pending when the job was queued: the only ones the
    /// job can run ahead of (a copy or clear queued later is ordered after it).
    kernel_at_submit: Vec<FenceId>,
    /// The job's completion path takes the buffer's reservation lock before it signals.
    locks_resv: bool,
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
    /// A pipelined move's copy (TTM's `ttm_bo_move_accel_cleanup()`): the fences it waits
    /// for on the GPU, which complete before it, and the generation of the old placement,
    /// freed (the memory reclaimed) when it completes, before it signals.
    copy_after: Option<(Vec<FenceId>, u32)>,
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
    /// Work items queued, oldest first (the kernel's worker runs them in this order).
    work: Vec<work::WorkItem>,
}

impl State {
    /// A new fence, not signalled, with what will signal it.
    fn new_fence(
        &mut self,
        job: Option<JobId>,
        completes: bool,
        copy_after: Option<(Vec<FenceId>, u32)>,
    ) -> FenceId {
        self.next_fence += 1;
        let id = FenceId(self.next_fence);
        self.fences.insert(
            id,
            FenceState {
                signaled: false,
                job,
                completes,
                copy_after,
            },
        );
        id
    }
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
    core: Rc<dyn crate::api::DmaBufCore>,
    /// What the runner runs where another thread could take over ([`SchedPoint`]).
    scheduler: RefCell<Option<Scheduler>>,
    /// How many steps run inside one another now (0: one step runs).
    depth: std::cell::Cell<usize>,
    /// The step depth that took each held reservation lock.
    lock_depth: RefCell<BTreeMap<BufId, usize>>,
    /// The step depth that took each held device memory lock (`vdev->memory_lock`).
    memory_locks: RefCell<BTreeMap<BufId, usize>>,
    /// The step depth that took each held iommufd `pages->mutex`, by import.
    pages_mutexes: RefCell<BTreeMap<AttId, usize>>,
    /// Lockdep's held locks: (thread, class), in the order they were taken.
    lockdep_held: RefCell<Vec<((usize, bool), lockdep::LockClass)>>,
    /// The exporters whose next step's process has a signal pending ([`Harness::signal`]).
    signals: RefCell<std::collections::BTreeSet<BufId>>,
    /// The kernel's worker thread is running a stage of a work item now.
    worker_running: std::cell::Cell<bool>,
    /// The step depth the worker's running stage started at.
    worker_depth: std::cell::Cell<usize>,
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
    pub fn with_core(core: Rc<dyn crate::api::DmaBufCore>) -> Self {
        Kernel {
            core,
            scheduler: RefCell::new(None),
            depth: std::cell::Cell::new(0),
            lock_depth: RefCell::default(),
            memory_locks: RefCell::default(),
            signals: RefCell::default(),
            pages_mutexes: RefCell::default(),
            lockdep_held: RefCell::default(),
            worker_running: std::cell::Cell::new(false),
            worker_depth: std::cell::Cell::new(0),
            st: RefCell::default(),
            log: RefCell::default(),
            exporters: RefCell::default(),
            importers: RefCell::default(),
        }
    }

    /// The core playing the role.
    pub(crate) fn core_role(&self) -> Rc<dyn crate::api::DmaBufCore> {
        self.core.clone()
    }
}

mod devices;
mod dispatch;
mod harness;
pub use harness::Harness;
mod lockdep;
pub use lockdep::{LOCKDEP_WARNING, LockClass};
mod log;
mod resv;
pub use resv::FRUITLESS_WAITS;
mod state;
mod sync;
pub use sync::{Completion, Kref};
#[cfg(test)]
mod tests;
mod work;
