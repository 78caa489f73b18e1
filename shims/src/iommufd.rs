//! `iommufd`: the iommufd importer (`drivers/iommu/iommufd/pages.c`): pins, revocable, cannot
//! take I/O page faults, treats a revoke as permanent.

use std::rc::Rc;

use reference_impl::book::revocation::IommufdImporter;
use reference_impl::{ImporterKind, Shim, ShimRole};

/// The shim.
pub const SHIM: Shim = Shim {
    name: "iommufd",
    description: "iommufd importer: pins, revocable, cannot fault",
    role: ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| Rc::new(IommufdImporter::new(att)),
    },
};
