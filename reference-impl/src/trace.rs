//! The trace: every call that crosses a role boundary (core, exporter, importer, device,
//! memory), with the reservation lock's state at the call and the value it returned.
//!
//! A trace is plain data with a JSON Schema, so a backend in another process or language
//! (or the Linux kernel itself) can produce one and have it judged by the same checks.

use std::fmt::{self, Write as _};

use crate::{AttId, BufId, Errno, FenceId, JobId, SgtId};

/// Who makes or receives a call.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "role", content = "id")]
pub enum Actor {
    /// The scenario itself, starting a step.
    Harness,
    /// The dma-buf core (`drivers/dma-buf/dma-buf.c`, `dma-resv.c`).
    Core,
    /// The exporter of a buffer.
    Exporter(BufId),
    /// The importer owning an attachment.
    Importer(AttId),
    /// The importer's device, doing DMA through its mapping.
    Device(AttId),
    /// The buffer's backing memory.
    Memory(BufId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Harness => write!(f, "harness"),
            Actor::Core => write!(f, "core"),
            Actor::Exporter(b) => write!(f, "exporter.{b}"),
            Actor::Importer(a) => write!(f, "importer.{a}"),
            Actor::Device(a) => write!(f, "device.{a}"),
            Actor::Memory(b) => write!(f, "memory.{b}"),
        }
    }
}

/// `enum dma_resv_usage`: waiting for a usage waits for every fence of that usage and below.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DmaResvUsage {
    /// `DMA_RESV_USAGE_KERNEL`: memory management (moves, clears).
    Kernel,
    /// `DMA_RESV_USAGE_WRITE`: implicit-sync writers.
    Write,
    /// `DMA_RESV_USAGE_READ`: implicit-sync readers.
    Read,
    /// `DMA_RESV_USAGE_BOOKKEEP`: everything else; waiting for it waits for every fence.
    Bookkeep,
}

impl fmt::Display for DmaResvUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DmaResvUsage::Kernel => "KERNEL",
            DmaResvUsage::Write => "WRITE",
            DmaResvUsage::Read => "READ",
            DmaResvUsage::Bookkeep => "BOOKKEEP",
        })
    }
}

/// A wait's timeout: a finite number of jiffies or `MAX_SCHEDULE_TIMEOUT`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Timeout {
    /// A bounded wait of this many jiffies.
    Jiffies(u32),
    /// `MAX_SCHEDULE_TIMEOUT`: wait forever.
    Max,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeout::Jiffies(j) => write!(f, "{j}"),
            Timeout::Max => f.write_str("MAX_SCHEDULE_TIMEOUT"),
        }
    }
}

/// A call across a role boundary, named after the kernel function or op it models.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "fn")]
#[allow(missing_docs)] // Fields are named after the kernel functions' arguments.
pub enum Call {
    /// `dma_buf_export()`.
    DmaBufExport { buf: BufId },
    /// `dma_buf_attach()`: a static attachment (no importer ops).
    DmaBufAttach { buf: BufId, att: AttId },
    /// `dma_buf_dynamic_attach()` with importer ops.
    DmaBufDynamicAttach {
        buf: BufId,
        att: AttId,
        /// `importer_ops->allow_peer2peer`.
        allow_peer2peer: bool,
        /// `importer_ops->invalidate_mappings != NULL`.
        invalidate_mappings: bool,
    },
    /// `dma_buf_detach()`, with what the attachment still held when it was called.
    DmaBufDetach {
        buf: BufId,
        att: AttId,
        pins: u32,
        mappings: u32,
    },
    /// `dma_buf_pin()`.
    DmaBufPin { att: AttId },
    /// `dma_buf_unpin()`.
    DmaBufUnpin { att: AttId },
    /// `dma_buf_map_attachment()`.
    DmaBufMapAttachment { att: AttId },
    /// `dma_buf_unmap_attachment()`.
    DmaBufUnmapAttachment { att: AttId, sgt: SgtId },
    /// `dma_buf_map_attachment_unlocked()`.
    DmaBufMapAttachmentUnlocked { att: AttId },
    /// `dma_buf_unmap_attachment_unlocked()`.
    DmaBufUnmapAttachmentUnlocked { att: AttId, sgt: SgtId },
    /// `dma_buf_invalidate_mappings()` (`dma_buf_move_notify()` before Linux 7.1).
    DmaBufInvalidateMappings { buf: BufId },
    /// `dma_buf_attach_revocable()`.
    DmaBufAttachRevocable { att: AttId },
    /// `dma_buf_vmap()`.
    DmaBufVmap { buf: BufId },
    /// `dma_buf_vunmap()`.
    DmaBufVunmap { buf: BufId },
    /// `dma_buf_mmap()`.
    DmaBufMmap { buf: BufId },
    /// `dma_buf_put()` dropping the last reference.
    DmaBufPut {
        buf: BufId,
        attachments: u32,
        vmaps: u32,
    },
    /// `dma_resv_lock()`.
    DmaResvLock { buf: BufId },
    /// `dma_resv_unlock()`.
    DmaResvUnlock { buf: BufId },
    /// `dma_resv_add_fence()`.
    DmaResvAddFence {
        buf: BufId,
        fence: FenceId,
        usage: DmaResvUsage,
    },
    /// `dma_resv_wait_timeout()`.
    DmaResvWaitTimeout {
        buf: BufId,
        usage: DmaResvUsage,
        intr: bool,
        timeout: Timeout,
    },
    /// `dma_fence_signal()`: work behind a fence completed.
    DmaFenceSignal { fence: FenceId },
    /// The exporter waits until every importer has unmapped (VFIO's completion).
    WaitForUnmap { buf: BufId },
    /// `vfio_pci_dma_buf_iommufd_map()`: VFIO's private interconnect hands iommufd the
    /// BAR's physical range; VFIO's unmap wait does not count it.
    VfioPciDmaBufIommufdMap { att: AttId },
    /// The importer removes its IOMMU mapping of the buffer (`iommu_unmap()`, reached from
    /// `iopt_area_unmap_domain_range()`), and flushes the IOTLB.
    IommuUnmap { att: AttId },
    /// `dma_buf_ops.attach`.
    OpsAttach { att: AttId },
    /// `dma_buf_ops.detach`.
    OpsDetach { att: AttId },
    /// `dma_buf_ops.pin`.
    OpsPin { att: AttId },
    /// `dma_buf_ops.unpin`.
    OpsUnpin { att: AttId },
    /// `dma_buf_ops.map_dma_buf`.
    OpsMapDmaBuf { att: AttId },
    /// `dma_buf_ops.unmap_dma_buf`.
    OpsUnmapDmaBuf { att: AttId, sgt: SgtId },
    /// `dma_buf_ops.vmap`.
    OpsVmap { buf: BufId },
    /// `dma_buf_ops.vunmap`.
    OpsVunmap { buf: BufId },
    /// `dma_buf_ops.mmap`.
    OpsMmap { buf: BufId },
    /// `dma_buf_ops.release`.
    OpsRelease { buf: BufId },
    /// `dma_buf_attach_ops.invalidate_mappings` (`move_notify` before Linux 7.1).
    InvalidateMappings { att: AttId },
    /// A work item the importer of `att` queued runs (a `work_struct` on a workqueue).
    Worker { att: AttId },
    /// The importer queues device work on a mapping; its completion is `fence`.
    DeviceSubmit {
        att: AttId,
        job: JobId,
        sgt: SgtId,
        write: bool,
        fence: FenceId,
    },
    /// The device reads or writes the buffer through a mapping (`job` if queued work).
    DmaAccess {
        att: AttId,
        sgt: Option<SgtId>,
        write: bool,
        job: Option<JobId>,
    },
    /// The exporter reuses the buffer's backing memory (after a reset, a move or a free).
    ReclaimMemory { buf: BufId },
    /// A kernel warning (`WARN_ON`, lockdep) the core would print.
    Warn { what: String },
}

/// What a device access found, judged by the model.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessOutcome {
    /// The mapping is current and the memory is the buffer's.
    Ok,
    /// The importer was told to invalidate this mapping and has not unmapped it yet.
    AfterInvalidate,
    /// The mapping was already unmapped (an IOMMU fault at best).
    Unmapped,
    /// There is no mapping at all: the device faults, no memory is touched.
    NoMapping,
    /// The memory behind the mapping was reclaimed by the exporter: a use-after-free.
    Reclaimed,
    /// A KERNEL fence (move or clear) on the buffer had not signalled: the content is not ready.
    NotReady,
}

/// What a call returned.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Ret {
    /// A `void` function returned.
    Void,
    /// A non-negative integer (0 for success, or a remaining timeout).
    Int(i64),
    /// A negative error number.
    Err(Errno),
    /// A boolean.
    Bool(bool),
    /// A mapping.
    Sgt(SgtId),
    /// The outcome of a device access.
    Access(AccessOutcome),
    /// The call never returns: the thread would block forever (deadlock or endless wait).
    Hang,
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Void => Ok(()),
            Ret::Int(i) if *i == i64::MAX => f.write_str("MAX_SCHEDULE_TIMEOUT"),
            Ret::Int(i) => write!(f, "{i}"),
            Ret::Err(e) => write!(f, "{e}"),
            Ret::Bool(b) => write!(f, "{b}"),
            Ret::Sgt(s) => write!(f, "{s}"),
            Ret::Access(a) => f.write_str(match a {
                AccessOutcome::Ok => "ok",
                AccessOutcome::AfterInvalidate => {
                    "AFTER_INVALIDATE (mapping invalidated, not yet unmapped)"
                }
                AccessOutcome::Unmapped => "UNMAPPED (mapping already unmapped)",
                AccessOutcome::NoMapping => "fault (no mapping)",
                AccessOutcome::Reclaimed => "RECLAIMED (use after free)",
                AccessOutcome::NotReady => "NOT_READY (KERNEL fence pending)",
            }),
            Ret::Hang => f.write_str("HANG (never returns)"),
        }
    }
}

/// The name of a call, as checks refer to it: the kernel function or op (`dma_buf_pin`,
/// `ops.map_dma_buf`, `importer_ops.invalidate_mappings`), or `dma_read`/`dma_write` for a
/// device access. A check names calls by this type, so a misspelt name does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // Each variant is the call of the same name in [`Call`].
pub enum CallName {
    DmaBufExport,
    DmaBufAttach,
    DmaBufDynamicAttach,
    DmaBufDetach,
    DmaBufPin,
    DmaBufUnpin,
    DmaBufMapAttachment,
    DmaBufUnmapAttachment,
    DmaBufMapAttachmentUnlocked,
    DmaBufUnmapAttachmentUnlocked,
    DmaBufInvalidateMappings,
    DmaBufAttachRevocable,
    DmaBufVmap,
    DmaBufVunmap,
    DmaBufMmap,
    DmaBufPut,
    DmaResvLock,
    DmaResvUnlock,
    DmaResvAddFence,
    DmaResvWaitTimeout,
    DmaFenceSignal,
    WaitForUnmap,
    VfioPciDmaBufIommufdMap,
    IommuUnmap,
    OpsAttach,
    OpsDetach,
    OpsPin,
    OpsUnpin,
    OpsMapDmaBuf,
    OpsUnmapDmaBuf,
    OpsVmap,
    OpsVunmap,
    OpsMmap,
    OpsRelease,
    InvalidateMappings,
    Worker,
    DeviceSubmit,
    DmaRead,
    DmaWrite,
    ReclaimMemory,
    Warn,
}

impl CallName {
    /// Every call name.
    pub const ALL: &'static [CallName] = &[
        CallName::DmaBufExport,
        CallName::DmaBufAttach,
        CallName::DmaBufDynamicAttach,
        CallName::DmaBufDetach,
        CallName::DmaBufPin,
        CallName::DmaBufUnpin,
        CallName::DmaBufMapAttachment,
        CallName::DmaBufUnmapAttachment,
        CallName::DmaBufMapAttachmentUnlocked,
        CallName::DmaBufUnmapAttachmentUnlocked,
        CallName::DmaBufInvalidateMappings,
        CallName::DmaBufAttachRevocable,
        CallName::DmaBufVmap,
        CallName::DmaBufVunmap,
        CallName::DmaBufMmap,
        CallName::DmaBufPut,
        CallName::DmaResvLock,
        CallName::DmaResvUnlock,
        CallName::DmaResvAddFence,
        CallName::DmaResvWaitTimeout,
        CallName::DmaFenceSignal,
        CallName::WaitForUnmap,
        CallName::VfioPciDmaBufIommufdMap,
        CallName::IommuUnmap,
        CallName::OpsAttach,
        CallName::OpsDetach,
        CallName::OpsPin,
        CallName::OpsUnpin,
        CallName::OpsMapDmaBuf,
        CallName::OpsUnmapDmaBuf,
        CallName::OpsVmap,
        CallName::OpsVunmap,
        CallName::OpsMmap,
        CallName::OpsRelease,
        CallName::InvalidateMappings,
        CallName::Worker,
        CallName::DeviceSubmit,
        CallName::DmaRead,
        CallName::DmaWrite,
        CallName::ReclaimMemory,
        CallName::Warn,
    ];

    /// The spelling a trace renders: `dma_buf_pin`, `ops.map_dma_buf`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallName::DmaBufExport => "dma_buf_export",
            CallName::DmaBufAttach => "dma_buf_attach",
            CallName::DmaBufDynamicAttach => "dma_buf_dynamic_attach",
            CallName::DmaBufDetach => "dma_buf_detach",
            CallName::DmaBufPin => "dma_buf_pin",
            CallName::DmaBufUnpin => "dma_buf_unpin",
            CallName::DmaBufMapAttachment => "dma_buf_map_attachment",
            CallName::DmaBufUnmapAttachment => "dma_buf_unmap_attachment",
            CallName::DmaBufMapAttachmentUnlocked => "dma_buf_map_attachment_unlocked",
            CallName::DmaBufUnmapAttachmentUnlocked => "dma_buf_unmap_attachment_unlocked",
            CallName::DmaBufInvalidateMappings => "dma_buf_invalidate_mappings",
            CallName::DmaBufAttachRevocable => "dma_buf_attach_revocable",
            CallName::DmaBufVmap => "dma_buf_vmap",
            CallName::DmaBufVunmap => "dma_buf_vunmap",
            CallName::DmaBufMmap => "dma_buf_mmap",
            CallName::DmaBufPut => "dma_buf_put",
            CallName::DmaResvLock => "dma_resv_lock",
            CallName::DmaResvUnlock => "dma_resv_unlock",
            CallName::DmaResvAddFence => "dma_resv_add_fence",
            CallName::DmaResvWaitTimeout => "dma_resv_wait_timeout",
            CallName::DmaFenceSignal => "dma_fence_signal",
            CallName::WaitForUnmap => "wait_for_unmap",
            CallName::VfioPciDmaBufIommufdMap => "vfio_pci_dma_buf_iommufd_map",
            CallName::IommuUnmap => "iommu_unmap",
            CallName::OpsAttach => "ops.attach",
            CallName::OpsDetach => "ops.detach",
            CallName::OpsPin => "ops.pin",
            CallName::OpsUnpin => "ops.unpin",
            CallName::OpsMapDmaBuf => "ops.map_dma_buf",
            CallName::OpsUnmapDmaBuf => "ops.unmap_dma_buf",
            CallName::OpsVmap => "ops.vmap",
            CallName::OpsVunmap => "ops.vunmap",
            CallName::OpsMmap => "ops.mmap",
            CallName::OpsRelease => "ops.release",
            CallName::InvalidateMappings => "importer_ops.invalidate_mappings",
            CallName::Worker => "worker",
            CallName::DeviceSubmit => "submit",
            CallName::DmaRead => "dma_read",
            CallName::DmaWrite => "dma_write",
            CallName::ReclaimMemory => "reclaim_memory",
            CallName::Warn => "WARN",
        }
    }
}

impl fmt::Display for CallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call in a trace.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Event {
    /// Index of the scenario step during which the call was made.
    pub step: usize,
    /// Nesting depth: a call made from inside another call is one deeper.
    pub depth: u32,
    /// The caller.
    pub from: Actor,
    /// The callee.
    pub to: Actor,
    /// The call and its arguments.
    pub call: Call,
    /// Whether the buffer's reservation lock was held when the call was made.
    pub locked: bool,
    /// What it returned; `None` only if the scenario stopped inside it.
    pub ret: Option<Ret>,
}

/// A whole trace: the events of every step, and where the scenario stopped if it hung.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Trace {
    /// Events in call order.
    pub events: Vec<Event>,
    /// The step at which a call never returned; later steps did not run.
    pub hung_at: Option<usize>,
    /// A driver crashed (a kernel oops); later steps did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashed: Option<Crash>,
}

/// A driver crashed in the middle of a step: in the kernel, an oops.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Crash {
    /// The step it happened in.
    pub step: usize,
    /// What the driver said as it crashed.
    pub message: String,
    /// Set when the driver is a shim process that died, hung or broke the wire protocol,
    /// rather than a driver that panicked (an oops).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shim_process: bool,
}

/// Unwinding payload of a shim process that failed in the middle of a step: recorded as a
/// [`Crash`] with `shim_process` set and this message.
#[derive(Debug, Clone)]
pub struct ShimProcessFailed(pub String);

impl Call {
    /// The kernel-style spelling: `dma_buf_pin(att0)`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = match self {
            Call::DmaBufExport { buf } => write!(s, "dma_buf_export({buf})"),
            Call::DmaBufAttach { buf, att } => write!(s, "dma_buf_attach({buf}) -> {att}"),
            Call::DmaBufDynamicAttach {
                buf,
                att,
                allow_peer2peer,
                invalidate_mappings,
            } => write!(
                s,
                "dma_buf_dynamic_attach({buf}, {{ allow_peer2peer: {allow_peer2peer}, invalidate_mappings: {} }}) -> {att}",
                if *invalidate_mappings { "set" } else { "NULL" }
            ),
            Call::DmaBufDetach {
                buf,
                att,
                pins,
                mappings,
            } => {
                write!(
                    s,
                    "dma_buf_detach({buf}, {att}) [pins={pins} mappings={mappings}]"
                )
            }
            Call::DmaBufPin { att } => write!(s, "dma_buf_pin({att})"),
            Call::DmaBufUnpin { att } => write!(s, "dma_buf_unpin({att})"),
            Call::DmaBufMapAttachment { att } => write!(s, "dma_buf_map_attachment({att})"),
            Call::DmaBufUnmapAttachment { att, sgt } => {
                write!(s, "dma_buf_unmap_attachment({att}, {sgt})")
            }
            Call::DmaBufMapAttachmentUnlocked { att } => {
                write!(s, "dma_buf_map_attachment_unlocked({att})")
            }
            Call::DmaBufUnmapAttachmentUnlocked { att, sgt } => {
                write!(s, "dma_buf_unmap_attachment_unlocked({att}, {sgt})")
            }
            Call::DmaBufInvalidateMappings { buf } => {
                write!(s, "dma_buf_invalidate_mappings({buf})")
            }
            Call::DmaBufAttachRevocable { att } => write!(s, "dma_buf_attach_revocable({att})"),
            Call::DmaBufVmap { buf } => write!(s, "dma_buf_vmap({buf})"),
            Call::DmaBufVunmap { buf } => write!(s, "dma_buf_vunmap({buf})"),
            Call::DmaBufMmap { buf } => write!(s, "dma_buf_mmap({buf})"),
            Call::DmaBufPut {
                buf,
                attachments,
                vmaps,
            } => {
                write!(
                    s,
                    "dma_buf_put({buf}) [attachments={attachments} vmaps={vmaps}]"
                )
            }
            Call::DmaResvLock { buf } => write!(s, "dma_resv_lock({buf}.resv)"),
            Call::DmaResvUnlock { buf } => write!(s, "dma_resv_unlock({buf}.resv)"),
            Call::DmaResvAddFence { buf, fence, usage } => {
                write!(s, "dma_resv_add_fence({buf}.resv, {fence}, {usage})")
            }
            Call::DmaResvWaitTimeout {
                buf,
                usage,
                intr,
                timeout,
            } => {
                write!(
                    s,
                    "dma_resv_wait_timeout({buf}.resv, {usage}, intr={intr}, {timeout})"
                )
            }
            Call::DmaFenceSignal { fence } => write!(s, "dma_fence_signal({fence})"),
            Call::WaitForUnmap { buf } => write!(s, "wait_for_unmap({buf})"),
            Call::VfioPciDmaBufIommufdMap { att } => {
                write!(s, "vfio_pci_dma_buf_iommufd_map({att})")
            }
            Call::IommuUnmap { att } => write!(s, "iommu_unmap({att})"),
            Call::OpsAttach { att } => write!(s, "ops.attach({att})"),
            Call::OpsDetach { att } => write!(s, "ops.detach({att})"),
            Call::OpsPin { att } => write!(s, "ops.pin({att})"),
            Call::OpsUnpin { att } => write!(s, "ops.unpin({att})"),
            Call::OpsMapDmaBuf { att } => write!(s, "ops.map_dma_buf({att})"),
            Call::OpsUnmapDmaBuf { att, sgt } => write!(s, "ops.unmap_dma_buf({att}, {sgt})"),
            Call::OpsVmap { buf } => write!(s, "ops.vmap({buf})"),
            Call::OpsVunmap { buf } => write!(s, "ops.vunmap({buf})"),
            Call::OpsMmap { buf } => write!(s, "ops.mmap({buf})"),
            Call::OpsRelease { buf } => write!(s, "ops.release({buf})"),
            Call::InvalidateMappings { att } => {
                write!(s, "importer_ops.invalidate_mappings({att})")
            }
            Call::Worker { att } => write!(s, "worker({att})"),
            Call::DeviceSubmit {
                att,
                job,
                sgt,
                write,
                fence,
            } => write!(
                s,
                "submit({job}: {} via {sgt}, {att}) -> {fence}",
                if *write { "write" } else { "read" }
            ),
            Call::DmaAccess {
                sgt, write, job, ..
            } => write!(
                s,
                "dma_{}({}){}",
                if *write { "write" } else { "read" },
                sgt.map(|s| s.to_string())
                    .unwrap_or_else(|| "no mapping".into()),
                job.map(|j| format!(" [{j}]")).unwrap_or_default()
            ),
            Call::ReclaimMemory { buf } => write!(s, "reclaim_memory({buf})"),
            Call::Warn { what } => write!(s, "WARN: {what}"),
        };
        s
    }

    /// The kernel function or op name alone (`dma_buf_pin`, `ops.map_dma_buf`).
    pub fn name(&self) -> &'static str {
        self.call_name().as_str()
    }

    /// The name checks refer to this call by.
    pub fn call_name(&self) -> CallName {
        match self {
            Call::DmaBufExport { .. } => CallName::DmaBufExport,
            Call::DmaBufAttach { .. } => CallName::DmaBufAttach,
            Call::DmaBufDynamicAttach { .. } => CallName::DmaBufDynamicAttach,
            Call::DmaBufDetach { .. } => CallName::DmaBufDetach,
            Call::DmaBufPin { .. } => CallName::DmaBufPin,
            Call::DmaBufUnpin { .. } => CallName::DmaBufUnpin,
            Call::DmaBufMapAttachment { .. } => CallName::DmaBufMapAttachment,
            Call::DmaBufUnmapAttachment { .. } => CallName::DmaBufUnmapAttachment,
            Call::DmaBufMapAttachmentUnlocked { .. } => CallName::DmaBufMapAttachmentUnlocked,
            Call::DmaBufUnmapAttachmentUnlocked { .. } => CallName::DmaBufUnmapAttachmentUnlocked,
            Call::DmaBufInvalidateMappings { .. } => CallName::DmaBufInvalidateMappings,
            Call::DmaBufAttachRevocable { .. } => CallName::DmaBufAttachRevocable,
            Call::DmaBufVmap { .. } => CallName::DmaBufVmap,
            Call::DmaBufVunmap { .. } => CallName::DmaBufVunmap,
            Call::DmaBufMmap { .. } => CallName::DmaBufMmap,
            Call::DmaBufPut { .. } => CallName::DmaBufPut,
            Call::DmaResvLock { .. } => CallName::DmaResvLock,
            Call::DmaResvUnlock { .. } => CallName::DmaResvUnlock,
            Call::DmaResvAddFence { .. } => CallName::DmaResvAddFence,
            Call::DmaResvWaitTimeout { .. } => CallName::DmaResvWaitTimeout,
            Call::DmaFenceSignal { .. } => CallName::DmaFenceSignal,
            Call::WaitForUnmap { .. } => CallName::WaitForUnmap,
            Call::VfioPciDmaBufIommufdMap { .. } => CallName::VfioPciDmaBufIommufdMap,
            Call::IommuUnmap { .. } => CallName::IommuUnmap,
            Call::OpsAttach { .. } => CallName::OpsAttach,
            Call::OpsDetach { .. } => CallName::OpsDetach,
            Call::OpsPin { .. } => CallName::OpsPin,
            Call::OpsUnpin { .. } => CallName::OpsUnpin,
            Call::OpsMapDmaBuf { .. } => CallName::OpsMapDmaBuf,
            Call::OpsUnmapDmaBuf { .. } => CallName::OpsUnmapDmaBuf,
            Call::OpsVmap { .. } => CallName::OpsVmap,
            Call::OpsVunmap { .. } => CallName::OpsVunmap,
            Call::OpsMmap { .. } => CallName::OpsMmap,
            Call::OpsRelease { .. } => CallName::OpsRelease,
            Call::InvalidateMappings { .. } => CallName::InvalidateMappings,
            Call::Worker { .. } => CallName::Worker,
            Call::DeviceSubmit { .. } => CallName::DeviceSubmit,
            Call::ReclaimMemory { .. } => CallName::ReclaimMemory,
            Call::Warn { .. } => CallName::Warn,
            Call::DmaAccess { write: false, .. } => CallName::DmaRead,
            Call::DmaAccess { write: true, .. } => CallName::DmaWrite,
        }
    }
}

impl Event {
    /// The event as one line of a rendered trace, numbered `i`: indented by its depth, with
    /// the lock state and what the call returned.
    pub fn line(&self, i: usize) -> String {
        let indent = "  ".repeat(self.depth as usize + 1);
        let lock = if self.locked { " [locked]" } else { "" };
        let ret = match &self.ret {
            Some(Ret::Void) => String::new(),
            Some(r) => format!(" = {r}"),
            None => " = (did not return)".into(),
        };
        format!(
            "#{i:<3}{indent}{} -> {}: {}{lock}{ret}",
            self.from,
            self.to,
            self.call.render()
        )
    }
}

impl Trace {
    /// The steps in the order they ran, a step again each time it goes on after another
    /// ran inside it: the interleaving the trace shows.
    pub fn step_order(&self) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for e in &self.events {
            if out.last() != Some(&e.step) {
                out.push(e.step);
            }
        }
        out
    }

    /// The step where the scenario stopped early (a hang or a crash), if it did.
    pub fn stopped_at(&self) -> Option<usize> {
        self.hung_at.or(self.crashed.as_ref().map(|c| c.step))
    }

    /// Renders the trace as indented text, one call a line, grouped by step.
    ///
    /// `step_titles[i]` heads the calls of step `i`.
    pub fn render(&self, step_titles: &[String]) -> String {
        let mut out = String::new();
        let last = self
            .stopped_at()
            .unwrap_or(step_titles.len().saturating_sub(1));
        for (step, title) in step_titles.iter().enumerate().take(last + 1) {
            let _ = writeln!(out, "step {step}: {title}");
            let mut any = false;
            for (i, ev) in self
                .events
                .iter()
                .enumerate()
                .filter(|(_, e)| e.step == step)
            {
                any = true;
                let _ = writeln!(out, "{}", ev.line(i));
            }
            if !any {
                let _ = writeln!(out, "      (no call crosses a role boundary)");
            }
        }
        if let Some(step) = self.hung_at {
            let _ = writeln!(
                out,
                "scenario stopped: a call in step {step} never returns; later steps did not run"
            );
        }
        if let Some(c) = &self.crashed {
            let _ = writeln!(
                out,
                "scenario stopped: {} in step {}: {}; later steps did not run",
                if c.shim_process {
                    "the shim process failed"
                } else {
                    "a driver crashed (oops)"
                },
                c.step,
                c.message
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One call of every kind.
    fn every_call() -> Vec<Call> {
        let (buf, att, sgt) = (BufId(0), AttId(0), SgtId(0));
        let (fence, job) = (FenceId(0), JobId(0));
        vec![
            Call::DmaBufExport { buf },
            Call::DmaBufAttach { buf, att },
            Call::DmaBufDynamicAttach {
                buf,
                att,
                allow_peer2peer: true,
                invalidate_mappings: true,
            },
            Call::DmaBufDetach {
                buf,
                att,
                pins: 0,
                mappings: 0,
            },
            Call::DmaBufPin { att },
            Call::DmaBufUnpin { att },
            Call::DmaBufMapAttachment { att },
            Call::DmaBufUnmapAttachment { att, sgt },
            Call::DmaBufMapAttachmentUnlocked { att },
            Call::DmaBufUnmapAttachmentUnlocked { att, sgt },
            Call::DmaBufInvalidateMappings { buf },
            Call::DmaBufAttachRevocable { att },
            Call::DmaBufVmap { buf },
            Call::DmaBufVunmap { buf },
            Call::DmaBufMmap { buf },
            Call::DmaBufPut {
                buf,
                attachments: 0,
                vmaps: 0,
            },
            Call::DmaResvLock { buf },
            Call::DmaResvUnlock { buf },
            Call::DmaResvAddFence {
                buf,
                fence,
                usage: DmaResvUsage::Write,
            },
            Call::DmaResvWaitTimeout {
                buf,
                usage: DmaResvUsage::Bookkeep,
                intr: false,
                timeout: Timeout::Max,
            },
            Call::DmaFenceSignal { fence },
            Call::WaitForUnmap { buf },
            Call::VfioPciDmaBufIommufdMap { att },
            Call::IommuUnmap { att },
            Call::OpsAttach { att },
            Call::OpsDetach { att },
            Call::OpsPin { att },
            Call::OpsUnpin { att },
            Call::OpsMapDmaBuf { att },
            Call::OpsUnmapDmaBuf { att, sgt },
            Call::OpsVmap { buf },
            Call::OpsVunmap { buf },
            Call::OpsMmap { buf },
            Call::OpsRelease { buf },
            Call::InvalidateMappings { att },
            Call::Worker { att },
            Call::DeviceSubmit {
                att,
                job,
                sgt,
                write: true,
                fence,
            },
            Call::DmaAccess {
                att,
                sgt: Some(sgt),
                write: false,
                job: None,
            },
            Call::DmaAccess {
                att,
                sgt: None,
                write: true,
                job: Some(job),
            },
            Call::ReclaimMemory { buf },
            Call::Warn {
                what: "dma_resv_assert_held: not held".into(),
            },
        ]
    }

    /// A call's typed name is the name its rendering starts with, and every name is some
    /// call's: a check that names a call can find it in a trace.
    #[test]
    fn call_names_match_the_rendering() {
        let calls = every_call();
        for call in &calls {
            let rendered = call.render();
            let head = rendered.split(['(', ':']).next().unwrap_or_default().trim();
            assert_eq!(call.name(), head, "{rendered}");
        }
        for name in CallName::ALL {
            assert!(
                calls.iter().any(|c| c.call_name() == *name),
                "no call is named {name}"
            );
        }
        let mut spellings: Vec<&str> = CallName::ALL.iter().map(|n| n.as_str()).collect();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(
            spellings.len(),
            CallName::ALL.len(),
            "two names spelt alike"
        );
    }
}
