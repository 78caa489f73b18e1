//! Scenarios as plain data: steps addressed to roles. Any backend that can run these steps
//! and report a [`Trace`](crate::Trace) can be judged by the suite's checks.

use std::fmt;

use crate::{Actor, AttId, BufId, DmaResvUsage};

/// Which reference exporter plays the exporter role.
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
#[serde(rename_all = "snake_case")]
pub enum ExporterKind {
    /// A VFIO PCI BAR exporter: never moves, revokes around resets, requires revocable and
    /// peer-to-peer importers.
    Vfio,
    /// A GPU exporter in the amdgpu/xe style: moves unpinned buffers, places pinned ones by
    /// peer-to-peer capability, never revokes.
    Gpu,
}

/// Which reference importer plays an importer role.
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
#[serde(rename_all = "snake_case")]
pub enum ImporterKind {
    /// A legacy static importer: `dma_buf_attach()`, no importer ops, never notified.
    Static,
    /// A GPU dynamic importer: `invalidate_mappings` set, never pins, remaps after invalidation.
    Dynamic,
    /// An iommufd-style pinned importer: pins, has `invalidate_mappings`, treats a revoke as
    /// permanent.
    Iommufd,
    /// An RDMA-style pinned importer without `invalidate_mappings` (NULL): not revocable.
    Rdma,
}

/// One step of a scenario.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "op")]
#[allow(missing_docs)] // Fields are named after the kernel functions' arguments.
pub enum Step {
    /// The exporter creates and exports `buf`.
    Export { buf: BufId, exporter: ExporterKind },
    /// An importer creates its object and attaches `att` to `buf`.
    Attach {
        att: AttId,
        buf: BufId,
        importer: ImporterKind,
    },
    /// An importer attaches while the exporter evicts the buffer: the eviction's invalidation
    /// reaches the new attachment as soon as it is linked, before the attach call returns.
    AttachDuringEviction {
        att: AttId,
        buf: BufId,
        importer: ImporterKind,
    },
    /// The importer obtains a mapping its device can use.
    Map { att: AttId },
    /// The importer's device accesses the buffer now.
    Access { att: AttId, write: bool },
    /// The importer queues device work on the buffer, fenced in the reservation object.
    Submit { att: AttId, write: bool },
    /// The importer gives its mapping back.
    Unmap { att: AttId },
    /// The importer detaches.
    Detach { att: AttId },
    /// The importer maps the buffer into kernel address space (`dma_buf_vmap()`) and unmaps
    /// it again (`dma_buf_vunmap()`) in the same step.
    Vmap { att: AttId },
    /// The importer maps the buffer into kernel address space (`dma_buf_vmap()`) and keeps
    /// the vmap across the steps that follow, until its `Vunmap` (or its detach).
    VmapHold { att: AttId },
    /// The importer gives back a vmap it holds (`dma_buf_vunmap()`).
    Vunmap { att: AttId },
    /// User space maps the buffer (`dma_buf_mmap()`).
    Mmap { buf: BufId },
    /// The exporter revokes the buffer.
    Revoke { buf: BufId },
    /// The exporter restores a revoked buffer.
    Restore { buf: BufId },
    /// The exporter moves the buffer's backing memory.
    Move { buf: BufId },
    /// The exporter reuses the buffer's old backing memory.
    Reclaim { buf: BufId },
    /// The exporter adds a fence of its own (a clear or a copy); `stuck` fences never signal.
    ExporterFence {
        buf: BufId,
        usage: DmaResvUsage,
        stuck: bool,
    },
    /// The last reference to the buffer is dropped.
    Put { buf: BufId },
    /// Every device finishes its queued work.
    Complete,
    /// A signal becomes pending for the process that runs exporter `buf`'s next step (the
    /// caller of a reset is being killed): until that step returns to user space, every
    /// interruptible wait it makes on fences that have not signalled returns `-ERESTARTSYS`.
    Signal { buf: BufId },
}

impl Step {
    /// The role the step is addressed to.
    pub fn actor(&self) -> Actor {
        match *self {
            Step::Export { buf, .. }
            | Step::Revoke { buf }
            | Step::Restore { buf }
            | Step::Move { buf }
            | Step::Reclaim { buf }
            | Step::ExporterFence { buf, .. }
            | Step::Put { buf } => Actor::Exporter(buf),
            Step::Attach { att, .. }
            | Step::AttachDuringEviction { att, .. }
            | Step::Map { att }
            | Step::Access { att, .. }
            | Step::Submit { att, .. }
            | Step::Unmap { att }
            | Step::Detach { att }
            | Step::Vmap { att }
            | Step::VmapHold { att }
            | Step::Vunmap { att } => Actor::Importer(att),
            Step::Mmap { .. } | Step::Complete | Step::Signal { .. } => Actor::Harness,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = |w: bool| if w { "write" } else { "read" };
        match self {
            Step::Export { buf, exporter } => write!(f, "exporter.{buf} ({exporter:?}): export"),
            Step::Attach { att, buf, importer } => {
                write!(f, "importer.{att} ({importer:?}): attach to {buf}")
            }
            Step::AttachDuringEviction { att, buf, importer } => {
                write!(
                    f,
                    "importer.{att} ({importer:?}): attach to {buf} while exporter.{buf} evicts it"
                )
            }
            Step::Map { att } => write!(f, "importer.{att}: map"),
            Step::Access { att, write } => write!(f, "importer.{att}: device {} now", rw(*write)),
            Step::Submit { att, write } => {
                write!(f, "importer.{att}: submit device {}", rw(*write))
            }
            Step::Unmap { att } => write!(f, "importer.{att}: unmap"),
            Step::Detach { att } => write!(f, "importer.{att}: detach"),
            Step::Vmap { att } => write!(f, "importer.{att}: vmap"),
            Step::VmapHold { att } => write!(f, "importer.{att}: vmap and hold it"),
            Step::Vunmap { att } => write!(f, "importer.{att}: vunmap"),
            Step::Mmap { buf } => write!(f, "user space: mmap {buf}"),
            Step::Revoke { buf } => write!(f, "exporter.{buf}: revoke"),
            Step::Restore { buf } => write!(f, "exporter.{buf}: restore"),
            Step::Move { buf } => write!(f, "exporter.{buf}: move"),
            Step::Reclaim { buf } => write!(f, "exporter.{buf}: reclaim memory"),
            Step::ExporterFence { buf, usage, stuck } => write!(
                f,
                "exporter.{buf}: add own {usage} fence{}",
                if *stuck { " that never signals" } else { "" }
            ),
            Step::Put { buf } => write!(f, "exporter.{buf}: put last reference"),
            Step::Complete => write!(f, "devices: complete queued work"),
            Step::Signal { buf } => {
                write!(
                    f,
                    "user space: signal the caller of exporter.{buf}'s next step"
                )
            }
        }
    }
}

/// A step's position in its scenario: what checks refer to a step by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepRef(pub usize);
