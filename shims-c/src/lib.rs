//! Driver shims written in C, run out of process over the wire protocol of the book's chapter
//! "Shims in other processes".
//!
//! The C sources live in `c/`: `dma-buf-shim.{h,c}`, a small library that speaks the
//! protocol and exposes the kernel calls as C functions with kernel names;
//! `vfio-exporter.c`, a VFIO-style exporter written on top of it (the book's chapter "A shim
//! in C" walks through it); and `example-importer.c`, a minimal importer. The build script
//! compiles them with the system C compiler (`CC` and `CFLAGS` are honoured); the functions
//! below give the paths of the executables.

use std::path::Path;

/// The VFIO-style exporter in C (`c-vfio-exporter`): plays the `vfio` exporter profile and
/// should pass every case that applies to it.
pub fn vfio_exporter() -> &'static Path {
    Path::new(env!("SHIMS_C_VFIO_EXPORTER"))
}

/// The same exporter built with `-DVFIO_EXPORTER_NO_WAIT` (`c-vfio-exporter-no-wait`): its
/// revoke invalidates and then neither waits for the reservation's fences nor for the
/// importers to unmap, so the suite must catch it (`revoke.exporter.wait-bookkeep`,
/// `revoke.exporter.wait-unmap`).
pub fn vfio_exporter_no_wait() -> &'static Path {
    Path::new(env!("SHIMS_C_VFIO_EXPORTER_NO_WAIT"))
}

/// A minimal pinned, revocable importer in C (`c-example-importer`, plays `iommufd`): an
/// example of the library's importer API, exercised by this crate's tests. It is not one of
/// the registered shims.
pub fn example_importer() -> &'static Path {
    Path::new(env!("SHIMS_C_EXAMPLE_IMPORTER"))
}
