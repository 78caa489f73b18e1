//! In-tree shims: one module per driver, each exporting a [`Shim`].
//!
//! A shim is a thin adapter: it builds the driver's object for one buffer (exporter) or one
//! attachment (importer), or the core, and says which reference profiles it can stand in
//! for. [`scanout`] is written from scratch as the example the book walks through; the others
//! adapt the book's reference drivers, which are modelled on the drivers of the thread.

#[macro_use]
mod forward;
pub mod broken;
pub mod conforming;
pub mod gpu;
pub mod iommufd;
pub mod rdma_umem;
pub mod reference_core;
pub mod registry;
pub mod rust_vfio;
pub mod scanout;
pub mod vfio_pci;

use reference_impl::Shim;

/// Every good in-process shim, exporters first, then importers, then the core.
pub fn in_tree() -> Vec<Shim> {
    registry::all()
        .into_iter()
        .filter(|r| r.broken.is_none())
        .filter_map(|r| match r.runs {
            registry::Runs::InProcess { shim, .. } => Some(shim),
            registry::Runs::Process { .. } => None,
        })
        .collect()
}

/// The in-process shim with this name, good or broken.
pub fn by_name(name: &str) -> Option<Shim> {
    match registry::by_name(name)?.runs {
        registry::Runs::InProcess { shim, .. } => Some(shim),
        registry::Runs::Process { .. } => None,
    }
}
