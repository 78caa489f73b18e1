//! `rdma-umem`: RDMA's pinned umem importer (`drivers/infiniband/core/umem_dmabuf.c`): pins,
//! has no `invalidate_mappings` (NULL since Linux 7.1), so it is not revocable.

use std::rc::Rc;

use reference_impl::book::revocation::RdmaPinnedImporter;
use reference_impl::{ImporterKind, Shim, ShimRole};

/// The shim.
pub const SHIM: Shim = Shim {
    name: "rdma-umem",
    description: "RDMA pinned umem importer: pins, no invalidation callback",
    role: ShimRole::Importer {
        plays: &[ImporterKind::Rdma],
        make: |att| Rc::new(RdmaPinnedImporter::new(att)),
    },
};
