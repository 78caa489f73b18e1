//! Every shim the suite knows, in one list: the in-tree Rust shims (good and deliberately
//! broken), which run in the runner's process, and the shims that run as processes (the C
//! ones). Adding a shim is one entry here; `revoke-conformance shims`, `run --shim NAME`, a
//! run that names no shim, `mutants` and `serve` all read this list.

use std::path::Path;

use reference_impl::Shim;
use shim_protocol::serve::{Factory, Identity};

use crate::broken::{self, Broken};
use crate::{conforming, gpu, iommufd, rdma_umem, reference_core, rust_vfio, scanout, vfio_pci};

/// How a registered shim runs.
#[derive(Clone, Copy)]
pub enum Runs {
    /// In the runner's process.
    InProcess {
        /// The shim.
        shim: Shim,
        /// How `revoke-conformance serve` puts it on the wire, if it can.
        serve: Option<fn() -> (Identity, Factory)>,
    },
    /// As a process that speaks the wire protocol on its standard input and output.
    Process {
        /// The executable to start.
        command: fn() -> &'static Path,
    },
}

/// The bug a deliberately broken shim reproduces.
#[derive(Clone, Copy, Debug)]
pub struct Bug {
    /// The bug, in one sentence.
    pub bug: &'static str,
    /// The rule the bug breaks: the suite must report this rule violated.
    pub breaks: &'static str,
}

/// One registered shim.
#[derive(Clone, Copy)]
pub struct Registered {
    /// Its name (`vfio-pci`, `c-vfio-exporter`).
    pub name: &'static str,
    /// How it runs.
    pub runs: Runs,
    /// Set for a deliberately broken shim: a run that names no shim leaves it out, and the
    /// suite must catch its bug.
    pub broken: Option<Bug>,
}

fn in_process(shim: Shim) -> Registered {
    Registered {
        name: shim.name,
        runs: Runs::InProcess { shim, serve: None },
        broken: None,
    }
}

fn broken(b: Broken) -> Registered {
    Registered {
        name: b.shim.name,
        runs: Runs::InProcess {
            shim: b.shim,
            serve: None,
        },
        broken: Some(Bug {
            bug: b.bug,
            breaks: b.breaks,
        }),
    }
}

fn serve_rust_vfio() -> (Identity, Factory) {
    (
        rust_vfio::identity(),
        Factory::Exporter(Box::new(|buf| {
            std::rc::Rc::new(rust_vfio::RustVfio::new(buf))
        })),
    )
}

/// Every shim: good in-process shims (exporters, importers, the core), the broken ones,
/// then the shims that run as processes.
pub fn all() -> Vec<Registered> {
    let mut all = vec![
        in_process(vfio_pci::SHIM),
        Registered {
            name: rust_vfio::SHIM.name,
            runs: Runs::InProcess {
                shim: rust_vfio::SHIM,
                serve: Some(serve_rust_vfio),
            },
            broken: None,
        },
        in_process(conforming::VFIO_WITH_MMAP),
        in_process(conforming::VFIO_WAIT_LOOP),
        in_process(conforming::VFIO_INTERRUPTIBLE_WAIT),
        in_process(gpu::EXPORTER),
        in_process(iommufd::SHIM),
        in_process(rdma_umem::SHIM),
        in_process(gpu::IMPORTER),
        in_process(conforming::FENCES_IN_CALLBACK),
        in_process(conforming::DEFERRED_UNMAP),
        in_process(scanout::SHIM),
        in_process(reference_core::SHIM),
    ];
    all.extend(
        [
            broken::vfio::NO_BOOKKEEP_WAIT,
            broken::vfio::NO_UNMAP_WAIT,
            broken::vfio::MAP_WHILE_REVOKED,
            broken::vfio::CHECK_IN_PIN,
            broken::iommufd::NEVER_UNPINS,
            broken::iommufd::WRITES_AFTER_INVALIDATE,
            broken::iommufd::NEVER_UNMAPS,
            broken::iommufd::DEFERS_IOMMU_UNMAP,
            broken::iommufd::UNPIN_UNLOCKED,
            broken::iommufd::RESV_INSIDE_PAGES_MUTEX,
            broken::vfio::RESTORE_WITHOUT_NOTIFY,
            broken::vfio::ACCEPTS_NON_REVOCABLE,
            broken::vfio::ATTACH_WHILE_REVOKED,
            broken::vfio::CLEANUP_REVOKES_AGAIN,
            broken::vfio::IGNORES_PEER2PEER,
            broken::vfio::INVALIDATES_UNLOCKED,
            broken::vfio::GIVES_UP_AFTER_TIMEOUT,
            broken::vfio::IGNORES_INTERRUPTED_WAIT,
            broken::vfio::MARKS_AFTER_UNLOCK,
            broken::vfio::REARMS_ON_UNREVOKE,
            broken::vfio::CLEANUP_WITHOUT_MEMORY_LOCK,
            broken::vfio::CLEANUP_RELOCKS_MEMORY_LOCK,
            broken::gpu::RELOCKS_IN_CALLBACK,
            broken::gpu::NO_REMAP,
            broken::gpu::NO_KERNEL_WAIT,
            broken::gpu::JOB_NO_KERNEL_WAIT,
            broken::gpu::NO_FENCE,
            broken::gpu::WAIT_POSITIVE_IS_ERROR,
            broken::gpu::POLL_ZERO_IS_SUCCESS,
            broken::gpu::FREES_BEFORE_DETACH,
            broken::gpu::INIT_AFTER_ATTACH,
            broken::gpu::MAP_UNLOCKED,
            broken::scanout::MAPS_WITHOUT_LOCK,
            broken::scanout::RDMA_KEEPS_PIN_ON_ERROR,
            broken::scanout::RDMA_MAPS_WITHOUT_PIN,
            broken::gpu::BOOKKEEP_FOR_WRITES,
            broken::gpu::NEVER_RETRIES,
            broken::gpu::MOVES_PINNED,
            broken::gpu::NO_WAIT_BEFORE_REUSE,
            broken::gpu::CPU_ACCESS_AFTER_UNPLUG,
            broken::gpu::FENCE_NEEDS_RESV_LOCK,
            broken::gpu::FENCE_UNLOCKED,
            broken::gpu::NEVER_UNMAPS,
            broken::gpu::REMAPS_IN_CALLBACK,
            broken::gpu::PIN_BEFORE_COPY,
            broken::gpu::MOVES_UNDER_VMAP,
            broken::gpu::VMAP_UNLOCKED,
            broken::gpu::SUBMITS_AFTER_UNLOCK,
            broken::gpu::FREES_IN_DETACH,
            broken::gpu::WORKER_UNMAPS_CURRENT,
            broken::gpu::WORKER_FLUSHES_ITSELF,
            broken::gpu::FLUSHES_BEFORE_UNMAP,
            broken::gpu::KEEPS_LOCK_ON_ERROR,
            broken::core::CALLBACK_UNLOCKED,
            broken::core::CALLS_NULL_CALLBACKS,
            broken::core::NO_PIN_ON_MAP,
            broken::core::NO_KERNEL_WAIT,
            broken::core::LINKS_BEFORE_OPS_ATTACH,
            broken::core::DETACH_KEEPS_LINK,
            broken::core::REVOCABLE_IGNORES_CALLBACK,
            broken::core::OPS_ATTACH_LOCKED,
            broken::core::MMAP_LOCKED,
            broken::core::RELEASE_LOCKED,
            broken::core::PINS_DYNAMIC_ON_MAP,
            broken::core::SKIPS_PINNED,
            broken::core::CACHES_MAPPINGS,
            broken::core::NO_PEER2PEER,
            broken::core::SWALLOWS_ATTACH_ERROR,
            broken::core::PIN_WITHOUT_OP_FAILS,
            broken::core::NO_UNPIN_ON_MAP_ERROR,
            broken::core::DETACH_UNPINS,
            broken::core::RELEASES_TWICE,
        ]
        .into_iter()
        .map(broken),
    );
    all.extend([
        Registered {
            name: "c-vfio-exporter",
            runs: Runs::Process {
                command: shims_c::vfio_exporter,
            },
            broken: None,
        },
        Registered {
            name: "c-example-importer",
            runs: Runs::Process {
                command: shims_c::example_importer,
            },
            broken: None,
        },
        Registered {
            name: "c-vfio-exporter-no-wait",
            runs: Runs::Process {
                command: shims_c::vfio_exporter_no_wait,
            },
            broken: Some(Bug {
                bug: "revoke invalidates, then waits neither for the fences nor for the unmaps",
                breaks: "revoke.exporter.wait-bookkeep",
            }),
        },
    ]);
    all
}

/// The registered shim with this name.
pub fn by_name(name: &str) -> Option<Registered> {
    all().into_iter().find(|r| r.name == name)
}

/// What a run that names no shim runs: every shim that is not deliberately broken.
pub fn default_run() -> Vec<Registered> {
    all().into_iter().filter(|r| r.broken.is_none()).collect()
}

/// The Rust shim `revoke-conformance serve` puts on the wire under this name.
pub fn served(name: &str) -> Option<(Identity, Factory)> {
    all().into_iter().find_map(|r| match r.runs {
        Runs::InProcess {
            serve: Some(serve), ..
        } if r.name == name => Some(serve()),
        _ => None,
    })
}

/// The names of the shims `serve` knows.
pub fn served_names() -> Vec<&'static str> {
    all()
        .into_iter()
        .filter(|r| matches!(r.runs, Runs::InProcess { serve: Some(_), .. }))
        .map(|r| r.name)
        .collect()
}

/// The broken shims written for a race, with their case and the regression file that keeps
/// the minimal schedule that catches them (under `conformance/tests/scenarios/regressions/`,
/// without `.json`): each passes every case run in order.
pub const RACE_ONLY_BUGS: &[(&str, &str, &str)] = &[
    (
        "broken-vfio-marks-after-unlock",
        "revoke_races_a_map",
        "revoke-races-a-map-at-the-unlock",
    ),
    (
        "broken-vfio-rearms-on-unrevoke",
        "restore_races_an_attach",
        "restore-races-an-attach-before-the-rearm",
    ),
    (
        "broken-vfio-cleanup-without-memory-lock",
        "cleanup_races_a_revoke",
        "cleanup-races-a-revoke-at-its-lock",
    ),
    (
        "broken-gpu-submits-after-unlock",
        "revoke_races_a_submission",
        "revoke-races-a-submission-after-its-map",
    ),
    (
        "broken-gpu-frees-in-detach",
        "revoke_races_a_detach",
        "revoke-races-a-detach-after-its-unmap",
    ),
    (
        "broken-gpu-worker-unmaps-current",
        "worker_races_a_restore",
        "worker-races-a-restore-stopped-after-its-unmap",
    ),
    (
        "broken-gpu-flushes-before-unmap",
        "moves_while_the_unmap_worker_runs",
        "moves-while-the-unmap-worker-runs-before-the-detach-unmaps",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique, every broken shim says what it breaks, and the lists the rest of the
    /// suite reads are cuts of this one.
    #[test]
    fn one_list_of_unique_names() {
        let all = all();
        let mut names: Vec<&str> = all.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a name registered twice");
        for r in &all {
            if let Some(bug) = r.broken {
                assert!(r.name.contains("broken") || r.name.contains("no-wait"));
                assert!(bug.breaks.contains('.'), "{}: {}", r.name, bug.breaks);
            }
        }
        assert_eq!(
            crate::in_tree().len() + broken::all().len(),
            all.iter()
                .filter(|r| matches!(r.runs, Runs::InProcess { .. }))
                .count()
        );
        assert_eq!(served_names(), ["rust-vfio-exporter"]);
        assert!(served("rust-vfio-exporter").is_some() && served("vfio-pci").is_none());
    }
}
