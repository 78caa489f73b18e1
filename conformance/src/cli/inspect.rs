//! `show`, `export` and `check-trace`: one case's scenario and trace, on their own.

use std::path::{Path, PathBuf};

use reference_impl::Trace;

use crate::outcome::run_case;
use crate::runner::selected;

use super::exit::print;
use super::{CliError, Exit, read};

/// The case variant named `name` (`case` or `case[variant]`).
pub(super) fn find_variant(
    name: &str,
) -> Result<(&'static crate::CaseDef, &'static str), CliError> {
    let all = selected(&crate::spec(), None);
    if let Some(found) = all.iter().find(|(c, v)| c.variant_name(v) == name) {
        return Ok(*found);
    }
    // A case with variants named without one: say which variants there are.
    let variants: Vec<String> = all
        .iter()
        .filter(|(c, _)| c.name == name)
        .map(|(c, v)| c.variant_name(v))
        .collect();
    Err(CliError::Fatal(if variants.is_empty() {
        format!("no case `{name}` (see `revoke-conformance list`)")
    } else {
        format!(
            "case `{name}` has {} variants; name one: {}",
            variants.len(),
            variants.join(", ")
        )
    }))
}

/// `revoke-conformance show`.
pub(super) fn show(case: &str) -> Result<Exit, CliError> {
    let (c, v) = find_variant(case)?;
    print(
        &run_case(&crate::spec(), c, v, &mut |steps| {
            reference_impl::run_reference(steps)
        })
        .snapshot(),
    )?;
    Ok(Exit::Pass)
}

/// `revoke-conformance export`.
pub(super) fn export(out: &Path) -> Result<Exit, CliError> {
    std::fs::create_dir_all(out)
        .map_err(|e| CliError::Fatal(format!("cannot create {}: {e}", out.display())))?;
    let mut n = 0;
    for (c, v) in selected(&crate::spec(), None) {
        let doc = crate::ScenarioDoc::of(c, v);
        let path = out.join(format!("{}.json", c.variant_name(v)));
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        std::fs::write(&path, text + "\n")
            .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display())))?;
        n += 1;
    }
    print(&format!("wrote {n} scenarios to {}\n", out.display()))?;
    Ok(Exit::Pass)
}

/// `revoke-conformance check-trace`.
pub(super) fn check_trace(case: &str, trace: &PathBuf) -> Result<Exit, CliError> {
    let (c, v) = find_variant(case)?;
    let parsed: Result<Trace, String> =
        serde_json::from_str(&read(trace)?).map_err(|e| format!("not a trace: {e}"));
    let outcome = run_case(&crate::spec(), c, v, &mut |_| parsed.clone());
    print(&outcome.snapshot())?;
    // The same verdict as `run`: a MAY check that fails is a permission not used.
    Ok(Exit::passed_if(
        !crate::results::Status::of(&outcome).fails_run(),
    ))
}
