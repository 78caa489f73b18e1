//! The kernel API drivers call, defined once.
//!
//! [`kernel_api!`](crate::kernel_api) holds the list of every kernel function a driver may
//! call: its name, arguments, return type, documentation, its C prototype and its wire
//! message. Everything else is generated from that list or checked against it:
//!
//! - here: the driver-facing trait [`KernelApi`] and its implementation on the model's
//!   [`Kernel`]; the core role [`DmaBufCore`] (the `core` group) and its implementation by the
//!   [`ReferenceCore`], whose methods are the book's code; the list as data ([`KERNEL_API`]);
//! - in `shim-protocol`: the wire message `KernelCall`, the harness's dispatch of a call
//!   (`execute`), the objects a call must name (`unknown_object`), and the typed client a
//!   Rust shim in another process calls (`Typed`);
//! - checked by tests: the C header's declarations (`shims-c/c/dma-buf-shim.h`, regenerated
//!   from [`KERNEL_API`] and compared), the book's table of kernel calls, and the trace's
//!   [`CallName`](crate::CallName) of every call the trace records.
//!
//! Adding a kernel call is one entry in the list plus its model code (a `Kernel` method in the
//! file of its concern, or the book's `impl ReferenceCore` for a core entry point).
//!
//! The harness's plumbing (registering drivers, running steps, reading the trace) is not
//! part of this API: it is [`Harness`](crate::Harness).

use crate::{AccessOutcome, AttId, Attachment, BufId, DmaResvUsage, Errno, FenceId, SgtId};
use crate::{Kernel, ReferenceCore, Timeout};

/// The list of the kernel API: calls `$then! { core { .. } machine { .. } }` with every entry.
///
/// Each entry reads
///
/// ```text
/// /// What it does (the Rust doc and the C comment).
/// #[c = "its C prototype;"]           (absent: the C library has no such function)
/// #[trace = "submit"]                 (absent: the trace names the call as the list does)
/// #[untraced = "why"]                 (absent: the trace records the call)
/// fn name(arg: Type, #[fresh] arg: Type => WireType) -> Ret = WireVariant;
/// ```
///
/// `#[fresh]` marks an argument that names an object the call creates (so the harness does
/// not require it to exist); `=> WireType` gives the argument's type on the wire where it is
/// not the Rust type. `core` holds the dma-buf core's entry points (a core shim can play
/// them); `machine` the reservation object, fences and the model's stand-ins for what a real
/// driver does with its own primitives.
#[macro_export]
macro_rules! kernel_api {
    ($then:ident) => {
        $then! {
            core {
                /// `dma_buf_export()`: the buffer exists already (the harness named it).
                #[c = "int dma_buf_export(struct dma_buf *dmabuf);"]
                fn dma_buf_export(buf: BufId) -> Result<(), Errno> = DmaBufExport;
                /// `dma_buf_attach()`: a static attachment.
                #[c = "struct dma_buf_attachment *dma_buf_attach(struct dma_buf *dmabuf, struct device *dev);"]
                fn dma_buf_attach(buf: BufId, #[fresh] att: AttId) -> Result<(), Errno> = DmaBufAttach;
                /// `dma_buf_dynamic_attach()` with the importer ops registered for `att`.
                #[c = "struct dma_buf_attachment *dma_buf_dynamic_attach(struct dma_buf *dmabuf, struct device *dev, const struct dma_buf_attach_ops *importer_ops, void *importer_priv);"]
                fn dma_buf_dynamic_attach(buf: BufId, #[fresh] att: AttId) -> Result<(), Errno> = DmaBufDynamicAttach;
                /// `dma_buf_detach()`.
                #[c = "void dma_buf_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach);"]
                fn dma_buf_detach(buf: BufId, att: AttId) -> () = DmaBufDetach;
                /// `dma_buf_attach_revocable()`.
                #[c = "bool dma_buf_attach_revocable(struct dma_buf_attachment *attach);"]
                fn dma_buf_attach_revocable(att: AttId) -> bool = DmaBufAttachRevocable;
                /// `dma_buf_pin()`.
                #[c = "int dma_buf_pin(struct dma_buf_attachment *attach);"]
                fn dma_buf_pin(att: AttId) -> Result<(), Errno> = DmaBufPin;
                /// `dma_buf_unpin()`.
                #[c = "void dma_buf_unpin(struct dma_buf_attachment *attach);"]
                fn dma_buf_unpin(att: AttId) -> () = DmaBufUnpin;
                /// `dma_buf_map_attachment()`.
                #[c = "struct sg_table *dma_buf_map_attachment(struct dma_buf_attachment *attach, enum dma_data_direction dir);"]
                fn dma_buf_map_attachment(att: AttId) -> Result<SgtId, Errno> = DmaBufMapAttachment;
                /// `dma_buf_map_attachment_unlocked()`.
                #[c = "struct sg_table *dma_buf_map_attachment_unlocked(struct dma_buf_attachment *attach, enum dma_data_direction dir);"]
                fn dma_buf_map_attachment_unlocked(att: AttId) -> Result<SgtId, Errno> = DmaBufMapAttachmentUnlocked;
                /// `dma_buf_unmap_attachment()`.
                #[c = "void dma_buf_unmap_attachment(struct dma_buf_attachment *attach, struct sg_table *sgt, enum dma_data_direction dir);"]
                fn dma_buf_unmap_attachment(att: AttId, sgt: SgtId) -> () = DmaBufUnmapAttachment;
                /// `dma_buf_unmap_attachment_unlocked()`.
                #[c = "void dma_buf_unmap_attachment_unlocked(struct dma_buf_attachment *attach, struct sg_table *sgt, enum dma_data_direction dir);"]
                fn dma_buf_unmap_attachment_unlocked(att: AttId, sgt: SgtId) -> () = DmaBufUnmapAttachmentUnlocked;
                /// `dma_buf_invalidate_mappings()`.
                #[c = "void dma_buf_invalidate_mappings(struct dma_buf *dmabuf);"]
                fn dma_buf_invalidate_mappings(buf: BufId) -> () = DmaBufInvalidateMappings;
                /// `dma_buf_vmap()`.
                #[c = "int dma_buf_vmap(struct dma_buf *dmabuf, struct iosys_map *map);"]
                fn dma_buf_vmap(buf: BufId) -> Result<(), Errno> = DmaBufVmap;
                /// `dma_buf_vunmap()`.
                #[c = "void dma_buf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map);"]
                fn dma_buf_vunmap(buf: BufId) -> () = DmaBufVunmap;
                /// `dma_buf_mmap()`.
                #[c = "int dma_buf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma, unsigned long pgoff);"]
                fn dma_buf_mmap(buf: BufId) -> Result<(), Errno> = DmaBufMmap;
                /// `dma_buf_put()` of the last reference.
                #[c = "void dma_buf_put(struct dma_buf *dmabuf);"]
                fn dma_buf_put(buf: BufId) -> () = DmaBufPut;
            }
            machine {
                /// `dma_resv_lock()` (in C, `ctx` must be NULL).
                #[c = "int dma_resv_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx);"]
                fn dma_resv_lock(buf: BufId) -> () = DmaResvLock;
                /// `dma_resv_unlock()`.
                #[c = "void dma_resv_unlock(struct dma_resv *obj);"]
                fn dma_resv_unlock(buf: BufId) -> () = DmaResvUnlock;
                /// `dma_resv_assert_held()`: a warning if the lock is not held.
                #[c = "void dma_resv_assert_held(struct dma_resv *obj);"]
                #[untraced = "only its warning is recorded"]
                fn dma_resv_assert_held(buf: BufId) -> () = DmaResvAssertHeld;
                /// `dma_resv_is_locked()`.
                #[c = "bool dma_resv_is_locked(struct dma_resv *obj);"]
                #[untraced = "a query that changes nothing"]
                fn dma_resv_is_locked(buf: BufId) -> bool = DmaResvIsLocked;
                /// `dma_resv_add_fence()`.
                #[c = "void dma_resv_add_fence(struct dma_resv *obj, struct dma_fence *fence, enum dma_resv_usage usage);"]
                fn dma_resv_add_fence(buf: BufId, fence: FenceId, usage: DmaResvUsage) -> () = DmaResvAddFence;
                /// `dma_resv_wait_timeout()`: the time left, or `MAX_SCHEDULE_TIMEOUT`.
                #[c = "long dma_resv_wait_timeout(struct dma_resv *obj, enum dma_resv_usage usage, bool intr, unsigned long timeout);"]
                fn dma_resv_wait_timeout(buf: BufId, usage: DmaResvUsage, intr: bool, timeout: Timeout => WireTimeout) -> i64 = DmaResvWaitTimeout;
                /// A fence; if `completes` is false, nothing will ever signal it.
                #[c = "struct dma_fence *dma_fence_create(bool completes);"]
                #[untraced = "creating a fence is the driver's own business; its signal is traced"]
                fn dma_fence_create(completes: bool) -> FenceId = DmaFenceCreate;
                /// TTM's pipelined move (`ttm_bo_move_accel_cleanup()`): a copy fence that
                /// runs after every fence the buffer holds now, added as KERNEL; the old
                /// placement is freed when it signals. No CPU wait.
                #[c = "struct dma_fence *ttm_bo_move_accel_cleanup(struct dma_buf *dmabuf);"]
                #[untraced = "TTM's bookkeeping; the fence it adds, the reclaim and the signal are traced"]
                fn ttm_bo_move_accel_cleanup(buf: BufId) -> FenceId = TtmBoMoveAccelCleanup;
                /// The attachment as the core sees it (`struct dma_buf_attachment`).
                #[untraced = "reading a structure, not a call"]
                fn attachment(att: AttId) -> Attachment = DmaBufAttachment;
                /// A fresh mapping of the buffer's current memory for `att` (what
                /// `map_dma_buf` returns).
                #[c = "struct sg_table *new_sg_table(struct dma_buf_attachment *attach);"]
                #[untraced = "the driver's own allocation; the mapping shows in the op's return"]
                fn new_sg_table(att: AttId) -> SgtId = NewSgTable;
                /// Wait until no importer holds a mapping of the buffer (VFIO:
                /// `wait_for_completion(&priv->comp)`).
                #[c = "void wait_for_unmap(struct dma_buf *dmabuf);"]
                fn wait_for_unmap(buf: BufId) -> () = WaitForUnmap;
                /// `down_write(&vdev->memory_lock)`: VFIO's device memory lock, taken for
                /// write around a reset, a restore and the cleanup (one per exporter of
                /// `buf` in the model). Wanted by a step that runs inside the step holding
                /// it, that schedule cannot run.
                #[c = "void down_write(struct rw_semaphore *sem);"]
                #[untraced = "a lock of the exporter's own: what it serialises shows in the order of the traced calls"]
                fn down_write(buf: BufId) -> () = DownWrite;
                /// `up_write(&vdev->memory_lock)`.
                #[c = "void up_write(struct rw_semaphore *sem);"]
                #[untraced = "a lock of the exporter's own: what it serialises shows in the order of the traced calls"]
                fn up_write(buf: BufId) -> () = UpWrite;
                /// Reuse the buffer's old backing memory (reset the function behind a BAR,
                /// free a page...).
                #[c = "void reclaim_memory(struct dma_buf *dmabuf);"]
                fn reclaim_memory(buf: BufId) -> () = ReclaimMemory;
                /// VFIO's private interconnect to iommufd (`vfio_pci_dma_buf_iommufd_map()`),
                /// with the reservation lock held: the BAR's range (the model stands for it
                /// with a table it handed out), or `-ENODEV` while revoked. The exporter's
                /// unmap wait does not count it.
                #[c = "int vfio_pci_dma_buf_iommufd_map(struct dma_buf_attachment *attach, struct phys_vec *phys);"]
                fn vfio_pci_dma_buf_iommufd_map(att: AttId) -> Result<SgtId, Errno> = VfioPciDmaBufIommufdMap;
                /// The importer removes its IOMMU mapping of a private range and flushes the
                /// IOTLB (`iommu_unmap()`).
                #[c = "void iommu_unmap(struct dma_buf_attachment *attach, struct phys_vec *phys);"]
                fn iommu_unmap(att: AttId, sgt: SgtId) -> () = IommuUnmap;
                /// The importer's device reads or writes the buffer now, through `sgt` (or
                /// without a mapping).
                #[c = "enum device_access_outcome device_access(struct dma_buf_attachment *attach, struct sg_table *sgt, bool write);"]
                #[untraced = "the access itself is, as the device's `dma_read` or `dma_write`"]
                fn device_access(att: AttId, sgt: Option<SgtId>, write: bool) -> AccessOutcome = DeviceAccess;
                /// The importer queues device work; returns the fence that signals its
                /// completion.
                #[c = "struct dma_fence *device_submit(struct dma_buf_attachment *attach, struct sg_table *sgt, bool write);"]
                #[trace = "submit"]
                fn device_submit(att: AttId, sgt: SgtId, write: bool) -> FenceId = DeviceSubmit;
                /// A `WARN_ON` (in C, the `WARN_ON()` macro calls `shim_warn_on()`).
                #[c = "bool shim_warn_on(bool cond, const char *what);"]
                #[trace = "WARN"]
                fn warn(buf: BufId, what: &str => String) -> () = Warn;
            }
        }
    };
}

/// One kernel function of [`kernel_api!`](crate::kernel_api), as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFn {
    /// Its name, as a driver calls it (`dma_buf_pin`).
    pub name: &'static str,
    /// Whether it is an entry point of the dma-buf core (a core shim can play it).
    pub core: bool,
    /// Its documentation, one line per line of the doc comment.
    pub doc: &'static [&'static str],
    /// Its arguments' names.
    pub args: &'static [&'static str],
    /// Its C prototype in the shim library's header, if the library has it.
    pub c: Option<&'static str>,
    /// The name the trace gives it, where that is not [`KernelFn::name`].
    pub trace: Option<&'static str>,
    /// Why the trace does not record it, if it does not.
    pub untraced: Option<&'static str>,
}

macro_rules! model_side {
    (
        core { $(
            $(#[doc = $cdoc:literal])*
            $(#[c = $cc:literal])?
            $(#[trace = $ct:literal])?
            $(#[untraced = $cu:literal])?
            fn $cname:ident($($(#[$cfresh:ident])? $carg:ident: $cty:ty $(=> $cwire:ty)?),*) -> $cret:ty = $cvariant:ident;
        )* }
        machine { $(
            $(#[doc = $mdoc:literal])*
            $(#[c = $mc:literal])?
            $(#[trace = $mt:literal])?
            $(#[untraced = $mu:literal])?
            fn $mname:ident($($(#[$mfresh:ident])? $marg:ident: $mty:ty $(=> $mwire:ty)?),*) -> $mret:ty = $mvariant:ident;
        )* }
    ) => {
        /// The kernel functions a driver may call, named as in the kernel. The model's
        /// [`Kernel`] implements them; so does a shim process's typed client, which sends each
        /// call to the harness.
        pub trait KernelApi {
            $( $(#[doc = $cdoc])* fn $cname(&self, $($carg: $cty),*) -> $cret; )*
            $( $(#[doc = $mdoc])* fn $mname(&self, $($marg: $mty),*) -> $mret; )*
        }

        impl KernelApi for Kernel {
            $( fn $cname(&self, $($carg: $cty),*) -> $cret { Kernel::$cname(self, $($carg),*) } )*
            $( fn $mname(&self, $($marg: $mty),*) -> $mret { Kernel::$mname(self, $($marg),*) } )*
        }

        /// The dma-buf core's entry points, as a role a shim can play. The [`Kernel`]'s
        /// methods of the same names record each call and forward it to the core playing
        /// the role.
        pub trait DmaBufCore {
            $( $(#[doc = $cdoc])* fn $cname(&self, k: &Kernel, $($carg: $cty),*) -> $cret; )*

            /// Whether this is the model's own core, so that a panic in it is a bug of the
            /// suite rather than a driver's oops. A core under test answers false (the
            /// default).
            fn is_model(&self) -> bool {
                false
            }
        }

        impl DmaBufCore for ReferenceCore {
            $( fn $cname(&self, k: &Kernel, $($carg: $cty),*) -> $cret {
                ReferenceCore::$cname(self, k, $($carg),*)
            } )*

            fn is_model(&self) -> bool {
                true
            }
        }

        /// Every function of [`KernelApi`], in the order of the list.
        pub const KERNEL_API: &[KernelFn] = &[
            $( KernelFn {
                name: stringify!($cname),
                core: true,
                doc: &[$($cdoc),*],
                args: &[$(stringify!($carg)),*],
                c: first(&[$($cc)?]),
                trace: first(&[$($ct)?]),
                untraced: first(&[$($cu)?]),
            }, )*
            $( KernelFn {
                name: stringify!($mname),
                core: false,
                doc: &[$($mdoc),*],
                args: &[$(stringify!($marg)),*],
                c: first(&[$($mc)?]),
                trace: first(&[$($mt)?]),
                untraced: first(&[$($mu)?]),
            }, )*
        ];
    };
}

const fn first(v: &[&'static str]) -> Option<&'static str> {
    match v {
        [one, ..] => Some(*one),
        [] => None,
    }
}

crate::kernel_api!(model_side);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallName;

    /// Every call the list says the trace records has the trace's name, and no other does,
    /// so a check can name exactly the calls a trace can show.
    #[test]
    fn the_trace_names_every_traced_kernel_call() {
        for f in KERNEL_API {
            let as_traced = f.trace.unwrap_or(f.name);
            let named = CallName::ALL.iter().any(|c| c.as_str() == as_traced);
            match f.untraced {
                None => assert!(named, "{} is traced but has no CallName", f.name),
                Some(why) => assert!(!named, "{} is said untraced ({why}) but named", f.name),
            }
        }
    }

    /// The list holds each name once, with a C prototype of that name where it has one.
    #[test]
    fn names_are_unique_and_prototypes_declare_them() {
        let mut names: Vec<&str> = KERNEL_API.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KERNEL_API.len());
        for f in KERNEL_API {
            if let Some(c) = f.c {
                assert!(c.ends_with(");"), "{c}");
                let wants = if f.name == "warn" {
                    "shim_warn_on"
                } else {
                    f.name
                };
                assert!(
                    c.contains(&format!("{wants}(")),
                    "{c} does not declare {}",
                    f.name
                );
            }
        }
        assert_eq!(KERNEL_API.iter().filter(|f| f.core).count(), 16);
    }
}
