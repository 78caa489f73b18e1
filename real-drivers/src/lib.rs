//! The seed's own drivers, judged: the real VFIO PCI exporter and iommufd importer of
//! Linux 7.2, run under QEMU (TCG, an emulated Intel IOMMU, QEMU's `edu` device bound to
//! vfio-pci), traced by the kernel's own kprobes, and judged by the conformance suite's
//! cases. See `book/src/real-drivers.md`.

pub mod ftrace;
pub mod judge;
pub mod mapping;
pub mod setup;
