//! `shims`, `list` and `rules`: what there is to run.

use std::fmt::Write as _;

use crate::remote::{DEFAULT_TIMEOUT, RemoteBackend};
use crate::results::ShimInfo;
use crate::runner::{Backend, selected};

use super::exit::print;
use super::run::process_shims;
use super::{CliError, Exit, ListFormat};

/// `revoke-conformance shims`.
pub(super) fn shims(format: ListFormat) -> Result<Exit, CliError> {
    let mut all: Vec<ShimInfo> = shims::in_tree().iter().map(ShimInfo::of).collect();
    for (name, argv, _) in process_shims() {
        // A process shim says what it is in its hello.
        let b = RemoteBackend::start_argv(name, argv, DEFAULT_TIMEOUT, None)?;
        let mut info = b.info();
        info.name = name.to_string();
        all.push(info);
    }
    let mut out = String::new();
    match format {
        ListFormat::Human => {
            for s in &all {
                let _ = writeln!(
                    out,
                    "{:24} {:9} plays {:10} {}",
                    s.name,
                    s.role.to_string(),
                    s.plays.join(","),
                    s.description
                );
                let _ = writeln!(
                    out,
                    "{:24} {:9} capabilities: {}",
                    "",
                    "",
                    s.capabilities.join(", ")
                );
            }
        }
        ListFormat::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&all).unwrap_or_default()
            );
        }
    }
    print(&out)?;
    Ok(Exit::Pass)
}

/// `revoke-conformance list`.
pub(super) fn cases(format: ListFormat) -> Result<Exit, CliError> {
    let all = shims::in_tree();
    let rows: Vec<serde_json::Value> = selected(&crate::spec(), None)
        .into_iter()
        .map(|(c, v)| {
            let steps = crate::outcome::scenario_of(c, v)
                .map(|s| s.steps)
                .unwrap_or_default();
            let profiles = profiles_used(&steps);
            let applies: Vec<&str> = all
                .iter()
                .filter(|s| s.applies_to(&steps).is_ok())
                .map(|s| s.name)
                .collect();
            serde_json::json!({
                "case": c.variant_name(v), "title": c.title, "chapter": c.chapter,
                "profiles": profiles, "rules": c.rules, "applies_to": applies,
            })
        })
        .collect();
    match format {
        ListFormat::Human => {
            // One case at a time, so that `list | head` stops early.
            for r in &rows {
                print(&format!(
                    "{}  ({})\n    profiles: {}\n    rules:    {}\n    shims:    {}\n",
                    r["case"].as_str().unwrap_or_default(),
                    r["chapter"].as_str().unwrap_or_default(),
                    join(&r["profiles"]),
                    join(&r["rules"]),
                    join(&r["applies_to"])
                ))?;
            }
        }
        ListFormat::Json => print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ))?,
    }
    Ok(Exit::Pass)
}

/// `revoke-conformance rules`.
pub(super) fn rules(format: ListFormat) -> Result<Exit, CliError> {
    let cases_of = |id: &str| -> Vec<&str> {
        crate::spec()
            .cases
            .iter()
            .filter(|c| c.rules.contains(&id))
            .map(|c| c.name)
            .collect()
    };
    match format {
        ListFormat::Human => {
            for r in crate::spec().rules {
                print(&format!(
                    "{}  {}  ({})  {}\n",
                    r.id,
                    r.strength.as_str(),
                    r.chapter,
                    cases_of(r.id).join(", ")
                ))?;
            }
        }
        ListFormat::Json => {
            let v: Vec<_> = crate::spec().rules
                .iter()
                .map(|r| serde_json::json!({"rule": r.id, "strength": r.strength, "chapter": r.chapter, "anchor": r.anchor(), "hash": r.hash, "text": r.text, "cases": cases_of(r.id)}))
                .collect();
            print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ))?;
        }
    }
    Ok(Exit::Pass)
}

fn join(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn profiles_used(steps: &[reference_impl::Step]) -> Vec<String> {
    let mut v: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            reference_impl::Step::Export { exporter, .. } => {
                Some(format!("exporter {}", exporter.name()))
            }
            reference_impl::Step::Attach { importer, .. }
            | reference_impl::Step::AttachDuringEviction { importer, .. } => {
                Some(format!("importer {}", importer.name()))
            }
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `revoke-conformance monitors`.
pub(super) fn monitors(format: super::MonitorsFormat) -> Result<Exit, CliError> {
    let text = match format {
        super::MonitorsFormat::Markdown => judge::monitor::markdown(),
        super::MonitorsFormat::Human => {
            let mut out = String::new();
            for r in crate::spec().rules {
                match judge::monitor::of(r.id) {
                    Some(m) => {
                        let _ = writeln!(
                            out,
                            "{} ({}, {})\n  applies to: {}\n  judges:     {}",
                            r.id, m.role, m.source, m.applies, m.expects
                        );
                    }
                    None => {
                        let why = judge::monitor::unobservable()
                            .into_iter()
                            .find(|u| u.rule == r.id)
                            .map_or("no monitor", |u| u.reason);
                        let _ = writeln!(out, "{}\n  not observable in a trace: {why}", r.id);
                    }
                }
            }
            out
        }
    };
    print(&text)?;
    Ok(Exit::Pass)
}
