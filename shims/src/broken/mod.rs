//! Deliberately broken shims: each is an in-tree shim with one concrete, realistic bug (from
//! the seed thread and the fixes that followed it), and names the rule the bug breaks. The
//! test suite proves the conformance suite rejects each of them for that rule.

/// `broken!(CONST, "broken-name", role, "the bug", "rule.it.breaks")`: a broken shim whose
/// description is its bug.
macro_rules! broken {
    ($const:ident, $name:literal, $role:expr, $bug:literal, $breaks:literal) => {
        pub(super) const $const: super::Broken = super::Broken {
            shim: reference_impl::Shim {
                name: $name,
                description: $bug,
                role: $role,
            },
            bug: $bug,
            breaks: $breaks,
        };
    };
}

mod core;
mod gpu;
mod iommufd;
mod scanout;
mod vfio;

use reference_impl::Shim;

/// A broken shim and what is wrong with it.
#[derive(Clone, Copy)]
pub struct Broken {
    /// The shim (named `broken-...`).
    pub shim: Shim,
    /// The bug, in one sentence.
    pub bug: &'static str,
    /// The rule the bug breaks: the suite must report this rule violated.
    pub breaks: &'static str,
}

/// Every broken shim.
pub fn all() -> Vec<Broken> {
    vec![
        vfio::NO_BOOKKEEP_WAIT,
        vfio::NO_UNMAP_WAIT,
        vfio::MAP_WHILE_REVOKED,
        vfio::CHECK_IN_PIN,
        iommufd::NEVER_UNPINS,
        iommufd::WRITES_AFTER_INVALIDATE,
        iommufd::NEVER_UNMAPS,
        iommufd::UNPIN_UNLOCKED,
        vfio::RESTORE_WITHOUT_NOTIFY,
        vfio::ACCEPTS_NON_REVOCABLE,
        vfio::ATTACH_WHILE_REVOKED,
        vfio::CLEANUP_REVOKES_AGAIN,
        vfio::IGNORES_PEER2PEER,
        vfio::INVALIDATES_UNLOCKED,
        gpu::RELOCKS_IN_CALLBACK,
        gpu::NO_REMAP,
        gpu::NO_KERNEL_WAIT,
        gpu::NO_FENCE,
        gpu::WAIT_POSITIVE_IS_ERROR,
        gpu::POLL_ZERO_IS_SUCCESS,
        gpu::FREES_BEFORE_DETACH,
        gpu::INIT_AFTER_ATTACH,
        gpu::MAP_UNLOCKED,
        scanout::MAPS_WITHOUT_LOCK,
        scanout::RDMA_KEEPS_PIN_ON_ERROR,
        gpu::BOOKKEEP_FOR_WRITES,
        gpu::NEVER_RETRIES,
        gpu::MOVES_PINNED,
        gpu::NO_WAIT_BEFORE_REUSE,
        gpu::CPU_ACCESS_AFTER_UNPLUG,
        core::CALLBACK_UNLOCKED,
        core::CALLS_NULL_CALLBACKS,
        core::NO_PIN_ON_MAP,
        core::NO_KERNEL_WAIT,
        core::LINKS_BEFORE_OPS_ATTACH,
        core::DETACH_KEEPS_LINK,
        core::REVOCABLE_IGNORES_CALLBACK,
        core::OPS_ATTACH_LOCKED,
        core::MMAP_LOCKED,
        core::RELEASE_LOCKED,
        core::PINS_DYNAMIC_ON_MAP,
        core::SKIPS_PINNED,
        core::CACHES_MAPPINGS,
        core::NO_PEER2PEER,
        core::SWALLOWS_ATTACH_ERROR,
        core::PIN_WITHOUT_OP_FAILS,
        core::NO_UNPIN_ON_MAP_ERROR,
        core::DETACH_UNPINS,
        core::RELEASES_TWICE,
    ]
}
