//! Compiles the C shims under `c/` into executables in `OUT_DIR` with the system C compiler
//! (`cc`, honouring `CC` and `CFLAGS`), and exports their paths to the crate as environment
//! variables. A compilation error fails the build with the compiler's message.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C library every shim links with.
const LIBRARY: &[&str] = &["c/dma-buf-shim.c"];
/// Every C file, for `rerun-if-changed`.
const SOURCES: &[&str] = &[
    "c/dma-buf-shim.c",
    "c/dma-buf-shim.h",
    "c/vfio-exporter.c",
    "c/example-importer.c",
    "c/liar-exporter.c",
];

/// One executable: its file name, its main source, its extra defines, and the variable that
/// carries its path.
struct Shim {
    exe: &'static str,
    main: &'static str,
    defines: &'static [&'static str],
    env: &'static str,
}

const SHIMS: &[Shim] = &[
    Shim {
        exe: "c-vfio-exporter",
        main: "c/vfio-exporter.c",
        defines: &[],
        env: "SHIMS_C_VFIO_EXPORTER",
    },
    Shim {
        exe: "c-vfio-exporter-no-wait",
        main: "c/vfio-exporter.c",
        defines: &["VFIO_EXPORTER_NO_WAIT"],
        env: "SHIMS_C_VFIO_EXPORTER_NO_WAIT",
    },
    Shim {
        exe: "c-vfio-exporter-mark-after-unlock",
        main: "c/vfio-exporter.c",
        defines: &["VFIO_EXPORTER_MARK_AFTER_UNLOCK"],
        env: "SHIMS_C_VFIO_EXPORTER_MARK_AFTER_UNLOCK",
    },
    Shim {
        exe: "c-liar-exporter-buf",
        main: "c/liar-exporter.c",
        defines: &["LIE_BUF"],
        env: "SHIMS_C_LIAR_EXPORTER_BUF",
    },
    Shim {
        exe: "c-liar-exporter-att",
        main: "c/liar-exporter.c",
        defines: &["LIE_ATT"],
        env: "SHIMS_C_LIAR_EXPORTER_ATT",
    },
    Shim {
        exe: "c-liar-exporter-sgt",
        main: "c/liar-exporter.c",
        defines: &["LIE_SGT"],
        env: "SHIMS_C_LIAR_EXPORTER_SGT",
    },
    Shim {
        exe: "c-liar-exporter-fence",
        main: "c/liar-exporter.c",
        defines: &["LIE_FENCE"],
        env: "SHIMS_C_LIAR_EXPORTER_FENCE",
    },
    Shim {
        exe: "c-example-importer",
        main: "c/example-importer.c",
        defines: &[],
        env: "SHIMS_C_EXAMPLE_IMPORTER",
    },
];

fn main() {
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let exe_suffix = env::consts::EXE_SUFFIX;
    for shim in SHIMS {
        let path = out.join(format!("{}{exe_suffix}", shim.exe));
        compile(&manifest, shim, &path);
        println!("cargo:rustc-env={}={}", shim.env, path.display());
    }
}

/// Compiles and links one executable, or fails the build with the compiler's output.
fn compile(manifest: &Path, shim: &Shim, path: &Path) {
    let compiler = cc::Build::new().get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-D_GNU_SOURCE",
        "-pthread",
    ]);
    for define in shim.defines {
        cmd.arg(format!("-D{define}"));
    }
    cmd.arg("-I").arg(manifest.join("c"));
    cmd.arg(manifest.join(shim.main));
    for lib in LIBRARY {
        cmd.arg(manifest.join(lib));
    }
    cmd.arg("-o").arg(path);
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run the C compiler {:?} to build {}: {e} (set CC to a C compiler)",
            compiler.path(),
            shim.exe
        ),
    };
    if !output.status.success() {
        let line: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        panic!(
            "compiling {} failed ({}):\n{}\n{}{}",
            shim.exe,
            output.status,
            line.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Warnings do not fail the build without -Werror in CFLAGS; show them anyway.
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        println!("cargo:warning={line}");
    }
}
