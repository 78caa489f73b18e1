//! `--partition K/N`: one of N parts of a run, so that a large run (every shim, every case
//! variant, and later every generated scenario) can be split across N CI jobs that together
//! run everything exactly once.
//!
//! An item belongs to a part by a stable hash of its name (FNV-1a of `case[variant]`, or of a
//! generated scenario's name), not by its position: a case variant stays in its part whatever
//! the filter, the platform or the build, and adding a case moves no other case to another
//! job (so a job's expectations and history stay its own).

use std::fmt;
use std::str::FromStr;

/// Part `index` of `count` (1-based, as CI systems number parallel jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    index: u64,
    count: u64,
}

/// A `--partition` that names no part of a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Not `K/N` with numbers.
    #[error("--partition {0}: give K/N, part K of N jobs (such as 2/4)")]
    Malformed(String),
    /// `K` outside `1..=N`.
    #[error("--partition {index}/{count}: give K/N with 1 <= K <= N (part K of N jobs)")]
    OutOfRange {
        /// `K`.
        index: u64,
        /// `N`.
        count: u64,
    },
}

impl Partition {
    /// The whole run: part 1 of 1.
    pub const WHOLE: Partition = Partition { index: 1, count: 1 };

    /// Part `index` of `count`; `index` runs from 1 to `count`.
    pub fn new(index: u64, count: u64) -> Result<Partition, PartitionError> {
        if count == 0 || index == 0 || index > count {
            return Err(PartitionError::OutOfRange { index, count });
        }
        Ok(Partition { index, count })
    }

    /// Whether the item named `name` belongs to this part.
    pub fn takes(&self, name: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % self.count == self.index - 1
    }

    /// Whether this is the whole run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }
}

impl Default for Partition {
    fn default() -> Partition {
        Partition::WHOLE
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    /// Reads `K/N`.
    fn from_str(s: &str) -> Result<Partition, PartitionError> {
        let bad = || PartitionError::Malformed(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Partition::new(k, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<String> {
        crate::spec()
            .variants()
            .map(|(c, v)| c.variant_name(v))
            .collect()
    }

    /// For every split into 1 to 12 jobs, each case variant of the book is in exactly one
    /// part, and with up to 4 jobs no job is empty.
    #[test]
    fn the_parts_are_disjoint_and_cover_every_case_variant() {
        let all = every_variant();
        for n in 1..=12 {
            let parts: Vec<Partition> = (1..=n)
                .map(|k| Partition::new(k, n).expect("valid"))
                .collect();
            for name in &all {
                let owners = parts.iter().filter(|p| p.takes(name)).count();
                assert_eq!(owners, 1, "{name} is in {owners} of {n} parts");
            }
            if n <= 4 {
                for p in &parts {
                    let size = all.iter().filter(|name| p.takes(name)).count();
                    assert!(size > 0, "part {p} is empty");
                }
            }
        }
    }

    #[test]
    fn a_part_is_read_as_k_of_n_and_nonsense_is_refused() {
        assert_eq!("2/4".parse::<Partition>(), Partition::new(2, 4));
        assert_eq!("1/1".parse::<Partition>(), Ok(Partition::WHOLE));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/2", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        assert_eq!(Partition::new(3, 8).expect("valid").to_string(), "3/8");
    }

    /// The assignment is a function of the name alone: fixed values, so that a change of the
    /// hash (which would move cases between CI jobs) is seen.
    #[test]
    fn the_assignment_depends_only_on_the_name() {
        let p = |k| Partition::new(k, 4).expect("valid");
        let owner = |name: &str| (1..=4).find(|&k| p(k).takes(name));
        assert_eq!(owner("revoke_around_reset[iommufd]"), Some(1));
        assert_eq!(owner("orderly_teardown[iommufd]"), Some(1));
        assert_eq!(owner("attach_after_revoke_fails"), Some(3));
        let spread: std::collections::BTreeSet<_> =
            every_variant().iter().map(|n| owner(n)).collect();
        assert_eq!(spread.len(), 4);
    }
}
