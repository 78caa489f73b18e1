//! Known failures of a driver: an expectations file lists cases that fail, each with a
//! reason, optionally a bug link and an expiry date. A listed case that fails is reported as
//! expected; one that passes is an unexpected pass and fails the run, so the entry is removed;
//! an expired entry fails the run.
//!
//! ```toml
//! [[expected]]
//! case = "revoke_around_reset[iommufd]"   # as `revoke-conformance list` prints it
//! shim = "my-driver"                       # optional: only for this shim
//! reason = "revoke does not wait for unmaps yet"
//! bug = "https://bugs.example.org/1234"    # optional
//! expires = "2027-06-30"                   # optional: fails the run from this day on
//! ```

use time::Date;
use time::macros::format_description;

use crate::results::{CaseResult, RunResults, Status};

/// One known failure.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `case` or `case[variant]`.
    pub case: String,
    /// Only for this shim; any shim if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim: Option<String>,
    /// Why it fails.
    pub reason: String,
    /// Where it is tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    /// `YYYY-MM-DD`: from this day on the entry fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A whole expectations file.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The entries.
    #[serde(default)]
    pub expected: Vec<Expectation>,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("`{s}` is not a date of the form YYYY-MM-DD ({e})"))
}

impl Expectations {
    /// Parses and validates a file: every case must exist, every reason must be given,
    /// every date must parse.
    pub fn parse(text: &str, known_case: impl Fn(&str) -> bool) -> Result<Expectations, String> {
        let exps: Expectations =
            toml::from_str(text).map_err(|e| format!("malformed expectations file: {e}"))?;
        for (i, e) in exps.expected.iter().enumerate() {
            let at = format!("entry {} (`{}`)", i + 1, e.case);
            if !known_case(&e.case) {
                return Err(format!(
                    "{at}: no such case (see `revoke-conformance list`)"
                ));
            }
            if e.reason.trim().is_empty() {
                return Err(format!("{at}: a reason is required"));
            }
            if let Some(d) = &e.expires {
                parse_date(d).map_err(|m| format!("{at}: {m}"))?;
            }
        }
        Ok(exps)
    }

    /// Applies the entry for `result` (if any) on `today`.
    pub fn apply(&self, shim: &str, result: &mut CaseResult, today: Date) {
        let Some(e) = self
            .expected
            .iter()
            .find(|e| e.case == result.name && e.shim.as_deref().is_none_or(|s| s == shim))
        else {
            return;
        };
        if result.status == Status::NotApplicable {
            return;
        }
        result.reason = Some(e.reason.clone());
        result.bug = e.bug.clone();
        let expired = e
            .expires
            .as_deref()
            .and_then(|d| parse_date(d).ok())
            .is_some_and(|d| today >= d);
        result.status = if expired {
            result.reason = Some(format!(
                "expectation expired on {}: {}",
                e.expires.as_deref().unwrap_or(""),
                e.reason
            ));
            Status::ExpiredExpectation
        } else if result.status == Status::Fail {
            Status::ExpectedFail
        } else {
            Status::UnexpectedPass
        };
    }

    /// An expectations file listing every failure of a run, so that a driver can adopt the
    /// suite in one step and then work the list down.
    pub fn from_results(results: &RunResults, today: Date) -> Expectations {
        let mut expected = Vec::new();
        for shim in &results.shims {
            for case in shim
                .cases
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::ExpectedFail))
            {
                let rules: Vec<&str> = case.failures.iter().map(|f| f.rule.as_str()).collect();
                let what = if rules.is_empty() {
                    case.error.clone().unwrap_or_else(|| "fails".into())
                } else {
                    format!("violates {}", rules.join(", "))
                };
                expected.push(Expectation {
                    case: case.name.clone(),
                    shim: Some(shim.shim.name.clone()),
                    reason: case.reason.clone().unwrap_or_else(|| {
                        format!("known failure when the suite was adopted on {today}: {what}")
                    }),
                    bug: case.bug.clone(),
                    expires: None,
                });
            }
        }
        Expectations { expected }
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let header = "# Known failures: see `revoke-conformance run --help`. Give each a bug link, and\n# remove an entry when its case passes (an unexpected pass fails the run).\n\n";
        format!(
            "{header}{}",
            toml::to_string_pretty(self).unwrap_or_default()
        )
    }
}
