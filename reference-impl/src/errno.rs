//! Kernel-style error numbers, returned as `Err(Errno)` where the kernel returns `-E...`.

use std::fmt;

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
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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
}

impl Errno {
    /// The negative value the kernel returns.
    pub fn to_kernel(self) -> i64 {
        -match self {
            Errno::EINVAL => 22,
            Errno::EOPNOTSUPP => 95,
            Errno::ENODEV => 19,
            Errno::EBUSY => 16,
            Errno::ENOMEM => 12,
            Errno::ETIME => 62,
            Errno::ERESTARTSYS => 512,
        }
    }

    /// The errno whose negative kernel value is `value` (`-19` is `ENODEV`), if the model
    /// knows it.
    pub fn from_kernel(value: i64) -> Option<Errno> {
        [
            Errno::EINVAL,
            Errno::EOPNOTSUPP,
            Errno::ENODEV,
            Errno::EBUSY,
            Errno::ENOMEM,
            Errno::ETIME,
            Errno::ERESTARTSYS,
        ]
        .into_iter()
        .find(|e| e.to_kernel() == value)
    }

    /// The symbolic name without sign (`ENODEV`).
    pub fn name(self) -> &'static str {
        match self {
            Errno::EINVAL => "EINVAL",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ENODEV => "ENODEV",
            Errno::EBUSY => "EBUSY",
            Errno::ENOMEM => "ENOMEM",
            Errno::ETIME => "ETIME",
            Errno::ERESTARTSYS => "ERESTARTSYS",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{}", self.name())
    }
}
