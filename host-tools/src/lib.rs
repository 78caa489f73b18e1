//! Host tools the project installs itself (the kernel bridge, the real drivers under QEMU and
//! the browser check share this): Debian packages, each with what it provides (a
//! command on `PATH`, or a file), installed with `apt-get` when missing.
//!
//! Reusable by any part that needs a tool on the machine: [`ensure`] checks a list of
//! [`Need`]s, installs the Debian packages of those missing (as root with `apt-get`, otherwise
//! with `sudo -n apt-get`; once more after `apt-get update` if the first install fails), and
//! when it cannot, fails with one error naming the packages and the command to install them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a package provides that a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provides {
    /// A command found on `PATH`.
    Command(&'static str),
    /// A file (a header, a keyring) at this absolute path.
    File(&'static str),
}

/// One host requirement: what must be there, and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// What must be there.
    pub provides: Provides,
    /// The Debian package that provides it.
    pub package: &'static str,
}

/// A command on `PATH`, provided by a Debian package.
pub const fn cmd(command: &'static str, package: &'static str) -> Need {
    Need {
        provides: Provides::Command(command),
        package,
    }
}

/// A file at an absolute path, provided by a Debian package.
pub const fn file(path: &'static str, package: &'static str) -> Need {
    Need {
        provides: Provides::File(path),
        package,
    }
}

/// What `tools/testing/kunit/kunit.py` needs to configure, build and run a User-Mode Linux
/// kernel (Linux 6.12 and 7.2), and what the bridge needs to extract a source tarball.
pub const KUNIT_UML: &[Need] = &[
    cmd("make", "make"),
    cmd("gcc", "gcc"),
    cmd("ld", "binutils"),
    cmd("flex", "flex"),
    cmd("bison", "bison"),
    cmd("bc", "bc"),
    cmd("perl", "perl"),
    cmd("python3", "python3"),
    cmd("tar", "tar"),
    cmd("xz", "xz-utils"),
    Need {
        provides: Provides::File("/usr/include/stdio.h"),
        package: "libc6-dev",
    },
];

/// What extracting a `.tar.xz` needs.
pub const TAR: &[Need] = &[cmd("tar", "tar"), cmd("xz", "xz-utils")];

/// What fetching a Debian source package with a private apt configuration needs.
pub const APT_FETCH: &[Need] = &[
    cmd("apt-get", "apt"),
    cmd("dpkg-deb", "dpkg"),
    Need {
        provides: Provides::File("/usr/share/keyrings/debian-archive-keyring.gpg"),
        package: "debian-archive-keyring",
    },
];

impl Need {
    /// Whether it is there, looking for commands in `path` (a `PATH` value).
    pub fn present(&self, path: &OsStr) -> bool {
        match self.provides {
            Provides::Command(c) => find_command(c, path).is_some(),
            Provides::File(f) => Path::new(f).exists(),
        }
    }

    fn describe(&self) -> String {
        match self.provides {
            Provides::Command(c) => format!("`{c}` (package {})", self.package),
            Provides::File(f) => format!("{f} (package {})", self.package),
        }
    }
}

/// The executable `name` in one of the folders of `path`.
pub fn find_command(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The needs not met, looking for commands in `path`.
pub fn missing<'a>(needs: &'a [Need], path: &OsStr) -> Vec<&'a Need> {
    needs.iter().filter(|n| !n.present(path)).collect()
}

/// The packages to install for these needs, each once, in order.
pub fn packages(needs: &[&Need]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in needs {
        if !out.contains(&n.package) {
            out.push(n.package);
        }
    }
    out
}

/// How this process can run `apt-get` as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// It is root.
    Root,
    /// `sudo -n` works without a password.
    Sudo,
    /// Neither.
    None,
}

impl Privilege {
    /// Finds out (running `sudo -n true` when not root).
    pub fn detect() -> Privilege {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return Privilege::Root;
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        if find_command("sudo", &path).is_none() {
            return Privilege::None;
        }
        let ok = Command::new("sudo")
            .args(["-n", "true"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok { Privilege::Sudo } else { Privilege::None }
    }

    /// The command line that runs `apt-get ARGS` as root this way.
    fn apt_get(self, args: &[&str]) -> Command {
        let mut c = if self == Privilege::Root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null());
        c
    }
}

/// The error when the packages cannot be installed by this process.
pub fn cannot_install(purpose: &str, missing: &[&Need], why: &str) -> String {
    let list: Vec<String> = missing.iter().map(|n| n.describe()).collect();
    format!(
        "{purpose} needs {} ({why}); install {} with:\n    sudo apt-get install -y {}",
        list.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
        packages(missing).join(" ")
    )
}

/// Whether apt-get's output says it does not know a package (no package lists yet, or stale).
fn lists_missing(output: &str) -> bool {
    output.contains("Unable to locate package")
        || output.contains("has no installation candidate")
        || output.contains("Failed to fetch")
        || output.contains("404  Not Found")
}

/// Makes sure every need is met for `purpose` ("building a User-Mode Linux kernel"),
/// installing the missing Debian packages; reports on standard error what it installs.
pub fn ensure(purpose: &str, needs: &[Need]) -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if missing(needs, &path).is_empty() {
        return Ok(());
    }
    let privilege = Privilege::detect();
    ensure_with(purpose, needs, &path, privilege, &mut |args: &[&str]| {
        let o = privilege
            .apt_get(args)
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        Ok((
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ))
    })
}

/// Runs `apt-get ARGS` as root: whether it succeeded, and its output.
pub type AptGet<'a> = dyn FnMut(&[&str]) -> Result<(bool, String), String> + 'a;

/// What [`ensure`] does, with `apt` running `apt-get ARGS` as root (returning whether it
/// succeeded, and its output).
pub fn ensure_with(
    purpose: &str,
    needs: &[Need],
    path: &OsStr,
    privilege: Privilege,
    apt: &mut AptGet<'_>,
) -> Result<(), String> {
    let miss = missing(needs, path);
    if miss.is_empty() {
        return Ok(());
    }
    if privilege == Privilege::None {
        return Err(cannot_install(
            purpose,
            &miss,
            "not root, and `sudo -n` cannot run apt-get",
        ));
    }
    let pkgs = packages(&miss);
    eprintln!(
        "host: {purpose} needs {}: installing {} with {}apt-get",
        miss.iter()
            .map(|n| n.describe())
            .collect::<Vec<_>>()
            .join(", "),
        pkgs.join(" "),
        if privilege == Privilege::Sudo {
            "sudo -n "
        } else {
            ""
        }
    );
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(pkgs.iter().copied());
    let (mut ok, mut out) = apt(&args)?;
    if !ok && lists_missing(&out) {
        eprintln!("host: apt-get knows no such package yet: running apt-get update once");
        let (updated, uout) = apt(&["update"])?;
        if !updated {
            return Err(format!(
                "{purpose}: `apt-get update` failed:\n{}",
                tail(&uout)
            ));
        }
        (ok, out) = apt(&args)?;
    }
    let still = missing(needs, path);
    if !ok || !still.is_empty() {
        return Err(format!(
            "{purpose}: `apt-get {}` {}:\n{}\n{}",
            args.join(" "),
            if ok {
                "did not provide everything"
            } else {
                "failed"
            },
            tail(&out),
            cannot_install(purpose, &still, "still missing")
        ));
    }
    Ok(())
}

/// The last lines of a long output.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Runs `cmd` with its output appended to `log`, saying every 30 s on standard error that it
/// is still running, for how long, and the last line it wrote (a kernel build is silent for
/// minutes otherwise). Returns its exit status.
pub fn run_logged_with_heartbeat(
    cmd: &mut Command,
    log: &Path,
    what: &str,
) -> Result<std::process::ExitStatus, String> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e} (log: {})", log.display()))?;
    let started = std::time::Instant::now();
    let heartbeat = std::time::Duration::from_secs(30);
    let mut next_report = started + heartbeat;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        if std::time::Instant::now() >= next_report {
            next_report += heartbeat;
            let elapsed = started.elapsed().as_secs();
            let last = std::fs::read_to_string(log)
                .ok()
                .and_then(|t| {
                    t.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            eprintln!(
                "still {what} ({}m{:02}s; last: {})",
                elapsed / 60,
                elapsed % 60,
                last.trim().chars().take(100).collect::<String>()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_with(tools: &[&str]) -> (tempfile::TempDir, std::ffi::OsString) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        for t in tools {
            let p = dir.path().join(t);
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // A file that is there but not executable is not a command.
        std::fs::write(dir.path().join("bison"), "").expect("write");
        let path = dir.path().as_os_str().to_owned();
        (dir, path)
    }

    #[test]
    fn finds_what_is_missing_on_path() {
        let (_d, path) = path_with(&["make", "gcc", "ld", "perl", "python3", "tar", "xz", "bc"]);
        let miss = missing(KUNIT_UML, &path);
        let cmds: Vec<Provides> = miss
            .iter()
            .map(|n| n.provides)
            .filter(|p| matches!(p, Provides::Command(_)))
            .collect();
        assert_eq!(
            cmds,
            vec![Provides::Command("flex"), Provides::Command("bison")]
        );
        let (_d, full) = path_with(&[
            "make", "gcc", "ld", "perl", "python3", "tar", "xz", "bc", "flex",
        ]);
        assert!(
            missing(&KUNIT_UML[..10], &full)
                .iter()
                .all(|n| n.package == "bison")
        );
    }

    #[test]
    fn packages_are_named_once() {
        let a = cmd("a", "pkg-a");
        let b = cmd("b", "pkg-a");
        let c = cmd("c", "pkg-c");
        assert_eq!(packages(&[&a, &b, &c]), vec!["pkg-a", "pkg-c"]);
    }

    #[test]
    fn the_error_without_privilege_names_packages_and_command() {
        let (_d, path) = path_with(&["make"]);
        let miss = missing(&KUNIT_UML[..5], &path);
        let e = cannot_install("building a kernel", &miss, "not root");
        assert!(e.contains("`flex` (package flex)"), "{e}");
        assert!(
            e.contains("sudo apt-get install -y gcc binutils flex bison"),
            "{e}"
        );
        assert!(e.starts_with("building a kernel needs "), "{e}");
    }

    #[test]
    fn apt_output_that_calls_for_an_update() {
        assert!(lists_missing("E: Unable to locate package flex"));
        assert!(lists_missing(
            "E: Package 'bison' has no installation candidate"
        ));
        assert!(!lists_missing("E: Could not open lock file"));
    }

    /// A fake apt-get: records its calls; `install` "installs" by creating the commands in
    /// `dir`, and fails for want of package lists until `update` ran (when `lists` is false).
    fn fake_apt<'a>(
        dir: &Path,
        mut lists: bool,
        calls: &'a mut Vec<String>,
    ) -> impl FnMut(&[&str]) -> Result<(bool, String), String> + 'a {
        use std::os::unix::fs::PermissionsExt;
        let dir = dir.to_path_buf();
        move |args: &[&str]| {
            calls.push(args.join(" "));
            match args[0] {
                "update" => {
                    lists = true;
                    Ok((true, String::new()))
                }
                "install" if !lists => Ok((false, "E: Unable to locate package flex".into())),
                "install" => {
                    for p in &args[3..] {
                        let f = dir.join(p);
                        std::fs::write(&f, "").map_err(|e| e.to_string())?;
                        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok((true, String::new()))
                }
                _ => Ok((false, "unexpected".into())),
            }
        }
    }

    const TWO: &[Need] = &[cmd("flex", "flex"), cmd("bison", "bison")];

    #[test]
    fn installs_what_is_missing_updating_the_lists_once_when_needed() {
        let (d, path) = path_with(&[]);
        let mut calls = Vec::new();
        let r = ensure_with(
            "t",
            TWO,
            &path,
            Privilege::Root,
            &mut fake_apt(d.path(), false, &mut calls),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(
            calls,
            vec![
                "install -y --no-install-recommends flex bison",
                "update",
                "install -y --no-install-recommends flex bison"
            ]
        );
        // Now present: nothing runs.
        let mut calls = Vec::new();
        let r = ensure_with(
            "t",
            TWO,
            &path,
            Privilege::Root,
            &mut fake_apt(d.path(), true, &mut calls),
        );
        assert_eq!(r, Ok(()));
        assert!(calls.is_empty());
    }

    #[test]
    fn without_privilege_nothing_runs_and_the_error_says_how() {
        let (d, path) = path_with(&[]);
        let mut calls = Vec::new();
        let e = ensure_with(
            "building a kernel",
            TWO,
            &path,
            Privilege::None,
            &mut fake_apt(d.path(), true, &mut calls),
        )
        .unwrap_err();
        assert!(calls.is_empty());
        assert!(e.contains("sudo apt-get install -y flex bison"), "{e}");
    }

    #[test]
    fn an_install_that_provides_nothing_is_an_error() {
        let (_d, path) = path_with(&[]);
        let e = ensure_with("t", TWO, &path, Privilege::Sudo, &mut |_: &[&str]| {
            Ok((true, "flex is already the newest version".to_string()))
        })
        .unwrap_err();
        assert!(e.contains("did not provide everything"), "{e}");
        assert!(
            e.contains("`flex` (package flex), `bison` (package bison)"),
            "{e}"
        );
    }
}
