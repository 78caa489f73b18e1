//! Finding, extracting and preparing a kernel source tree, and building and running its KUnit
//! suites under User-Mode Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use reference_impl::Step;

use super::*;

pub(super) fn run_cmd(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    cmd.output()
        .map_err(|e| format!("cannot run {what}: {e}"))
        .and_then(|o| {
            if o.status.success() {
                Ok(o)
            } else {
                Err(format!(
                    "{what} failed ({}):\n{}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
        })
}

pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Finds the tarball, installing the Debian package if needed.
pub(super) fn tarball(args: &KernelArgs) -> Result<PathBuf, String> {
    if let Some(t) = &args.tarball {
        return Ok(t.clone());
    }
    let default = PathBuf::from("/usr/src/linux-source-6.12.tar.xz");
    if default.exists() {
        return Ok(default);
    }
    eprintln!("kernel: installing linux-source-6.12 with apt-get");
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    cmd.args(["install", "-y", "linux-source-6.12"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    run_cmd(&mut cmd, "apt-get install linux-source-6.12")?;
    if default.exists() {
        Ok(default)
    } else {
        Err(format!(
            "{} is still missing after apt-get",
            default.display()
        ))
    }
}

/// The tree to build in: the one given, or the tarball extracted under the work folder
/// (reused when already extracted).
pub(super) fn tree(args: &KernelArgs, work: &Path) -> Result<PathBuf, String> {
    if let Some(t) = &args.tree {
        return std::fs::canonicalize(t).map_err(|e| format!("{}: {e}", t.display()));
    }
    let tarball = tarball(args)?;
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split(".tar").next())
        .ok_or_else(|| format!("{} is not a tarball", tarball.display()))?
        .to_string();
    let dir = work.join(&name);
    if !dir.join("Makefile").exists() {
        eprintln!(
            "kernel: extracting {} into {}",
            tarball.display(),
            work.display()
        );
        run_cmd(
            Command::new("tar")
                .arg("-xf")
                .arg(&tarball)
                .arg("-C")
                .arg(work),
            "tar",
        )?;
    }
    if !dir.join("Makefile").exists() {
        return Err(format!("{} has no {name}/Makefile", tarball.display()));
    }
    Ok(dir)
}

/// Writes `text` to `path` unless it already holds it (so make rebuilds nothing needlessly).
pub(super) fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub(super) fn append_once(path: &Path, block: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if old.contains(MARKER) {
        return Ok(());
    }
    write_if_changed(path, &format!("{}\n{MARKER}\n{block}", old.trim_end()))
}

/// The scenarios of the selected case variants.
pub fn scenarios(filter: Option<&str>) -> Vec<(String, Vec<Step>)> {
    selected(filter)
        .into_iter()
        .map(|(c, v)| {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            (c.variant_name(v), steps)
        })
        .collect()
}

/// Adds the runner and the generated scenarios to a tree.
pub(super) fn install(tree: &Path, features: ctable::Features) -> Result<(), String> {
    let dir = tree.join("drivers/dma-buf");
    write_if_changed(&dir.join("revoke_spec_kunit.c"), RUNNER_C)?;
    write_if_changed(&dir.join("revoke_spec_hooks.h"), HOOKS_H)?;
    write_if_changed(
        &dir.join("revoke_spec_scenarios.h"),
        &ctable::header(&scenarios(None), features),
    )?;
    append_once(
        &dir.join("Kconfig"),
        "config REVOKE_SPEC_KUNIT\n\tbool \"KUnit scenarios of the dma-buf revoke specification\" if !KUNIT_ALL_TESTS\n\tdepends on KUNIT=y\n\tselect DMA_SHARED_BUFFER\n\tdefault KUNIT_ALL_TESTS\n",
    )?;
    append_once(
        &dir.join("Makefile"),
        "obj-$(CONFIG_REVOKE_SPEC_KUNIT) += revoke_spec_kunit.o\nifdef CONFIG_REVOKE_SPEC_KUNIT\nCFLAGS_dma-buf.o += -include $(srctree)/drivers/dma-buf/revoke_spec_hooks.h\nendif\n",
    )
}

pub(super) fn config_name(version: KernelVersion, mn: Option<MoveNotify>) -> String {
    match mn {
        Some(MoveNotify::On) => format!("linux-{version} (move-notify on)"),
        Some(MoveNotify::Off) => format!("linux-{version} (move-notify off)"),
        None => format!("linux-{version}"),
    }
}

/// Builds and runs one configuration; returns kunit.py's output.
pub(super) fn build_and_run(
    tree: &Path,
    work: &Path,
    mn: Option<MoveNotify>,
    jobs: u32,
) -> Result<String, String> {
    let tag = match mn {
        Some(MoveNotify::On) => "on",
        Some(MoveNotify::Off) => "off",
        None => "default",
    };
    let kunitconfig = work.join(format!("revoke-{tag}.kunitconfig"));
    let mut cfg = String::from("CONFIG_KUNIT=y\nCONFIG_REVOKE_SPEC_KUNIT=y\n");
    match mn {
        Some(MoveNotify::On) => cfg.push_str("CONFIG_DMABUF_MOVE_NOTIFY=y\n"),
        Some(MoveNotify::Off) => cfg.push_str("# CONFIG_DMABUF_MOVE_NOTIFY is not set\n"),
        None => {}
    }
    write_if_changed(&kunitconfig, &cfg)?;
    let build = work.join("build");
    // kunit.py configures and builds; the kernel then runs with its console going to a file:
    // UML's console drops lines when a pipe reader falls behind, and no line may be lost.
    run_cmd(
        Command::new("python3")
            .current_dir(tree)
            .arg("tools/testing/kunit/kunit.py")
            .arg("build")
            .arg("--kunitconfig")
            .arg(&kunitconfig)
            .arg(format!("--jobs={jobs}"))
            .arg("--build_dir")
            .arg(&build),
        "kunit.py build",
    )?;
    let log = work.join(format!("kunit-{tag}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(build.join("linux"))
        .current_dir(&build)
        .args([
            "kunit.enable=1",
            "mem=1G",
            "console=tty",
            "kunit_shutdown=halt",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run the UML kernel: {e}"))?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if !text.contains("revoke-trace: begin") {
        return Err(format!(
            "the kernel ran no scenario ({status}); see {}",
            log.display()
        ));
    }
    Ok(text)
}
