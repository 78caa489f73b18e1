//! The `revoke-conformance` command line.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use reference_impl::{Shim, Trace};

use crate::expectations::Expectations;
use crate::outcome::run_case;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shim_protocol::serve::{Factory, Fatal as ServeFatal, Misbehave, serve};

use crate::remote::{DEFAULT_TIMEOUT, RemoteBackend, Transcript};
use crate::results::{CaseResult, RunResults, ShimInfo, ShimResults, Summary};
use crate::runner::{Backend, INTERRUPTED, InProcess, RunOptions, collect, run_backend, selected};
use crate::{CASES, RULES, formats};

/// Exit status: every applicable case passed (or failed as expected).
pub const EXIT_PASS: i32 = 0;
/// Exit status: a case failed, passed unexpectedly, or its expectation expired.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: the run itself could not be done (bad arguments, unknown shim, unreadable
/// file, a shim command that cannot be started at all).
pub const EXIT_ERROR: i32 = 2;
/// Exit status: the run was interrupted (Ctrl-C); any report written is partial.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Runs the dma-buf revoke conformance suite against driver shims.
#[derive(Parser, Debug)]
#[command(
    name = "revoke-conformance",
    version,
    about,
    after_help = "Exit status: 0 every applicable case passed (or failed as expected), 1 a case failed, 2 the run could not be done."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Formats of `run` and `kernel`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RunFormat {
    /// One line per case, failures in full, the rule matrix.
    Human,
    /// The result file (`results.schema.json`).
    Json,
    /// JUnit XML.
    Junit,
    /// KTAP, as KUnit prints it.
    Ktap,
}

impl RunFormat {
    /// The report of `results` in this format; rule links point under `book_url`.
    pub fn render(self, results: &RunResults, book_url: &str) -> String {
        match self {
            RunFormat::Human => formats::human(results, book_url),
            RunFormat::Json => serde_json::to_string_pretty(results).unwrap_or_default() + "\n",
            RunFormat::Junit => formats::junit(results, book_url),
            RunFormat::Ktap => formats::ktap(results),
        }
    }
}

/// Formats of `mutants`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum MutantsFormat {
    Human,
    Json,
    Markdown,
}

/// Formats of the listing commands.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the in-tree shims with their roles and capabilities.
    Shims {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
    },
    /// List the cases with the profiles they use, their rules, and the shims they apply to.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
    },
    /// List the rules with their cases.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
    },
    /// Run the cases against shims (every in-tree shim if none is named).
    Run {
        /// An in-tree shim (repeatable); see `revoke-conformance shims`.
        #[arg(long)]
        shim: Vec<String>,
        /// A shim in another process: the command that starts it, split like a shell would
        /// (repeatable). It speaks the wire protocol on its standard input and output.
        #[arg(long = "shim-cmd", value_name = "COMMAND")]
        shim_cmd: Vec<String>,
        /// Seconds one case may take against a shim process before the process is killed
        /// and the case fails.
        #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
        timeout: f64,
        /// Append every protocol line exchanged with shim processes to this file (`> ` from
        /// the runner, `< ` from the shim): what to read when a shim and the runner disagree.
        #[arg(long, value_name = "FILE")]
        transcript: Option<PathBuf>,
        /// Only cases whose name, or one of whose rule IDs, starts with this.
        #[arg(long)]
        filter: Option<String>,
        /// Report format.
        #[arg(long, value_enum, default_value = "human")]
        format: RunFormat,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Known failures (see `revoke-conformance expectations`).
        #[arg(long)]
        expectations: Option<PathBuf>,
        /// Where rule links point (the built or the published book).
        #[arg(long, default_value = "book/build/")]
        book_url: String,
    },
    /// Write an expectations file listing every failure of a JSON result file.
    Expectations {
        /// A result file written by `run --format json`.
        #[arg(long)]
        from: PathBuf,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
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
    /// Run the suite against every deliberately broken shim and show what it catches.
    Mutants {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: MutantsFormat,
    },
    /// Serve an in-tree Rust shim over the wire protocol on standard input and output: the
    /// shim side of `run --shim-cmd`, for tests and for comparing in-process and
    /// out-of-process runs.
    Serve {
        /// The shim: `rust-vfio-exporter`.
        shim: String,
        /// Break the protocol on purpose (for testing the runner): crash-on-revoke,
        /// hang-on-revoke, garbage, oversized, silent, bad-role...
        #[arg(long)]
        misbehave: Option<String>,
    },
    /// Run the cases against the real Linux dma-buf core (KUnit under User-Mode Linux), with
    /// `CONFIG_DMABUF_MOVE_NOTIFY` on and off, and report per-rule verdicts for the kernel.
    Kernel(crate::kernel::KernelArgs),
    /// Time the suite: whole runs, per case, and the harness against the bare model.
    Bench {
        /// Repetitions of each measurement (the minimum is reported).
        #[arg(long, default_value_t = 5)]
        repeat: u32,
    },
}

/// An error that stops the run (exit status 2).
struct Fatal(String);

fn read(path: &PathBuf) -> Result<String, Fatal> {
    std::fs::read_to_string(path).map_err(|e| Fatal(format!("cannot read {}: {e}", path.display())))
}

fn write_or_print(output: Option<&PathBuf>, text: &str) -> Result<(), Fatal> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn find_variant(name: &str) -> Result<(&'static crate::CaseDef, &'static str), Fatal> {
    selected(None)
        .into_iter()
        .find(|(c, v)| c.variant_name(v) == name)
        .ok_or_else(|| Fatal(format!("no case `{name}` (see `revoke-conformance list`)")))
}

fn known_case(name: &str) -> bool {
    selected(None)
        .iter()
        .any(|(c, v)| c.variant_name(v) == name)
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// The in-tree shims that run as processes (written in C): name, command, and whether a run
/// that names no shim includes it (the deliberately broken ones it does not).
pub fn process_shims() -> Vec<(&'static str, Vec<String>, bool)> {
    let cmd = |p: &std::path::Path| vec![p.display().to_string()];
    vec![
        ("c-vfio-exporter", cmd(shims_c::vfio_exporter()), true),
        ("c-example-importer", cmd(shims_c::example_importer()), true),
        (
            "c-vfio-exporter-no-wait",
            cmd(shims_c::vfio_exporter_no_wait()),
            false,
        ),
    ]
}

/// The backends a run names: in-tree shims (in process or as processes) and shim commands.
fn backends_named(
    names: &[String],
    commands: &[String],
    timeout: Duration,
    transcript: Option<Transcript>,
) -> Result<Vec<Box<dyn Backend>>, Fatal> {
    let start = |name: &str, argv: Vec<String>| -> Result<Box<dyn Backend>, Fatal> {
        RemoteBackend::start_argv(name, argv, timeout, transcript.clone())
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(Fatal)
    };
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    if names.is_empty() && commands.is_empty() {
        for s in shims::in_tree() {
            out.push(Box::new(InProcess::new(&s)));
        }
        for (name, argv, _) in process_shims().into_iter().filter(|p| p.2) {
            out.push(start(name, argv)?);
        }
        return Ok(out);
    }
    for n in names {
        match process_shims().into_iter().find(|(p, _, _)| p == n) {
            Some((name, argv, _)) => out.push(start(name, argv)?),
            None => {
                let s = shims_named(std::slice::from_ref(n))?;
                out.extend(
                    s.iter()
                        .map(|s| Box::new(InProcess::new(s)) as Box<dyn Backend>),
                );
            }
        }
    }
    for c in commands {
        out.push(Box::new(
            RemoteBackend::start(c, timeout, transcript.clone()).map_err(Fatal)?,
        ));
    }
    Ok(out)
}

/// Writes `text` to `path` through a temporary file and a rename, so that a reader (or an
/// interrupted run) never sees half a report.
fn write_atomically(path: &PathBuf, text: &str) -> Result<(), Fatal> {
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))
}

fn shims_named(names: &[String]) -> Result<Vec<Shim>, Fatal> {
    if names.is_empty() {
        return Ok(shims::in_tree());
    }
    names
        .iter()
        .map(|n| {
            shims::by_name(n).ok_or_else(|| {
                let mut known: Vec<&str> = shims::in_tree().iter().map(|s| s.name).collect();
                known.extend(process_shims().iter().map(|p| p.0));
                Fatal(format!(
                    "unknown shim `{n}`; in-tree shims: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
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
    match guarded(|| dispatch(cli.command)) {
        Ok(Ok(code)) => code,
        Ok(Err(Fatal(message))) => {
            eprintln!("revoke-conformance: {message}");
            EXIT_ERROR
        }
        Err(InternalError(message)) => {
            eprintln!("revoke-conformance: internal error (a bug of the suite): {message}");
            EXIT_ERROR
        }
    }
}

/// A panic of the suite itself (not of a driver): what it said and where.
#[derive(Debug)]
struct InternalError(String);

std::thread_local! {
    /// Set while [`guarded`] runs on this thread.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The message and place of the last panic on this thread, kept by the panic hook.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` so that every panic is accounted for once. A driver's panic is an oops the model
/// records in the case's trace (`Kernel::run_step`), so the hook prints nothing for it; any
/// other panic unwinds out of `f` and comes back as an [`InternalError`] with its message and
/// place (and a backtrace under `RUST_BACKTRACE=1`). Other threads' panics print as usual.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, InternalError> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.get() {
                return default(info);
            }
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let backtrace = std::backtrace::Backtrace::capture();
            let backtrace = match backtrace.status() {
                std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
                _ => String::new(),
            };
            let message = panic_message(info.payload());
            LAST_PANIC.set(Some(format!("{message}{place}{backtrace}")));
        }));
    });
    let outer = GUARDED.replace(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.set(outer);
    let kept = LAST_PANIC.take();
    result.map_err(|payload| InternalError(kept.unwrap_or_else(|| panic_message(&*payload))))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

fn dispatch(command: Command) -> Result<i32, Fatal> {
    match command {
        Command::Shims { format } => {
            let mut all: Vec<ShimInfo> = shims::in_tree().iter().map(ShimInfo::of).collect();
            for (name, argv, _) in process_shims() {
                // A process shim says what it is in its hello.
                let b =
                    RemoteBackend::start_argv(name, argv, DEFAULT_TIMEOUT, None).map_err(Fatal)?;
                let mut info = b.info();
                info.name = name.to_string();
                all.push(info);
            }
            match format {
                ListFormat::Human => {
                    for s in &all {
                        println!(
                            "{:24} {:9} plays {:10} {}",
                            s.name,
                            s.role.to_string(),
                            s.plays.join(","),
                            s.description
                        );
                        println!(
                            "{:24} {:9} capabilities: {}",
                            "",
                            "",
                            s.capabilities.join(", ")
                        );
                    }
                }
                ListFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
                }
            }
            Ok(EXIT_PASS)
        }
        Command::List { format } => {
            let all = shims::in_tree();
            let rows: Vec<serde_json::Value> = selected(None)
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
                    for r in &rows {
                        println!(
                            "{}  ({})",
                            r["case"].as_str().unwrap_or_default(),
                            r["chapter"].as_str().unwrap_or_default()
                        );
                        println!("    profiles: {}", join(&r["profiles"]));
                        println!("    rules:    {}", join(&r["rules"]));
                        println!("    shims:    {}", join(&r["applies_to"]));
                    }
                }
                ListFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ),
            }
            Ok(EXIT_PASS)
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
                ListFormat::Human => {
                    for r in RULES {
                        println!(
                            "{}  {}  ({})  {}",
                            r.id,
                            r.strength.as_str(),
                            r.chapter,
                            cases_of(r.id).join(", ")
                        );
                    }
                }
                ListFormat::Json => {
                    let v: Vec<_> = RULES
                        .iter()
                        .map(|r| serde_json::json!({"rule": r.id, "strength": r.strength, "chapter": r.chapter, "anchor": r.anchor(), "hash": r.hash, "text": r.text, "cases": cases_of(r.id)}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
            }
            Ok(EXIT_PASS)
        }
        Command::Run {
            shim,
            shim_cmd,
            timeout,
            transcript,
            filter,
            format,
            output,
            expectations,
            book_url,
        } => {
            let exps = match &expectations {
                Some(path) => Some(
                    Expectations::parse(&read(path)?, known_case)
                        .map_err(|e| Fatal(format!("{}: {e}", path.display())))?,
                ),
                None => None,
            };
            if selected(filter.as_deref()).is_empty() {
                return Err(Fatal(format!(
                    "no case matches the filter `{}`",
                    filter.unwrap_or_default()
                )));
            }
            if !(timeout.is_finite() && timeout > 0.0) {
                return Err(Fatal(format!(
                    "--timeout {timeout}: give a positive number of seconds"
                )));
            }
            let timeout = Duration::from_secs_f64(timeout);
            let transcript = match &transcript {
                Some(path) => Some(
                    Transcript::create(path)
                        .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))?,
                ),
                None => None,
            };
            let mut backends = backends_named(&shim, &shim_cmd, timeout, transcript)?;
            let _ = ctrlc::set_handler(|| {
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    // A second Ctrl-C: stop now. Shim processes die with the runner.
                    std::process::exit(EXIT_INTERRUPTED);
                }
            });
            let opts = RunOptions {
                filter: filter.as_deref(),
                expectations: exps.as_ref(),
                today: today(),
            };
            let total = (backends.len() * selected(filter.as_deref()).len()) as u64;
            let render = |results: &RunResults| format.render(results, &book_url);
            let mut done: Vec<ShimResults> = Vec::new();
            with_progress(total, |progress| {
                for backend in backends.iter_mut() {
                    let info = backend.info();
                    let mut current: Vec<CaseResult> = Vec::new();
                    let finished = run_backend(backend.as_mut(), &opts, &mut |name, case| {
                        progress(name, case);
                        if let Some(path) = &output {
                            // Every finished case is on disk: an interrupted run leaves a
                            // valid, partial report.
                            current.push(case.clone());
                            let mut shims = done.clone();
                            shims.push(ShimResults {
                                shim: info.clone(),
                                rules: Vec::new(),
                                summary: Summary::of(&current),
                                cases: current.clone(),
                            });
                            let _ = write_atomically(path, &render(&collect(shims, true)));
                        }
                    });
                    done.push(finished);
                    if INTERRUPTED.load(Ordering::SeqCst) {
                        break;
                    }
                }
            });
            drop(backends);
            let interrupted = INTERRUPTED.load(Ordering::SeqCst);
            let results = collect(done, interrupted);
            let text = render(&results);
            match &output {
                Some(path) => write_atomically(path, &text)?,
                None => print!("{text}"),
            }
            if output.is_some() {
                let s = &results.summary;
                println!(
                    "{} passed, {} failed, {} skipped",
                    s.passed, s.failed, s.not_applicable
                );
            }
            Ok(if interrupted {
                eprintln!("revoke-conformance: interrupted; the results are partial");
                EXIT_INTERRUPTED
            } else if results.failed() {
                EXIT_FAIL
            } else {
                EXIT_PASS
            })
        }
        Command::Serve { shim, misbehave } => {
            let misbehave = misbehave
                .map(|m| m.parse::<Misbehave>())
                .transpose()
                .map_err(Fatal)?;
            let (identity, factory) = match shim.as_str() {
                "rust-vfio-exporter" => (
                    shims::rust_vfio::identity(),
                    Factory::Exporter(Box::new(|buf| {
                        Rc::new(shims::rust_vfio::RustVfio::new(buf))
                    })),
                ),
                other => {
                    return Err(Fatal(format!(
                        "no Rust shim `{other}` to serve; known: rust-vfio-exporter"
                    )));
                }
            };
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            match serve(&identity, factory, misbehave, stdin, stdout) {
                Ok(()) => Ok(EXIT_PASS),
                Err(ServeFatal(m)) => {
                    eprintln!("revoke-conformance serve: {m}");
                    Ok(EXIT_FAIL)
                }
            }
        }
        Command::Expectations { from, output } => {
            let results: RunResults = serde_json::from_str(&read(&from)?).map_err(|e| {
                Fatal(format!(
                    "{} is not a result file of `run --format json`: {e}",
                    from.display()
                ))
            })?;
            write_or_print(
                output.as_ref(),
                &Expectations::from_results(&results, today()).to_toml(),
            )?;
            Ok(EXIT_PASS)
        }
        Command::Show { case } => {
            let (c, v) = find_variant(&case)?;
            print!(
                "{}",
                run_case(c, v, &mut |steps| reference_impl::run_reference(steps)).snapshot()
            );
            Ok(EXIT_PASS)
        }
        Command::Export { out } => {
            std::fs::create_dir_all(&out)
                .map_err(|e| Fatal(format!("cannot create {}: {e}", out.display())))?;
            let mut n = 0;
            for (c, v) in selected(None) {
                let doc = crate::ScenarioDoc::of(c, v);
                let path = out.join(format!("{}.json", c.variant_name(v)));
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
                std::fs::write(&path, text + "\n")
                    .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))?;
                n += 1;
            }
            println!("wrote {n} scenarios to {}", out.display());
            Ok(EXIT_PASS)
        }
        Command::CheckTrace { case, trace } => {
            let (c, v) = find_variant(&case)?;
            let parsed: Result<Trace, String> =
                serde_json::from_str(&read(&trace)?).map_err(|e| format!("not a trace: {e}"));
            let outcome = run_case(c, v, &mut |_| parsed.clone());
            print!("{}", outcome.snapshot());
            // The same verdict as `run`: a MAY check that fails is a permission not used.
            Ok(if crate::results::Status::of(&outcome).fails_run() {
                EXIT_FAIL
            } else {
                EXIT_PASS
            })
        }
        Command::Mutants { format } => {
            let results = crate::mutants::judge_all(today());
            match format {
                MutantsFormat::Human => print!("{}", crate::mutants::table(&results)),
                MutantsFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&results).unwrap_or_default()
                ),
                MutantsFormat::Markdown => print!("{}", crate::mutants::markdown(&results)),
            }
            Ok(if results.iter().all(|r| r.caught()) {
                EXIT_PASS
            } else {
                EXIT_FAIL
            })
        }
        Command::Kernel(args) => crate::kernel::main(args).map_err(Fatal),
        Command::Bench { repeat } => {
            print!("{}", crate::bench::run(repeat.max(1)));
            Ok(EXIT_PASS)
        }
    }
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

/// A progress bar on a terminal, plain lines on standard error otherwise.
fn with_progress<T>(total: u64, f: impl FnOnce(&mut dyn FnMut(&str, &CaseResult)) -> T) -> T {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let r = f(&mut |shim, c| {
            bar.set_message(format!("{shim}: {}", c.name));
            bar.inc(1);
        });
        bar.finish_and_clear();
        r
    } else {
        f(&mut |shim, c| eprintln!("{shim}: {} {}", c.status.word(), c.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic of the suite comes back as an internal error with its message and place,
    /// while a value passes through.
    #[test]
    fn a_harness_panic_is_an_internal_error() {
        assert_eq!(guarded(|| 7).map_err(|e| e.0).ok(), Some(7));
        let line = line!() + 1;
        let err = guarded(|| -> i32 { panic!("the harness is broken") }).expect_err("panics");
        assert!(err.0.starts_with("the harness is broken at "), "{}", err.0);
        assert!(err.0.contains(&format!("cli.rs:{line}")), "{}", err.0);
    }

    /// A driver's panic inside a step stays an oops in the trace: the run goes on, the case
    /// fails, and nothing reaches the guard.
    #[test]
    fn a_driver_panic_stays_in_its_trace() {
        use reference_impl::{Actor, BufId, Call, Kernel};
        let trace = guarded(|| {
            let k = Kernel::new();
            let buf = BufId(0);
            k.run_step(0, Actor::Harness, || {
                k.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
                    panic!("exporter bug")
                })
            });
            k.trace()
        })
        .expect("no internal error");
        assert_eq!(
            trace.crashed.map(|c| c.message).as_deref(),
            Some("exporter bug")
        );
    }
}
