//! Getting a real Linux 7.2 to run here: the source from Debian sid (private apt state, the
//! machine's configuration untouched), the host tools, a minimal kernel, an initramfs with
//! the guest program, and QEMU with an emulated IOMMU and the `edu` device.

use host_tools::{self as host, Need};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The kernel configuration fragment, merged over Kconfig's defaults.
pub const KERNEL_CONFIG: &str = include_str!("../guest/kernel.config");
/// The guest program (PID 1 of the initramfs).
pub const GUEST_SOURCE: &str = include_str!("../guest/revoke_scenario.c");
/// The Debian source package.
pub const PACKAGE: &str = "linux-source-7.2";
/// The host packages the run needs: the kernel build's tools, the static C library for the
/// guest program, and QEMU.
pub const HOST_TOOLS: &[Need] = &[
    host::cmd("flex", "flex"),
    host::cmd("bison", "bison"),
    host::cmd("bc", "bc"),
    host::file("/usr/include/libelf.h", "libelf-dev"),
    host::cmd("qemu-system-x86_64", "qemu-system-x86"),
    host::cmd("gcc", "gcc"),
    host::cmd("make", "make"),
    host::file("/usr/lib/x86_64-linux-gnu/libc.a", "libc6-dev"),
    host::cmd("xz", "xz-utils"),
];

/// Where everything lives: `target/real-drivers` of the workspace.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The root of the cache.
    pub root: PathBuf,
}

impl Paths {
    /// Under `root`.
    pub fn new(root: PathBuf) -> Paths {
        Paths { root }
    }
    /// The unpacked kernel tree.
    pub fn source(&self) -> PathBuf {
        self.root.join(PACKAGE)
    }
    /// The kernel's build folder (`make O=`).
    pub fn build(&self) -> PathBuf {
        self.root.join("build")
    }
    /// The exported user-space headers.
    pub fn headers(&self) -> PathBuf {
        self.root.join("hdr")
    }
    /// The bzImage.
    pub fn bzimage(&self) -> PathBuf {
        self.build().join("arch/x86/boot/bzImage")
    }
    /// The initramfs.
    pub fn initramfs(&self) -> PathBuf {
        self.root.join("initramfs.cpio")
    }
    /// Logs and results of the last run.
    pub fn out(&self) -> PathBuf {
        self.root.join("out")
    }
}

/// Installs the missing host packages with apt-get (as root, or through `sudo -n`), as the
/// kernel bridge does; without either, one error names the packages and the command.
pub fn host_tools() -> Result<(), String> {
    host::ensure(
        "the real-drivers run (a Linux 7.2 kernel under QEMU)",
        HOST_TOOLS,
    )
}

/// Runs a command with its output appended to `log`; an error names the log.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let what = format!("running {:?}", cmd.get_program());
    let status = host::run_logged_with_heartbeat(cmd, log, &what)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed ({status}); see {}",
            cmd.get_program(),
            log.display()
        ))
    }
}

/// Fetches Debian's `linux-source-7.2` from sid (the kernel bridge's download, with a private
/// apt configuration, shared in `target/kernel/apt/7.2`) and unpacks it under the cache.
/// Cached: does nothing when the tree is there.
pub fn fetch_source(p: &Paths, log: &Path) -> Result<(), String> {
    if p.source().join("Makefile").exists() {
        return Ok(());
    }
    let bridge_work = p.root.parent().unwrap_or(&p.root).join("kernel");
    let tarball = kernel_bridge::debian_tarball("7.2", &bridge_work)?;
    // tar runs in the cache folder: the path must not be relative to this one.
    let tarball =
        std::path::absolute(&tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    eprintln!("real-drivers: unpacking {}", tarball.display());
    run_logged(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .current_dir(&p.root),
        log,
    )?;
    if !p.source().join("Makefile").exists() {
        return Err(format!(
            "{} has no {PACKAGE}/Makefile; see {}",
            tarball.display(),
            log.display()
        ));
    }
    Ok(())
}

fn stamp(text: &str) -> String {
    // FNV-1a: enough to notice that the configuration fragment changed.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Configures and builds the kernel (`make -j2`); cached: skipped when the bzImage was built
/// from this configuration fragment. Returns the time spent building, if it built.
pub fn build_kernel(p: &Paths, log: &Path, jobs: u32) -> Result<Option<Duration>, String> {
    let build = p.build();
    let stamp_file = build.join(".real-drivers-config");
    let want = stamp(KERNEL_CONFIG);
    if p.bzimage().exists() && fs::read_to_string(&stamp_file).is_ok_and(|s| s.trim() == want) {
        return Ok(None);
    }
    fs::create_dir_all(&build).map_err(|e| e.to_string())?;
    fs::write(build.join(".config"), KERNEL_CONFIG).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.arg("O=../build")
            .arg("ARCH=x86_64")
            .args(args)
            .current_dir(p.source());
        c
    };
    eprintln!("real-drivers: building Linux 7.2 (log: {})", log.display());
    run_logged(&mut make(&["olddefconfig"]), log)?;
    let config = fs::read_to_string(build.join(".config")).unwrap_or_default();
    for needed in [
        "CONFIG_VFIO_PCI_DMABUF=y",
        "CONFIG_IOMMUFD=y",
        "CONFIG_INTEL_IOMMU=y",
        "CONFIG_KPROBE_EVENTS=y",
        "CONFIG_VFIO_DEVICE_CDEV=y",
    ] {
        if !config.lines().any(|l| l == needed) {
            return Err(format!(
                "the kernel configuration lost {needed} in olddefconfig (see {}/.config)",
                build.display()
            ));
        }
    }
    run_logged(&mut make(&[&format!("-j{jobs}"), "bzImage"]), log)?;
    run_logged(&mut make(&["headers"]), log)?;
    fs::write(&stamp_file, want).map_err(|e| e.to_string())?;
    Ok(Some(t.elapsed()))
}

/// Compiles the guest program statically against the 7.2 user-space headers and packs it
/// as `/init` into a newc initramfs, with `/dev/console` and the mount points.
pub fn build_initramfs(p: &Paths, log: &Path) -> Result<(), String> {
    let src = p.root.join("revoke_scenario.c");
    fs::write(&src, GUEST_SOURCE).map_err(|e| e.to_string())?;
    let init = p.root.join("init");
    run_logged(
        Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-Wno-format-truncation", "-I"])
            .arg(p.build().join("usr/include"))
            .arg("-o")
            .arg(&init)
            .arg(&src),
        log,
    )
    .map_err(|e| {
        format!("compiling the guest program: {e} (static glibc is libc6-dev's libc.a)")
    })?;
    let binary = fs::read(&init).map_err(|e| e.to_string())?;
    let mut cpio = Vec::new();
    let mut ino = 1;
    let mut entry = |name: &str, mode: u32, rdev: (u32, u32), data: &[u8]| {
        newc(&mut cpio, ino, name, mode, rdev, data);
        ino += 1;
    };
    for d in ["dev", "proc", "sys", "sys/kernel", "sys/kernel/tracing"] {
        entry(d, 0o040755, (0, 0), &[]);
    }
    entry("dev/console", 0o020600, (5, 1), &[]);
    entry("init", 0o100755, (0, 0), &binary);
    newc(&mut cpio, 0, "TRAILER!!!", 0, (0, 0), &[]);
    fs::write(p.initramfs(), cpio).map_err(|e| e.to_string())
}

/// One newc (`070701`) cpio entry.
pub fn newc(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let namesize = name.len() + 1;
    let fields = [
        ino,
        mode,
        0,
        0,
        1,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        namesize as u32,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// The QEMU command line: TCG (KVM hangs on these machines), q35 with an Intel IOMMU,
/// the `edu` device for vfio-pci.
pub fn qemu_command(p: &Paths) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    c.args([
        "-accel",
        "tcg",
        "-machine",
        "q35,kernel-irqchip=split",
        "-m",
        "512",
    ])
    .args([
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-monitor",
        "none",
        "-serial",
        "stdio",
    ])
    .args([
        "-device",
        "intel-iommu,intremap=on,caching-mode=on",
        "-device",
        "edu",
    ]);
    // A device with a function reset, for VFIO_DEVICE_RESET: virtio-rng (modern) on a PCIe
    // root port, which gives it FLR.
    c.args(["-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1"])
        .args(["-device", "virtio-rng-pci,bus=rp1,disable-legacy=on"]);
    if Path::new("/usr/share/qemu/qboot.rom").exists() {
        c.args(["-bios", "qboot.rom"]);
    }
    c.arg("-kernel")
        .arg(p.bzimage())
        .arg("-initrd")
        .arg(p.initramfs())
        .arg("-append")
        .arg(KERNEL_COMMAND_LINE);
    c
}

/// The guest kernel's command line. `no_timer_check`: under TCG on a loaded host the guest's
/// check that the timer interrupt arrives through the interrupt-remapped IO-APIC can time out,
/// and with interrupt remapping on the kernel then panics ("timer doesn't work through
/// Interrupt-remapped IO-APIC", seen here at a host load of 14); the check says nothing about
/// the drivers under test, so it is skipped, as is usual for virtual machines.
pub const KERNEL_COMMAND_LINE: &str = "console=ttyS0 intel_iommu=on no_timer_check \
     vfio-pci.ids=1234:11e8,1af4:1044 loglevel=4 panic=-1 rdinit=/init";

/// Boots the guest and returns its console; the console is also written to `log`. Fails
/// with the log's path when QEMU is missing, fails or does not finish within `timeout`.
pub fn boot(p: &Paths, log: &Path, timeout: Duration) -> Result<(String, Duration), String> {
    let t = Instant::now();
    let out = fs::File::create(log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut child = qemu_command(p)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start qemu-system-x86_64: {e} (install qemu-system-x86; log: {})",
                log.display()
            )
        })?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let text = fs::read_to_string(log).unwrap_or_default();
            if !status.success() {
                return Err(format!("QEMU exited with {status}; see {}", log.display()));
            }
            return Ok((text, t.elapsed()));
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the guest did not power off within {} s; see {}",
                timeout.as_secs(),
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Appends a line to a log.
pub fn note(log: &Path, line: &str) {
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_are_aligned_and_named() {
        let mut out = Vec::new();
        newc(&mut out, 1, "init", 0o100755, (0, 0), b"abc");
        assert_eq!(&out[..6], b"070701");
        assert_eq!(out.len() % 4, 0);
        // 110 bytes of header, the name and its NUL, padded, then the data, padded.
        assert_eq!(&out[110..115], b"init\0");
        assert_eq!(&out[116..119], b"abc");
        // The file size field (7th) says 3.
        assert_eq!(&out[6 + 6 * 8..6 + 7 * 8], b"00000003");
    }

    #[test]
    fn the_configuration_asks_for_the_drivers() {
        for o in [
            "CONFIG_VFIO_PCI=y",
            "CONFIG_IOMMUFD=y",
            "CONFIG_PCI_P2PDMA=y",
            "CONFIG_KPROBE_EVENTS=y",
        ] {
            assert!(KERNEL_CONFIG.lines().any(|l| l == o), "{o}");
        }
        assert_ne!(stamp("a"), stamp("b"));
    }
}
