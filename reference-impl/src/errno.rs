//! Kernel-style error numbers, returned as `Err(Errno)` where the kernel returns `-E...`.
//!
//! Any errno a driver can return is one (1 to `MAX_ERRNO`, 4095): the rules judge which one a
//! driver returned (`-EIO` where the book requires `-ENODEV` fails that rule, naming both),
//! so the model and the wire accept every errno, not only the ones the reference drivers use.

use std::fmt;

/// `MAX_ERRNO` (`include/linux/err.h`): the largest errno, and the range of error pointers.
const MAX_ERRNO: u16 = 4095;

/// An error number as the kernel returns it, negated (`-ENODEV`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
// The variants are the kernel's names already; serde keeps them as written (`"ENODEV"`).
pub enum Errno {
    /// Invalid argument (22).
    EINVAL,
    /// Operation not supported (95).
    EOPNOTSUPP,
    /// No such device: the buffer is revoked (19).
    ENODEV,
    /// Device or resource busy (16).
    EBUSY,
    /// Out of memory (12).
    ENOMEM,
    /// Timer expired (62).
    ETIME,
    /// Interrupted system call, to be restarted (512).
    ERESTARTSYS,
    /// Operation not permitted (1).
    EPERM,
    /// No such file or directory (2).
    ENOENT,
    /// Interrupted system call (4).
    EINTR,
    /// I/O error (5).
    EIO,
    /// No such device or address (6).
    ENXIO,
    /// Try again (11).
    EAGAIN,
    /// Bad address (14).
    EFAULT,
    /// File exists (17).
    EEXIST,
    /// No space left on device (28).
    ENOSPC,
    /// Function not implemented (38).
    ENOSYS,
    /// Operation not supported, the kernel-internal code (524).
    ENOTSUPP,
    /// Any other errno, by number (1 to 4095).
    #[serde(rename = "other")]
    Other(u16),
}

/// The named errnos and their numbers.
const NAMED: &[(Errno, u16, &str)] = &[
    (Errno::EINVAL, 22, "EINVAL"),
    (Errno::EOPNOTSUPP, 95, "EOPNOTSUPP"),
    (Errno::ENODEV, 19, "ENODEV"),
    (Errno::EBUSY, 16, "EBUSY"),
    (Errno::ENOMEM, 12, "ENOMEM"),
    (Errno::ETIME, 62, "ETIME"),
    (Errno::ERESTARTSYS, 512, "ERESTARTSYS"),
    (Errno::EPERM, 1, "EPERM"),
    (Errno::ENOENT, 2, "ENOENT"),
    (Errno::EINTR, 4, "EINTR"),
    (Errno::EIO, 5, "EIO"),
    (Errno::ENXIO, 6, "ENXIO"),
    (Errno::EAGAIN, 11, "EAGAIN"),
    (Errno::EFAULT, 14, "EFAULT"),
    (Errno::EEXIST, 17, "EEXIST"),
    (Errno::ENOSPC, 28, "ENOSPC"),
    (Errno::ENOSYS, 38, "ENOSYS"),
    (Errno::ENOTSUPP, 524, "ENOTSUPP"),
];

impl Errno {
    /// The negative value the kernel returns.
    pub fn to_kernel(self) -> i64 {
        match self {
            Errno::Other(n) => -i64::from(n),
            named => NAMED
                .iter()
                .find(|(e, _, _)| *e == named)
                .map_or(0, |(_, n, _)| -i64::from(*n)),
        }
    }

    /// The errno whose negative kernel value is `value` (`-19` is `ENODEV`): any value from
    /// -1 to -4095 (`-MAX_ERRNO`) is one; anything else is not an errno.
    pub fn from_kernel(value: i64) -> Option<Errno> {
        let n = u16::try_from(value.checked_neg()?)
            .ok()
            .filter(|n| (1..=MAX_ERRNO).contains(n))?;
        Some(
            NAMED
                .iter()
                .find(|(_, v, _)| *v == n)
                .map_or(Errno::Other(n), |(e, _, _)| *e),
        )
    }

    /// The symbolic name without sign (`ENODEV`), or the number for an errno without a name
    /// here (`errno 133`).
    pub fn name(self) -> String {
        match self {
            Errno::Other(n) => format!("errno {n}"),
            named => NAMED
                .iter()
                .find(|(e, _, _)| *e == named)
                .map_or_else(String::new, |(_, _, s)| (*s).to_string()),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Errno::Other(n) => write!(f, "-{n}"),
            named => write!(f, "-{}", named.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every errno the kernel can return round-trips, named or not; nothing else is one.
    #[test]
    fn every_kernel_errno_is_one() {
        for n in 1..=i64::from(MAX_ERRNO) {
            let e = Errno::from_kernel(-n).expect("an errno");
            assert_eq!(e.to_kernel(), -n);
        }
        assert_eq!(Errno::from_kernel(-5), Some(Errno::EIO));
        assert_eq!(Errno::from_kernel(-19), Some(Errno::ENODEV));
        assert_eq!(Errno::from_kernel(-133), Some(Errno::Other(133)));
        assert_eq!(Errno::EIO.to_string(), "-EIO");
        assert_eq!(Errno::Other(133).to_string(), "-133");
        for not in [0, 1, -4096, -9999, i64::MIN] {
            assert_eq!(Errno::from_kernel(not), None, "{not}");
        }
        let mut names: Vec<String> = NAMED.iter().map(|(e, _, _)| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NAMED.len());
    }

    /// In traces (JSON), an errno is the kernel's name, as the KUnit bridge writes it too
    /// (`kernel/revoke_spec_kunit.c`, `errname()`), and any other by number.
    #[test]
    fn serialises_as_the_kernels_name() {
        for (e, _, name) in NAMED {
            let json = serde_json::to_string(e).expect("serialises");
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Errno>(&json).ok(), Some(*e));
        }
        let other = serde_json::to_string(&Errno::Other(133)).expect("serialises");
        assert_eq!(other, r#"{"other":133}"#);
        assert_eq!(
            serde_json::from_str::<Errno>(&other).ok(),
            Some(Errno::Other(133))
        );
        assert!(serde_json::from_str::<Errno>("\"E_N_O_D_E_V\"").is_err());
    }
}
