//! Which case variants a run selects: `--filter` and `--exclude` patterns.

use crate::CaseDef;
use crate::partition::Partition;

/// Patterns over a case variant's name (`case[variant]`) and its rule IDs. A pattern with `*`
/// or `?` is a glob that must match the whole name or a whole rule ID (glob syntax: `[...]` is
/// a set of characters, so `[[]` is a literal `[`); any other pattern is a prefix of either
/// (so `revoke.` selects every case that checks a `revoke.*` rule, and
/// `revoke_around_reset[iommufd]` that one variant).
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    partition: Partition,
}

/// A `--filter` or `--exclude` pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}` is not a valid pattern: {reason}")]
pub struct BadPattern {
    /// The pattern as given.
    pub pattern: String,
    /// Why it is not valid.
    pub reason: String,
}

#[derive(Debug, Clone)]
enum Pattern {
    Prefix(String),
    Glob(glob::Pattern),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, BadPattern> {
        if text.contains(['*', '?']) {
            glob::Pattern::new(text)
                .map(Pattern::Glob)
                .map_err(|e| BadPattern {
                    pattern: text.to_string(),
                    reason: e.to_string(),
                })
        } else {
            Ok(Pattern::Prefix(text.to_string()))
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Prefix(p) => text.starts_with(p.as_str()),
            Pattern::Glob(g) => g.matches(text),
        }
    }

    fn selects(&self, case: &CaseDef, variant: &str) -> bool {
        self.matches(&case.variant_name(variant)) || case.rules.iter().any(|r| self.matches(r))
    }
}

impl CaseFilter {
    /// Every case variant.
    pub fn all() -> CaseFilter {
        CaseFilter::default()
    }

    /// The variants whose name, or one of whose rule IDs, starts with `prefix` (taken as
    /// written, never as a glob).
    pub fn prefix(prefix: &str) -> CaseFilter {
        CaseFilter {
            include: vec![Pattern::Prefix(prefix.to_string())],
            exclude: Vec::new(),
            partition: Partition::WHOLE,
        }
    }

    /// The variants matched by any of `include` (every variant when it is empty) and by none
    /// of `exclude`.
    pub fn new(include: &[String], exclude: &[String]) -> Result<CaseFilter, BadPattern> {
        let parse = |v: &[String]| {
            v.iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(CaseFilter {
            include: parse(include)?,
            exclude: parse(exclude)?,
            partition: Partition::WHOLE,
        })
    }

    /// The same filter, keeping only the variants of one part of the run (`--partition`).
    pub fn in_partition(self, partition: Partition) -> CaseFilter {
        CaseFilter { partition, ..self }
    }

    /// The part of the run this filter keeps.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// Whether the run takes this variant.
    pub fn selects(&self, case: &CaseDef, variant: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.selects(case, variant)))
            && !self.exclude.iter().any(|p| p.selects(case, variant))
            && (self.partition.is_whole() || self.partition.takes(&case.variant_name(variant)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(f: &CaseFilter) -> Vec<String> {
        crate::spec()
            .variants()
            .filter(|(c, v)| f.selects(c, v))
            .map(|(c, v)| c.variant_name(v))
            .collect()
    }

    #[test]
    fn prefixes_globs_and_exclusions() {
        let all = names(&CaseFilter::all());
        let revoke = names(&CaseFilter::new(&["revoke.".into()], &[]).expect("valid"));
        assert!(!revoke.is_empty() && revoke.len() < all.len());
        assert!(revoke.contains(&"revoke_around_reset[iommufd]".to_string()));

        let glob =
            names(&CaseFilter::new(&["revoke_around_reset[[]*".into()], &[]).expect("valid"));
        assert!(
            glob.iter().all(|n| n.starts_with("revoke_around_reset[")),
            "{glob:?}"
        );
        assert!(glob.len() >= 2, "{glob:?}");

        let two = names(
            &CaseFilter::new(
                &[
                    "orderly_teardown".into(),
                    "attach_after_revoke_fails".into(),
                ],
                &[],
            )
            .expect("valid"),
        );
        assert!(two.contains(&"attach_after_revoke_fails".to_string()));
        assert!(two.iter().any(|n| n.starts_with("orderly_teardown")));

        let without =
            names(&CaseFilter::new(&["revoke.".into()], &["*iommufd*".into()]).expect("valid"));
        assert!(
            !without.iter().any(|n| n.contains("iommufd")),
            "{without:?}"
        );
        assert!(without.len() < revoke.len());
    }

    #[test]
    fn a_bad_glob_is_an_error_and_a_variant_name_is_a_prefix() {
        assert!(CaseFilter::new(&["[unclosed*".into()], &[]).is_err());
        let one =
            names(&CaseFilter::new(&["revoke_around_reset[iommufd]".into()], &[]).expect("valid"));
        assert_eq!(one, vec!["revoke_around_reset[iommufd]".to_string()]);
    }
}
