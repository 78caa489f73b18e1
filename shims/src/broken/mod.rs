//! Deliberately broken shims: each is an in-tree shim with one concrete, realistic bug (from
//! the seed thread and the fixes that followed it), and names the rule the bug breaks. The
//! test suite proves the conformance suite rejects each of them for that rule.

/// `broken!(CONST, "broken-name", role, "the bug", "rule.it.breaks")`: a broken shim whose
/// description is its bug.
macro_rules! broken {
    ($const:ident, $name:literal, $role:expr, $bug:literal, $breaks:literal) => {
        pub(crate) const $const: super::Broken = super::Broken {
            shim: reference_impl::Shim {
                name: $name,
                description: $bug,
                role: $role,
            },
            bug: $bug,
            breaks: $breaks,
        };
    };
}

pub(crate) mod core;
pub(crate) mod gpu;
pub(crate) mod iommufd;
pub(crate) mod scanout;
pub(crate) mod vfio;

use reference_impl::Shim;

use crate::registry::Runs;

/// A broken shim and what is wrong with it.
#[derive(Clone, Copy)]
pub struct Broken {
    /// The shim (named `broken-...`).
    pub shim: Shim,
    /// The bug, in one sentence.
    pub bug: &'static str,
    /// The rule the bug breaks: the suite must report this rule violated.
    pub breaks: &'static str,
}

/// Every broken in-process shim, in the order of the registry ([`crate::registry`]).
pub fn all() -> Vec<Broken> {
    crate::registry::all()
        .into_iter()
        .filter_map(|r| match (r.runs, r.broken) {
            (Runs::InProcess { shim, .. }, Some(bug)) => Some(Broken {
                shim,
                bug: bug.bug,
                breaks: bug.breaks,
            }),
            _ => None,
        })
        .collect()
}
