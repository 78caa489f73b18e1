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

/// The Debian source packages of the kernels the bridge knows: version, and the suites of the
/// machine's own Debian mirror that carry `linux-source-VERSION`.
pub const DEBIAN_KERNELS: &[(&str, &[&str])] = &[
    ("7.2", &["sid"]),
    (
        "6.12",
        &["bookworm", "bookworm-updates", "bookworm-security"],
    ),
    // For --check-citations: the full test run does not build the bridge on it.
    ("7.3", &["trixie-backports"]),
];

/// The oldest kernel the runner builds on.
pub const OLDEST: KernelVersion = KernelVersion(6, 12);

/// The `deb` lines of the private sources list for these suites: a suite the machine's apt
/// sources list (deb822 `debian.sources`, else the one-line `sources.list`) comes from the
/// address they give it (`bookworm-security` from the security archive), any other from the
/// machine's first Debian mirror (`sid`).
fn debian_sources(suites: &[&str], keyring: &str) -> Result<String, String> {
    let deb822 = "/etc/apt/sources.list.d/debian.sources";
    let list = "/etc/apt/sources.list";
    // (address, suites) of each source the machine has.
    let mut known: Vec<(String, Vec<String>)> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(deb822) {
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            if let (Some(uri), suites) = (field("URIs:").into_iter().next(), field("Suites:")) {
                known.push((uri, suites));
            }
        }
    }
    if known.is_empty()
        && let Ok(text) = std::fs::read_to_string(list)
    {
        for l in text.lines() {
            let mut w = l.split_whitespace().filter(|w| !w.starts_with('['));
            if w.next() == Some("deb")
                && let (Some(uri), Some(suite)) = (w.next(), w.next())
            {
                known.push((uri.to_string(), vec![suite.to_string()]));
            }
        }
    }
    let Some((mirror, _)) = known.first() else {
        return Err(format!(
            "cannot find the machine's Debian mirror: no `URIs:` line in {deb822} and no `deb` line in {list}"
        ));
    };
    Ok(suites
        .iter()
        .map(|suite| {
            let uri = known
                .iter()
                .find(|(_, s)| s.iter().any(|x| x == suite))
                .map_or(mirror, |(u, _)| u);
            format!("deb [signed-by={keyring}] {uri} {suite} main\n")
        })
        .collect())
}

/// Debian's `linux-source-VERSION` tarball, downloaded (once; later runs reuse it) under
/// `WORK/apt/VERSION` with a private sources list and private state folders given to apt on the
/// command line: the machine's apt configuration is not changed, and nothing is installed.
pub fn debian_tarball(version: &str, work: &Path) -> Result<PathBuf, String> {
    let Some((_, suites)) = DEBIAN_KERNELS.iter().find(|(v, _)| *v == version) else {
        return Err(format!(
            "no Debian source package known for Linux {version} (known: {}); give --tarball or --tree",
            DEBIAN_KERNELS
                .iter()
                .map(|(v, _)| *v)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let package = format!("linux-source-{version}");
    let installed = PathBuf::from(format!("/usr/src/{package}.tar.xz"));
    if installed.exists() {
        return Ok(installed);
    }
    // apt takes relative `Dir::` options as relative to its own folders, and the commands below
    // run in the download folder: every path given to them must be absolute.
    let work = std::path::absolute(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let d = work.join("apt").join(version);
    let tarball = d.join(format!("x/usr/src/{package}.tar.xz"));
    if tarball.exists() {
        return Ok(tarball);
    }
    host::ensure(&format!("fetching Debian's {package}"), host::APT_FETCH)?;
    for sub in ["lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(d.join(sub)).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let sources = debian_sources(suites, keyring)?;
    write_if_changed(&d.join("sources.list"), &sources)?;
    let opts = [
        format!("Dir::Etc::sourcelist={}", d.join("sources.list").display()),
        "Dir::Etc::sourceparts=-".to_string(),
        format!("Dir::State::Lists={}", d.join("lists").display()),
        format!("Dir::Cache={}", d.join("cache").display()),
    ];
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        for o in &opts {
            c.arg("-o").arg(o);
        }
        c.args(args).current_dir(&d);
        c
    };
    let debs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if debs(&d).is_empty() {
        eprintln!(
            "kernel: fetching {package} ({}) with a private apt configuration in {}",
            suites.join(", "),
            d.display()
        );
        run_cmd(
            &mut apt(&["update"]),
            "apt-get update (private sources list)",
        )?;
        run_cmd(
            &mut apt(&["download", &package]),
            &format!("apt-get download {package}"),
        )?;
    }
    let deb = debs(&d).into_iter().max().ok_or_else(|| {
        format!(
            "apt-get download left no {package}_*.deb in {}",
            d.display()
        )
    })?;
    run_cmd(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(d.join("x")),
        "dpkg-deb -x",
    )?;
    if !tarball.exists() {
        return Err(format!(
            "{} holds no usr/src/{package}.tar.xz",
            deb.display()
        ));
    }
    // The tarball is the cache: the package around it is not needed again.
    let _ = std::fs::remove_file(&deb);
    Ok(tarball)
}

/// The tree to build in: the one given, or the tarball (given, or Debian's for `--kernel`)
/// extracted under the work folder (reused when already extracted).
pub(super) fn tree(args: &KernelArgs, work: &Path) -> Result<PathBuf, String> {
    if let Some(t) = &args.tree {
        return std::fs::canonicalize(t).map_err(|e| format!("--tree {}: {e}", t.display()));
    }
    let tarball = match &args.tarball {
        Some(t) if !t.is_file() => {
            return Err(format!("--tarball {}: no such file", t.display()));
        }
        Some(t) => t.clone(),
        None => debian_tarball(&args.kernel, work)?,
    };
    let name = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split(".tar").next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{} is not a tarball", tarball.display()))?
        .to_string();
    let dir = work.join("src").join(&name);
    let stamp = dir.join(".revoke-spec-extracted");
    if !stamp.exists() {
        host::ensure("extracting a kernel source tarball", host::TAR)?;
        eprintln!(
            "kernel: extracting {} into {}",
            tarball.display(),
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        run_cmd(
            Command::new("tar")
                .arg("-xf")
                .arg(&tarball)
                .arg("-C")
                .arg(&dir),
            &format!("tar -xf {} (is it a tarball?)", tarball.display()),
        )?;
        write_if_changed(&stamp, &tarball.display().to_string())?;
    }
    // The tarball's one top-level folder, or the tarball's contents themselves.
    if dir.join("Makefile").exists() {
        return Ok(dir);
    }
    let tops: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match tops.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "--tarball {}: not a kernel source tarball (no Makefile at its top, nor one top-level folder; extracted in {})",
            tarball.display(),
            dir.display()
        )),
    }
}

/// Checks that a tree is a kernel the bridge can use; returns its version.
pub fn check_tree(tree: &Path) -> Result<KernelVersion, String> {
    let at = tree.display();
    let makefile = std::fs::read_to_string(tree.join("Makefile"))
        .map_err(|e| format!("{at} is not a kernel source tree: no top-level Makefile ({e})"))?;
    let version = KernelVersion::of_makefile(&makefile).ok_or_else(|| {
        format!("{at} is not a kernel source tree: its Makefile sets no VERSION and PATCHLEVEL")
    })?;
    if version < OLDEST {
        return Err(format!(
            "{at} is Linux {version}, older than {OLDEST}, the oldest kernel the bridge builds on"
        ));
    }
    for need in [
        "drivers/dma-buf/dma-buf.c",
        "drivers/dma-buf/Kconfig",
        "drivers/dma-buf/Makefile",
        "include/linux/dma-buf.h",
    ] {
        if !tree.join(need).is_file() {
            return Err(format!(
                "{at} (Linux {version}) has no {need}: the bridge runs the scenarios on the dma-buf core there"
            ));
        }
    }
    if !tree.join("tools/testing/kunit/kunit.py").is_file() {
        return Err(format!(
            "{at} (Linux {version}) has no tools/testing/kunit/kunit.py: the bridge builds and runs with it"
        ));
    }
    Ok(version)
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

/// The scenarios of the selected case variants the KUnit runner can run (not those that
/// make a signal pending: see `version::runner_cannot_run`).
pub fn scenarios(filter: Option<&str>) -> Vec<(String, Vec<Step>)> {
    selected(&judge::spec(), filter)
        .into_iter()
        .map(|(c, v)| {
            let steps = judge::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            (c.variant_name(v), steps)
        })
        .filter(|(_, steps)| crate::version::runner_cannot_run(steps).is_none())
        .collect()
}

/// Adds the runner and the generated scenarios to a tree.
pub(super) fn install(tree: &Path) -> Result<(), String> {
    let dir = tree.join("drivers/dma-buf");
    write_if_changed(&dir.join("revoke_spec_kunit.c"), RUNNER_C)?;
    write_if_changed(&dir.join("revoke_spec_hooks.h"), HOOKS_H)?;
    write_if_changed(
        &dir.join("revoke_spec_scenarios.h"),
        &(ctable::header(&scenarios(None))
            + "\n"
            + &crate::replays::c_tables(&crate::replays::replays())),
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

/// The last lines of a long output.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first compiler or make error in a build log, if any.
fn first_error(log: &str) -> Option<&str> {
    log.lines()
        .find(|l| l.contains("error:") || l.contains("*** "))
        .map(str::trim)
}

/// Builds and runs one configuration; returns the kernel's output. The build's output goes to
/// `WORK/kunit-build-VERSION-TAG.log`, the kernel's to `WORK/kunit-VERSION-TAG.log`.
pub(super) fn build_and_run(
    tree: &Path,
    work: &Path,
    version: KernelVersion,
    mn: Option<MoveNotify>,
    jobs: u32,
) -> Result<String, String> {
    let tag = match mn {
        Some(MoveNotify::On) => "on",
        Some(MoveNotify::Off) => "off",
        None => "default",
    };
    let kunitconfig = work.join(format!("revoke-{version}-{tag}.kunitconfig"));
    let mut cfg = String::from("CONFIG_KUNIT=y\nCONFIG_REVOKE_SPEC_KUNIT=y\n");
    match mn {
        Some(MoveNotify::On) => cfg.push_str("CONFIG_DMABUF_MOVE_NOTIFY=y\n"),
        Some(MoveNotify::Off) => cfg.push_str("# CONFIG_DMABUF_MOVE_NOTIFY is not set\n"),
        None => {}
    }
    write_if_changed(&kunitconfig, &cfg)?;
    // One build folder per tree, so that two kernels never share objects.
    let tree_name = tree
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tree")
        .to_string();
    let build = work.join(format!("build-{tree_name}"));
    // kunit.py configures and builds; the kernel then runs with its console going to a file:
    // UML's console drops lines when a pipe reader falls behind, and no line may be lost.
    let build_log = work.join(format!("kunit-build-{version}-{tag}.log"));
    // The build writes into its log as it goes; a line every 30 s says it is alive (a cold
    // kernel build takes minutes), with the last thing it wrote.
    let _ = std::fs::remove_file(&build_log);
    let status = host::run_logged_with_heartbeat(
        Command::new("python3")
            .current_dir(tree)
            .arg("tools/testing/kunit/kunit.py")
            .arg("build")
            .arg("--kunitconfig")
            .arg(&kunitconfig)
            .arg(format!("--jobs={jobs}"))
            .arg("--build_dir")
            .arg(&build),
        &build_log,
        &format!("building Linux {version} with kunit.py"),
    )?;
    let text =
        std::fs::read_to_string(&build_log).map_err(|e| format!("{}: {e}", build_log.display()))?;
    if !status.success() {
        let cause = match first_error(&text) {
            Some(e) => format!("the first error: {e}"),
            None => format!("its last lines:\n{}", tail(&text, 10)),
        };
        return Err(format!(
            "the kernel build of Linux {version} in {} failed ({}); see {}; {cause}",
            tree.display(),
            status,
            build_log.display()
        ));
    }
    let log = work.join(format!("kunit-{version}-{tag}.log"));
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
        .map_err(|e| {
            format!(
                "cannot run the UML kernel {}: {e}",
                build.join("linux").display()
            )
        })?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    if !text.contains("revoke-trace: begin") {
        return Err(format!(
            "the kernel ran no scenario ({status}); see {}",
            log.display()
        ));
    }
    Ok(text)
}
