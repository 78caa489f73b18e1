//! `vfio-pci`: the VFIO PCI BAR exporter (`drivers/vfio/pci/vfio_pci_dmabuf.c`): revocable,
//! refuses importers that cannot be revoked or cannot reach a BAR, revokes and restores around
//! resets.

use std::rc::Rc;

use reference_impl::book::revocation::VfioExporter;
use reference_impl::{ExporterKind, Shim, ShimRole};

/// The shim.
pub const SHIM: Shim = Shim {
    name: "vfio-pci",
    description: "VFIO PCI BAR exporter: revokes pinned attachments around resets",
    role: ShimRole::Exporter {
        plays: &[ExporterKind::Vfio],
        make: |buf| Rc::new(VfioExporter::new(buf)),
    },
};
