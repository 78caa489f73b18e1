//! The `revoke-conformance` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use reference_impl::{Step, Trace, run_reference};

use crate::outcome::{CaseOutcome, run_case};
use crate::{CASES, RULES, report};

/// Exit status: every case passed.
pub const EXIT_PASS: i32 = 0;
/// Exit status: a case failed.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: the run itself could not be done.
pub const EXIT_ERROR: i32 = 2;

/// Runs the dma-buf revoke conformance suite.
#[derive(Parser, Debug)]
#[command(name = "revoke-conformance", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the cases against the reference implementation and report per case and per rule.
    Run {
        /// Only cases whose name, or one of whose rule IDs, starts with this.
        #[arg(long)]
        filter: Option<String>,
        /// Report format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Where rule links point (the built or published book).
        #[arg(long, default_value = "book/build/")]
        book_url: String,
    },
    /// List the cases with their rules.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// List the rules with their cases.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Show one case variant in full: its rules, steps, trace and checks.
    Show {
        /// `name` or `name[variant]`.
        case: String,
    },
    /// Write every case's scenario (steps as data) as JSON, one file per case variant.
    Export {
        /// Folder to write into (created if missing).
        #[arg(long, default_value = "target/scenarios")]
        out: PathBuf,
    },
    /// Judge a trace produced by another backend with a case's checks.
    CheckTrace {
        /// `name` or `name[variant]` of the case whose scenario produced the trace.
        #[arg(long)]
        case: String,
        /// The trace, as JSON.
        #[arg(long)]
        trace: PathBuf,
    },
}

/// Every `(case, variant)` whose name or rules match `filter`.
pub fn selected(filter: Option<&str>) -> Vec<(&'static crate::CaseDef, &'static str)> {
    CASES
        .iter()
        .flat_map(|c| c.variants.iter().map(move |v| (c, v.label)))
        .filter(|(c, v)| match filter {
            None => true,
            Some(f) => c.variant_name(v).starts_with(f) || c.rules.iter().any(|r| r.starts_with(f)),
        })
        .collect()
}

/// Runs the selected cases on the reference implementation.
pub fn run_all(filter: Option<&str>) -> Vec<CaseOutcome> {
    selected(filter)
        .into_iter()
        .map(|(c, v)| run_case(c, v, &|steps: &[Step]| run_reference(steps)))
        .collect()
}

fn find_variant(name: &str) -> Option<(&'static crate::CaseDef, &'static str)> {
    selected(None)
        .into_iter()
        .find(|(c, v)| c.variant_name(v) == name)
}

/// Parses arguments, runs, prints, and returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_PASS
            };
        }
    };
    match cli.command {
        Command::Run {
            filter,
            format,
            book_url,
        } => {
            let outcomes = run_all(filter.as_deref());
            if outcomes.is_empty() {
                eprintln!("revoke-conformance: no case matches the filter {filter:?}");
                return EXIT_ERROR;
            }
            match format {
                Format::Human => print!("{}", report::human(&outcomes, &book_url)),
                Format::Json => println!("{}", report::json(&outcomes)),
            }
            if outcomes.iter().all(|o| o.passed()) {
                EXIT_PASS
            } else {
                EXIT_FAIL
            }
        }
        Command::List { format } => {
            let rows = selected(None);
            match format {
                Format::Human => {
                    for (c, v) in rows {
                        println!(
                            "{}  ({}:{})  {}",
                            c.variant_name(v),
                            c.chapter,
                            c.line,
                            c.rules.join(", ")
                        );
                    }
                }
                Format::Json => {
                    let v: Vec<_> = rows
                        .iter()
                        .map(|(c, v)| serde_json::json!({"case": c.name, "variant": v, "title": c.title, "chapter": c.chapter, "line": c.line, "rules": c.rules}))
                        .collect();
                    println!("{}", serde_json::Value::Array(v));
                }
            }
            EXIT_PASS
        }
        Command::Rules { format } => {
            let cases_of = |id: &str| -> Vec<&str> {
                CASES
                    .iter()
                    .filter(|c| c.rules.contains(&id))
                    .map(|c| c.name)
                    .collect()
            };
            match format {
                Format::Human => {
                    for r in RULES {
                        println!(
                            "{}  {}  ({}:{})  {}",
                            r.id,
                            r.strength.as_str(),
                            r.chapter,
                            r.line,
                            cases_of(r.id).join(", ")
                        );
                    }
                }
                Format::Json => {
                    let v: Vec<_> = RULES
                        .iter()
                        .map(|r| serde_json::json!({"rule": r.id, "strength": r.strength, "chapter": r.chapter, "line": r.line, "hash": r.hash, "text": r.text, "cases": cases_of(r.id)}))
                        .collect();
                    println!("{}", serde_json::Value::Array(v));
                }
            }
            EXIT_PASS
        }
        Command::Export { out } => {
            if let Err(e) = std::fs::create_dir_all(&out) {
                eprintln!("revoke-conformance: cannot create {}: {e}", out.display());
                return EXIT_ERROR;
            }
            let mut n = 0;
            for (c, v) in selected(None) {
                let doc = crate::ScenarioDoc::of(c, v);
                let path = out.join(format!("{}.json", c.variant_name(v)));
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, text + "\n") {
                    eprintln!("revoke-conformance: cannot write {}: {e}", path.display());
                    return EXIT_ERROR;
                }
                n += 1;
            }
            println!("wrote {n} scenarios to {}", out.display());
            EXIT_PASS
        }
        Command::Show { case } => match find_variant(&case) {
            Some((c, v)) => {
                print!(
                    "{}",
                    run_case(c, v, &|steps: &[Step]| run_reference(steps)).snapshot()
                );
                EXIT_PASS
            }
            None => {
                eprintln!("revoke-conformance: no case `{case}` (see `revoke-conformance list`)");
                EXIT_ERROR
            }
        },
        Command::CheckTrace { case, trace } => {
            let Some((c, v)) = find_variant(&case) else {
                eprintln!("revoke-conformance: no case `{case}` (see `revoke-conformance list`)");
                return EXIT_ERROR;
            };
            let text = match std::fs::read_to_string(&trace) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("revoke-conformance: cannot read {}: {e}", trace.display());
                    return EXIT_ERROR;
                }
            };
            let parsed: Result<Trace, String> =
                serde_json::from_str(&text).map_err(|e| format!("not a trace: {e}"));
            let outcome = run_case(c, v, &|_| parsed.clone());
            print!(
                "{}",
                report::human(std::slice::from_ref(&outcome), "book/build/")
            );
            if outcome.passed() {
                EXIT_PASS
            } else {
                EXIT_FAIL
            }
        }
    }
}
