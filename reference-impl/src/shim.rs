//! Shims: a driver's implementation of one role (exporter, importer or core), wrapped behind
//! the suite's interface. A shim says which reference *profiles* it can stand in for; the
//! harness plays every other role with the reference drivers.

use std::fmt;
use std::rc::Rc;

use crate::{
    AttId, BufId, DmaBufCore, Exporter, ExporterKind, Importer, ImporterKind, Roles, Step,
};

/// The role a shim plays.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `struct dma_buf_ops`, and the driver actions around it (export, revoke, move...).
    Exporter,
    /// `struct dma_buf_attach_ops` (or none, for a static importer), and the driver actions
    /// around it (attach, map, device access...).
    Importer,
    /// The dma-buf core itself.
    Core,
    /// A shim process that never said what it is (its hello failed).
    Unknown,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Exporter => "exporter",
            Role::Importer => "importer",
            Role::Core => "core",
            Role::Unknown => "unknown",
        })
    }
}

impl ExporterKind {
    /// The profile's name, as cases and shims refer to it.
    pub fn name(self) -> &'static str {
        match self {
            ExporterKind::Vfio => "vfio",
            ExporterKind::Gpu => "gpu",
        }
    }

    /// What an exporter of this profile does.
    pub fn capabilities(self) -> &'static [&'static str] {
        match self {
            ExporterKind::Vfio => &[
                "revokes-pinned",
                "restores",
                "requires-revocable-importers",
                "peer2peer-only",
            ],
            ExporterKind::Gpu => &[
                "moves-unpinned",
                "pin",
                "pin-placement-by-peer2peer",
                "vmap",
                "mmap",
            ],
        }
    }
}

impl ImporterKind {
    /// The profile's name, as cases and shims refer to it.
    pub fn name(self) -> &'static str {
        match self {
            ImporterKind::Static => "static",
            ImporterKind::Dynamic => "dynamic",
            ImporterKind::Iommufd => "iommufd",
            ImporterKind::Rdma => "rdma",
        }
    }

    /// What an importer of this profile does.
    pub fn capabilities(self) -> &'static [&'static str] {
        match self {
            ImporterKind::Static => &["static-attach"],
            ImporterKind::Dynamic => &["invalidate-mappings", "remaps", "fences-work", "vmap"],
            ImporterKind::Iommufd => &["pins", "invalidate-mappings", "permanent-revoke"],
            ImporterKind::Rdma => &["pins", "no-invalidate-mappings"],
        }
    }
}

/// How a shim builds the instance of its role.
#[derive(Clone, Copy)]
pub enum ShimRole {
    /// An exporter standing in for the reference exporters of the listed profiles.
    Exporter {
        /// The profiles it can play.
        plays: &'static [ExporterKind],
        /// Builds the exporter of one buffer.
        make: fn(BufId) -> Rc<dyn Exporter>,
    },
    /// An importer standing in for the reference importers of the listed profiles.
    Importer {
        /// The profiles it can play.
        plays: &'static [ImporterKind],
        /// Builds the importer owning one attachment.
        make: fn(AttId) -> Rc<dyn Importer>,
    },
    /// A core.
    Core {
        /// Builds the core.
        make: fn() -> Rc<dyn DmaBufCore>,
    },
}

/// A driver's implementation of one role.
#[derive(Clone, Copy)]
pub struct Shim {
    /// Short name (`vfio-pci`).
    pub name: &'static str,
    /// One line on what it wraps.
    pub description: &'static str,
    /// Its role and how to build it.
    pub role: ShimRole,
}

impl Shim {
    /// The role it plays.
    pub fn role(&self) -> Role {
        match self.role {
            ShimRole::Exporter { .. } => Role::Exporter,
            ShimRole::Importer { .. } => Role::Importer,
            ShimRole::Core { .. } => Role::Core,
        }
    }

    /// The profiles it plays, by name (`core` for a core).
    pub fn plays(&self) -> Vec<&'static str> {
        match self.role {
            ShimRole::Exporter { plays, .. } => plays.iter().map(|k| k.name()).collect(),
            ShimRole::Importer { plays, .. } => plays.iter().map(|k| k.name()).collect(),
            ShimRole::Core { .. } => vec!["core"],
        }
    }

    /// Its capabilities: those of every profile it plays.
    pub fn capabilities(&self) -> Vec<&'static str> {
        let mut caps: Vec<&'static str> = match self.role {
            ShimRole::Exporter { plays, .. } => plays
                .iter()
                .flat_map(|k| k.capabilities())
                .copied()
                .collect(),
            ShimRole::Importer { plays, .. } => plays
                .iter()
                .flat_map(|k| k.capabilities())
                .copied()
                .collect(),
            ShimRole::Core { .. } => vec!["core"],
        };
        caps.sort_unstable();
        caps.dedup();
        caps
    }

    /// Whether a scenario exercises this shim: `Err` gives the reason it does not.
    pub fn applies_to(&self, steps: &[Step]) -> Result<(), String> {
        profiles_apply(self.role(), &self.plays(), steps)
    }

    /// The reference roles, with this shim standing in wherever it plays the profile.
    pub fn roles(&self) -> Roles {
        match self.role {
            ShimRole::Exporter { plays, make } => {
                Roles::with_exporter(move |kind, buf| plays.contains(&kind).then(|| make(buf)))
            }
            ShimRole::Importer { plays, make } => {
                Roles::with_importer(move |kind, att| plays.contains(&kind).then(|| make(att)))
            }
            ShimRole::Core { make } => Roles {
                core: Box::new(make),
                ..Roles::reference()
            },
        }
    }
}

/// Whether a scenario exercises a shim of `role` playing the profiles `plays`: a core always,
/// an exporter or importer when a step uses one of its profiles. `Err` gives the reason.
pub fn profiles_apply(role: Role, plays: &[&str], steps: &[Step]) -> Result<(), String> {
    if role == Role::Core {
        return Ok(());
    }
    let used: Vec<&'static str> = steps
        .iter()
        .filter_map(|s| match (role, s) {
            (Role::Exporter, Step::Export { exporter, .. }) => Some(exporter.name()),
            (
                Role::Importer,
                Step::Attach { importer, .. } | Step::AttachDuringEviction { importer, .. },
            ) => Some(importer.name()),
            _ => None,
        })
        .collect();
    if used.iter().any(|k| plays.contains(k)) {
        Ok(())
    } else if used.is_empty() {
        Err(format!("the case has no {role}; this shim is an {role}"))
    } else {
        Err(format!(
            "the case needs an {role} of profile {}; this shim plays {}",
            names(used.into_iter()),
            names(plays.iter().copied())
        ))
    }
}

/// The names of the profiles a shim of `role` can play.
pub fn profile_names(role: Role) -> Vec<&'static str> {
    match role {
        Role::Exporter => [ExporterKind::Vfio, ExporterKind::Gpu]
            .into_iter()
            .map(|k| k.name())
            .collect(),
        Role::Importer => [
            ImporterKind::Static,
            ImporterKind::Dynamic,
            ImporterKind::Iommufd,
            ImporterKind::Rdma,
        ]
        .into_iter()
        .map(|k| k.name())
        .collect(),
        Role::Core | Role::Unknown => Vec::new(),
    }
}

/// The capabilities of the exporter or importer profile named `name`.
pub fn profile_capabilities(role: Role, name: &str) -> Option<&'static [&'static str]> {
    match role {
        Role::Exporter => [ExporterKind::Vfio, ExporterKind::Gpu]
            .into_iter()
            .find(|k| k.name() == name)
            .map(|k| k.capabilities()),
        Role::Importer => [
            ImporterKind::Static,
            ImporterKind::Dynamic,
            ImporterKind::Iommufd,
            ImporterKind::Rdma,
        ]
        .into_iter()
        .find(|k| k.name() == name)
        .map(|k| k.capabilities()),
        Role::Core | Role::Unknown => None,
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's table of profiles (`book/src/shims.md`) names, for each profile, exactly the
    /// capabilities `hello` accepts for it.
    #[test]
    fn the_books_table_of_profiles_lists_their_capability_names() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src/shims.md"),
        )
        .expect("book/src/shims.md");
        let row = |role: &str, profile: &str| -> Vec<String> {
            let start = format!("| {role} | `{profile}` |");
            let line = page
                .lines()
                .find(|l| l.starts_with(&start))
                .unwrap_or_else(|| panic!("no row for the {role} profile {profile}"));
            let last = line.trim_end_matches('|').rsplit('|').next().unwrap_or("");
            last.split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .filter(|c| !c.is_empty())
                .collect()
        };
        for k in [ExporterKind::Vfio, ExporterKind::Gpu] {
            assert_eq!(row("exporter", k.name()), k.capabilities(), "{}", k.name());
        }
        for k in [
            ImporterKind::Static,
            ImporterKind::Dynamic,
            ImporterKind::Iommufd,
            ImporterKind::Rdma,
        ] {
            assert_eq!(row("importer", k.name()), k.capabilities(), "{}", k.name());
        }
    }
}
