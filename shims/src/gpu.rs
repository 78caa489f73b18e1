//! `gpu-exporter` and `gpu-importer`: a GPU driver in the amdgpu/xe style, on both sides.
//! As exporter it moves unpinned buffers and places pinned ones by peer-to-peer capability; as
//! importer it is dynamic, fences its work and remaps after every invalidation.

use std::rc::Rc;

use reference_impl::book::invalidation::{GpuExporter, GpuImporter};
use reference_impl::{ExporterKind, ImporterKind, Shim, ShimRole};

/// The exporter side.
pub const EXPORTER: Shim = Shim {
    name: "gpu-exporter",
    description: "GPU exporter (amdgpu/xe style): moves buffers, pins by peer2peer",
    role: ShimRole::Exporter {
        plays: &[ExporterKind::Gpu],
        make: |buf| Rc::new(GpuExporter::new(buf)),
    },
};

/// The importer side.
pub const IMPORTER: Shim = Shim {
    name: "gpu-importer",
    description: "GPU dynamic importer (amdgpu/xe style): remaps after invalidation, fences work",
    role: ShimRole::Importer {
        plays: &[ImporterKind::Dynamic],
        make: |att| Rc::new(GpuImporter::new(att)),
    },
};
