//! Driver shims written in C, run out of process over the wire protocol of the book's chapter
//! "Shims in other processes".
//!
//! The C sources live in `c/`: `dma-buf-shim.{h,c}`, a small library that speaks the
//! protocol and exposes the kernel calls as C functions with kernel names;
//! `vfio-exporter.c`, a VFIO-style exporter written on top of it (the book's chapter "A shim
//! in C" walks through it); and `example-importer.c`, a minimal importer. The build script
//! compiles them with the system C compiler (`CC` and `CFLAGS` are honoured); the functions
//! below give the paths of the executables.
//!
//! The executables are also carried inside the crate (`include_bytes!`), so a runner
//! installed with `cargo install` (whose build folder is deleted afterwards) still runs them:
//! when the built file is gone, the copy is written once into a cache folder under the
//! system's temporary folder (named after the suite's version and the copy's hash) and run
//! from there. No checkout and no build folder is needed at run time.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An executable built by the build script, and the copy of it carried in the crate.
struct Embedded {
    file: &'static str,
    built: &'static str,
    bytes: &'static [u8],
    path: OnceLock<PathBuf>,
}

impl Embedded {
    /// The built file if it is still there, else the carried copy written into the cache.
    fn path(&'static self) -> &'static Path {
        self.path.get_or_init(|| {
            let built = PathBuf::from(self.built);
            if built.is_file() {
                return built;
            }
            materialize(self.file, self.bytes).unwrap_or(built)
        })
    }
}

/// Writes `bytes` as the executable `file` in the cache folder (once: an existing copy of the
/// same hash is reused), through a temporary name and a rename so that concurrent runners
/// never run half a file.
fn materialize(file: &str, bytes: &[u8]) -> Option<PathBuf> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let dir = std::env::temp_dir().join(format!(
        "revoke-conformance-{}-shims",
        env!("CARGO_PKG_VERSION")
    ));
    let path = dir.join(format!("{h:016x}-{file}"));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Some(path);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join(format!(".{file}.{}", std::process::id()));
    std::fs::write(&tmp, bytes).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).ok()?;
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

macro_rules! embedded {
    ($file:literal, $env:literal) => {
        Embedded {
            file: $file,
            built: env!($env),
            bytes: include_bytes!(env!($env)),
            path: OnceLock::new(),
        }
    };
}

static VFIO_EXPORTER: Embedded = embedded!("c-vfio-exporter", "SHIMS_C_VFIO_EXPORTER");
static VFIO_EXPORTER_NO_WAIT: Embedded =
    embedded!("c-vfio-exporter-no-wait", "SHIMS_C_VFIO_EXPORTER_NO_WAIT");
static VFIO_EXPORTER_MARK_AFTER_UNLOCK: Embedded = embedded!(
    "c-vfio-exporter-mark-after-unlock",
    "SHIMS_C_VFIO_EXPORTER_MARK_AFTER_UNLOCK"
);
static EXAMPLE_IMPORTER: Embedded = embedded!("c-example-importer", "SHIMS_C_EXAMPLE_IMPORTER");
static LIARS: [(&str, Embedded); 4] = [
    (
        "buf",
        embedded!("c-liar-exporter-buf", "SHIMS_C_LIAR_EXPORTER_BUF"),
    ),
    (
        "att",
        embedded!("c-liar-exporter-att", "SHIMS_C_LIAR_EXPORTER_ATT"),
    ),
    (
        "sgt",
        embedded!("c-liar-exporter-sgt", "SHIMS_C_LIAR_EXPORTER_SGT"),
    ),
    (
        "fence",
        embedded!("c-liar-exporter-fence", "SHIMS_C_LIAR_EXPORTER_FENCE"),
    ),
];

/// The VFIO-style exporter in C (`c-vfio-exporter`): plays the `vfio` exporter profile and
/// should pass every case that applies to it.
pub fn vfio_exporter() -> &'static Path {
    VFIO_EXPORTER.path()
}

/// The same exporter built with `-DVFIO_EXPORTER_NO_WAIT` (`c-vfio-exporter-no-wait`): its
/// revoke invalidates and then neither waits for the reservation's fences nor for the
/// importers to unmap, so the suite must catch it (`revoke.exporter.wait-bookkeep`,
/// `revoke.exporter.wait-unmap`).
pub fn vfio_exporter_no_wait() -> &'static Path {
    VFIO_EXPORTER_NO_WAIT.path()
}

/// The same exporter built with `-DVFIO_EXPORTER_MARK_AFTER_UNLOCK`
/// (`c-vfio-exporter-mark-after-unlock`): its revoke sets the revoked mark only after dropping
/// the reservation lock. It passes every case run in order; a map on another thread at the
/// revoke's unlock catches it (`revoke.exporter.mark-under-lock`), over the wire as in
/// process (`broken-vfio-marks-after-unlock`).
pub fn vfio_exporter_mark_after_unlock() -> &'static Path {
    VFIO_EXPORTER_MARK_AFTER_UNLOCK.path()
}

/// A minimal pinned, revocable importer in C (`c-example-importer`, plays `iommufd`): an
/// example of the library's importer API, exercised by this crate's tests.
pub fn example_importer() -> &'static Path {
    EXAMPLE_IMPORTER.path()
}

/// Exporters in C that lie (`c/liar-exporter.c`, not registered): a `gpu` exporter whose
/// `map_dma_buf` names a buffer, attachment, table or fence the harness never handed out,
/// one kind each, named by the kind (`"buf"`, `"att"`, `"sgt"`, `"fence"`) and the object
/// (`buf99`...). The harness must refuse each with a protocol error naming the object.
pub fn liar_exporters() -> impl Iterator<Item = (&'static str, &'static Path)> {
    LIARS.iter().map(|(kind, e)| (*kind, e.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With its built file gone, a shim runs from the copy the crate carries.
    #[test]
    fn a_carried_copy_is_written_once_and_runs() {
        let bytes = std::fs::read(vfio_exporter()).expect("the built shim");
        let first = materialize("test-copy", &bytes).expect("written");
        let again = materialize("test-copy", &bytes).expect("reused");
        assert_eq!(first, again);
        assert_eq!(std::fs::read(&first).expect("readable"), bytes);
        let out = std::process::Command::new(&first)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the copy runs");
        // End of input before the hello: the shim exits quietly.
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
}
