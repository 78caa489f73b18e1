//! A deterministic model of the Linux dma-buf core (as merged for Linux 7.1) with reference
//! exporters and importers.
//!
//! The infrastructure (trace recording, the simulated machine, scenario data) is ordinary
//! source in this crate. Everything normative, the core's functions and the reference
//! drivers, is the Rust shown in the book: `spec_macros::reference!` compiles each chapter's
//! `rust,reference` blocks into the module of the same name below.

mod api;
mod core_role;
mod errno;
mod explore;
mod ids;
mod kernel;
mod ops;
mod run;
mod scenario;
mod scenario_file;
mod schedule;
mod shim;
mod trace;

pub use api::{DmaBufCore, KERNEL_API, KernelApi, KernelFn};
pub use core_role::ReferenceCore;
pub use errno::Errno;
pub use explore::{Exploration, ExploreOptions, RunSchedule, Violation, explore, explore_with};
pub use ids::{AttId, BufId, FenceId, JobId, SgtId};
pub use kernel::{
    Attachment, Blocked, Completion, FRUITLESS_WAITS, Harness, Kernel, Kref, LOCKDEP_WARNING,
    LockClass, SchedPoint, Scheduler, Traced,
};
pub use ops::{DmaBufAttachOps, DmaBufOps, Exporter, Importer, OpsTable, Work};
pub use run::{Roles, run_reference, run_with};
pub use scenario::{ExporterKind, ImporterKind, Step, StepRef};
pub use scenario_file::{FileStep, PointKind, Preemption, SCENARIO_FORMAT, ScenarioFile, Thread};
pub use schedule::{Offered, ScheduledRun, run_scheduled, step_buffers, step_dependencies};
pub use shim::{Role, Shim, ShimRole, profile_capabilities, profile_names, profiles_apply};
pub use trace::{
    AccessOutcome, Actor, Call, CallName, Crash, DmaResvUsage, Event, Ret, ShimProcessFailed,
    Timeout, Trace,
};

/// What every chapter's reference code sees.
pub mod prelude {
    pub use crate::Errno::*;
    pub use crate::{
        AccessOutcome, Actor, AttId, BufId, Call, Completion, DmaBufAttachOps, DmaBufOps,
        DmaResvUsage, Errno, Exporter, FenceId, Importer, Kernel, Kref, OpsTable, ReferenceCore,
        SgtId, Timeout,
    };
    pub use std::cell::{Cell, RefCell};
}

/// The normative code of the book, one module per chapter.
pub mod book {
    /// Chapter "Attaching and capability negotiation".
    pub mod attach {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("attach.md");
    }
    /// Chapter "Mapping and pinning".
    pub mod map_pin {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("map-pin.md");
    }
    /// Chapter "Invalidation of dynamic attachments".
    pub mod invalidation {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("invalidation.md");
    }
    /// Chapter "Revocation of pinned attachments".
    pub mod revocation {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("revocation.md");
    }
    /// Chapter "CPU access after revocation".
    pub mod cpu_access {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("cpu-access.md");
    }
    /// Chapter "Teardown".
    pub mod teardown {
        #[allow(unused_imports)]
        use crate::prelude::*;
        spec_macros::reference!("teardown.md");
    }
}
