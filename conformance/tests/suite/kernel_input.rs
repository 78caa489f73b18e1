//! `revoke-conformance kernel` on trees and tarballs it cannot use: one clear error naming the
//! cause, exit status 2, and no kernel build.

use std::path::Path;
use std::process::{Command, Output};

fn kernel(args: &[&str], work: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revoke-conformance"))
        .arg("kernel")
        .args(args)
        .arg("--work-dir")
        .arg(work)
        .output()
        .expect("the runner starts")
}

/// Exit status 2, no report, and one error (after any progress lines) that names `cause`.
fn refused(o: &Output, cause: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        o.stdout.is_empty(),
        "no report: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let errors: Vec<usize> = err
        .match_indices("revoke-conformance: ")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(errors.len(), 1, "one error: {err}");
    assert!(
        err[errors[0]..].contains(cause),
        "expected `{cause}` in the error: {err}"
    );
}

fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("a temporary folder");
    for (path, text) in files {
        let p = d.path().join(path);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    d
}

const MAKEFILE_6_12: &str = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n";

#[test]
fn an_empty_folder_is_not_a_kernel_tree() {
    let tree = tree_with(&[]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    refused(&o, "is not a kernel source tree: no top-level Makefile");
}

#[test]
fn a_makefile_without_a_version_is_not_a_kernel_tree() {
    let tree = tree_with(&[("Makefile", "all:\n\techo hello\n")]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    refused(&o, "its Makefile sets no VERSION and PATCHLEVEL");
}

#[test]
fn a_kernel_older_than_6_12_is_too_old() {
    let tree = tree_with(&[("Makefile", "VERSION = 5\nPATCHLEVEL = 15\nSUBLEVEL = 0\n")]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    refused(
        &o,
        "is Linux 5.15, older than 6.12, the oldest kernel the bridge builds on",
    );
}

#[test]
fn a_kernel_without_drivers_dma_buf_is_refused() {
    let tree = tree_with(&[
        ("Makefile", MAKEFILE_6_12),
        ("include/linux/dma-buf.h", "/* */\n"),
    ]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    refused(&o, "(Linux 6.12) has no drivers/dma-buf/dma-buf.c");
}

#[test]
fn a_kernel_without_kunit_py_is_refused() {
    let tree = tree_with(&[
        ("Makefile", MAKEFILE_6_12),
        ("include/linux/dma-buf.h", "/* */\n"),
        ("drivers/dma-buf/dma-buf.c", "/* */\n"),
        ("drivers/dma-buf/Kconfig", "\n"),
        ("drivers/dma-buf/Makefile", "\n"),
    ]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    refused(&o, "has no tools/testing/kunit/kunit.py");
    // Nothing was added to the tree it refused.
    let mk = std::fs::read_to_string(tree.path().join("drivers/dma-buf/Makefile")).expect("read");
    assert_eq!(mk, "\n");
}

#[test]
fn a_missing_tree_or_tarball_is_named() {
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", "/nonexistent/linux"], work.path());
    refused(&o, "--tree /nonexistent/linux: No such file or directory");
    let o = kernel(&["--tarball", "/nonexistent/linux.tar.xz"], work.path());
    refused(&o, "--tarball /nonexistent/linux.tar.xz: no such file");
}

#[test]
fn a_file_that_is_not_a_tarball_is_refused() {
    let dir = tree_with(&[("linux-9.9.tar.xz", "not a tarball\n")]);
    let work = tempfile::tempdir().expect("work");
    let t = dir.path().join("linux-9.9.tar.xz");
    let o = kernel(&["--tarball", &t.display().to_string()], work.path());
    refused(&o, "(is it a tarball?) failed");
}

#[test]
fn a_tarball_of_something_else_is_not_a_kernel() {
    let dir = tree_with(&[("src/a/README", "hello\n"), ("src/b/README", "hello\n")]);
    let t = dir.path().join("other.tar");
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(&t)
        .arg("-C")
        .arg(dir.path().join("src"))
        .args(["a", "b"])
        .status()
        .expect("tar runs");
    assert!(ok.success());
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tarball", &t.display().to_string()], work.path());
    refused(&o, "not a kernel source tarball");
}

#[test]
fn an_unknown_debian_kernel_is_named() {
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--kernel", "5.10"], work.path());
    refused(
        &o,
        "no Debian source package known for Linux 5.10 (known: 7.2, 6.12, 7.3)",
    );
}

#[test]
fn a_build_failure_names_its_first_error_and_the_log() {
    // A tree whose kunit.py fails as a compiler error would: no kernel is built.
    let tree = tree_with(&[
        ("Makefile", MAKEFILE_6_12),
        ("include/linux/dma-buf.h", "/* */\n"),
        ("drivers/dma-buf/dma-buf.c", "/* */\n"),
        ("drivers/dma-buf/Kconfig", "\n"),
        ("drivers/dma-buf/Makefile", "\n"),
        (
            "tools/testing/kunit/kunit.py",
            "import sys\nprint('CC drivers/dma-buf/revoke_spec_kunit.o')\nprint(\"drivers/dma-buf/revoke_spec_kunit.c:38:1: error: expected ';'\")\nsys.exit(1)\n",
        ),
    ]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(&["--tree", &tree.path().display().to_string()], work.path());
    let log = work.path().join("kunit-build-6.12-default.log");
    refused(
        &o,
        &format!(
            "failed (exit status: 1); see {}; the first error: drivers/dma-buf/revoke_spec_kunit.c:38:1: error: expected ';'",
            log.display()
        ),
    );
    let text = std::fs::read_to_string(&log).expect("the build log is kept");
    assert!(text.contains("CC drivers/dma-buf/revoke_spec_kunit.o"));
}

#[test]
fn a_summary_of_another_kernel_is_refused_before_building() {
    let work = tempfile::tempdir().expect("work");
    let summary = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../book/src/kernel/linux-6.12.json"
    );
    let o = kernel(
        &["--kernel", "7.2", "--check-summary", summary],
        work.path(),
    );
    refused(
        &o,
        "linux-6.12.json is the summary of Linux 6.12, and this run is of Linux 7.2 (give --kernel 6.12)",
    );
    assert!(
        std::fs::read_dir(work.path())
            .expect("work")
            .next()
            .is_none(),
        "nothing fetched"
    );
}

#[test]
fn citations_are_checked_against_a_tree_without_building() {
    let tree = tree_with(&[
        ("Makefile", MAKEFILE_6_12),
        ("include/linux/dma-buf.h", "/* */\n"),
        (
            "drivers/dma-buf/dma-buf.c",
            "/**\n * dma_buf_pin - Lock down the DMA-buf\n *\n * Buffers must be unpinned by\n * calling dma_buf_unpin().\n */\nint dma_buf_pin(struct dma_buf_attachment *attach)\n{\n\treturn 0;\n}\n",
        ),
        ("drivers/dma-buf/Kconfig", "\n"),
        ("drivers/dma-buf/Makefile", "\n"),
        ("tools/testing/kunit/kunit.py", "import sys\nsys.exit(3)\n"),
    ]);
    let cites = tree_with(&[(
        "c.json",
        r#"{"kernel": "7.2", "citations": [
            {"rule": "pin.lock.held", "file": "drivers/dma-buf/dma-buf.c", "symbol": "dma_buf_pin",
             "quote": "Buffers must be unpinned by calling dma_buf_unpin()."},
            {"rule": "pin.core.no-op-without-op", "file": "drivers/dma-buf/dma-buf.c", "symbol": "dma_buf_pin",
             "quote": "Buffers are never unpinned."},
            {"rule": "attach.revocable.definition", "file": "drivers/dma-buf/dma-buf.c", "symbol": "dma_buf_attach_revocable"},
            {"rule": "revoke.importer.stop-access", "file": "drivers/iommu/iommufd/pages.c", "symbol": "iopt_revoke_notify"}
        ]}"#,
    )]);
    let work = tempfile::tempdir().expect("work");
    let o = kernel(
        &[
            "--tree",
            &tree.path().display().to_string(),
            "--check-citations",
            &cites.path().join("c.json").display().to_string(),
        ],
        work.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("checked against Linux 6.12"), "{out}");
    assert!(out.contains(": 1 hold, 3 changed."), "{out}");
    assert!(
        out.contains("| SENTENCE CHANGED: \"Buffers are never unpinned.\" |"),
        "{out}"
    );
    assert!(
        out.contains("`dma_buf_attach_revocable` in `drivers/dma-buf/dma-buf.c` | SYMBOL GONE |"),
        "{out}"
    );
    assert!(
        out.contains("`iopt_revoke_notify` in `drivers/iommu/iommufd/pages.c` | FILE GONE |"),
        "{out}"
    );
    // Nothing was built or added to the tree.
    let mk = std::fs::read_to_string(tree.path().join("drivers/dma-buf/Makefile")).expect("read");
    assert_eq!(mk, "\n");
}
