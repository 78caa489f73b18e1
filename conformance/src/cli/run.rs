//! `run`, `expectations` and `mutants`: running the suite and judging shims.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use shims::registry::{self, Registered, Runs};

use crate::expectations::Expectations;
use crate::remote::{RemoteBackend, Transcript};
use crate::results::{CaseResult, RunResults, ShimResults, Status, Summary};
use crate::runner::{Backend, Cancel, InProcess, RunOptions, collect, run_backend, selected_by};
use judge::filter::CaseFilter;

use super::exit::print;
use super::{CliError, EXIT_INTERRUPTED, Exit, MutantsFormat, RunFormat, read, today};

/// The arguments of `run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// An in-tree shim (repeatable); see `revoke-conformance shims`.
    #[arg(long)]
    pub(super) shim: Vec<String>,
    /// A shim in another process: the command that starts it, split like a shell would
    /// (repeatable). It speaks the wire protocol on its standard input and output.
    #[arg(long = "shim-cmd", value_name = "COMMAND")]
    pub(super) shim_cmd: Vec<String>,
    /// Seconds one case may take against a shim process before the process is killed
    /// and the case fails.
    #[arg(long, default_value_t = crate::remote::DEFAULT_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    pub(super) timeout: f64,
    /// Append every protocol line exchanged with shim processes to this file (`> ` from
    /// the runner, `< ` from the shim): what to read when a shim and the runner disagree.
    #[arg(long, value_name = "FILE")]
    pub(super) transcript: Option<PathBuf>,
    /// Only these case variants (repeatable): a prefix of the variant's name or of one of its
    /// rule IDs (`revoke.`, `revoke_around_reset[iommufd]`), or a glob over either when it has
    /// `*` or `?` (`*[[]iommufd]`, `teardown.*`).
    #[arg(long, value_name = "PATTERN")]
    pub(super) filter: Vec<String>,
    /// Leave out these case variants (repeatable; the same patterns as --filter).
    #[arg(long, value_name = "PATTERN")]
    pub(super) exclude: Vec<String>,
    /// Run only part K of N (1 <= K <= N): N CI jobs given 1/N to N/N run every selected
    /// case variant exactly once between them. A variant's part depends only on its name.
    #[arg(long, value_name = "K/N")]
    pub(super) partition: Option<judge::partition::Partition>,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    pub(super) format: RunFormat,
    /// Write the report here instead of standard output.
    #[arg(long)]
    pub(super) output: Option<PathBuf>,
    /// Known failures (see `revoke-conformance expectations`).
    #[arg(long)]
    pub(super) expectations: Option<PathBuf>,
    /// Where rule links point: the published book by default (`REVOKE_CONFORMANCE_BOOK_URL`
    /// changes the default); a book built offline works too (`file:///.../book/build/`).
    #[arg(long, default_value_t = crate::book_url())]
    pub(super) book_url: String,
    /// In the human report, list the case variants that do not apply to a shim too (by
    /// default they are only counted).
    #[arg(long)]
    pub(super) show_na: bool,
}

/// The registered shims that run as processes (written in C): name, command, and whether a
/// run that names no shim includes it (the deliberately broken ones it does not).
pub fn process_shims() -> Vec<(&'static str, Vec<String>, bool)> {
    registry::all()
        .into_iter()
        .filter_map(|r| match r.runs {
            Runs::Process { command } => Some((
                r.name,
                vec![command().display().to_string()],
                r.broken.is_none(),
            )),
            Runs::InProcess { .. } => None,
        })
        .collect()
}

/// The backend that runs a registered shim: in process, or as a process.
fn backend_of(
    r: &Registered,
    timeout: Duration,
    transcript: &Option<Transcript>,
) -> Result<Box<dyn Backend>, CliError> {
    Ok(match r.runs {
        Runs::InProcess { shim, .. } => Box::new(InProcess::new(&shim)),
        Runs::Process { command } => Box::new(RemoteBackend::start_argv(
            r.name,
            vec![command().display().to_string()],
            timeout,
            transcript.clone(),
        )?),
    })
}

/// The backends a run names: registered shims and shim commands; every shim that is not
/// deliberately broken if it names none.
pub(super) fn backends_named(
    names: &[String],
    commands: &[String],
    timeout: Duration,
    transcript: Option<Transcript>,
) -> Result<Vec<Box<dyn Backend>>, CliError> {
    if names.is_empty() && commands.is_empty() {
        return registry::default_run()
            .iter()
            .map(|r| backend_of(r, timeout, &transcript))
            .collect();
    }
    let mut out: Vec<Box<dyn Backend>> = Vec::new();
    for n in names {
        let r = registry::by_name(n).ok_or_else(|| {
            let known: Vec<&str> = registry::all().iter().map(|r| r.name).collect();
            CliError::Fatal(format!(
                "unknown shim `{n}`; in-tree shims: {}",
                known.join(", ")
            ))
        })?;
        out.push(backend_of(&r, timeout, &transcript)?);
    }
    for c in commands {
        out.push(Box::new(RemoteBackend::start(
            c,
            timeout,
            transcript.clone(),
        )?));
    }
    Ok(out)
}

/// Writes `text` to `path` through a temporary file and a rename, so that a reader (or an
/// interrupted run) never sees half a report.
fn write_atomically(path: &PathBuf, text: &str) -> Result<(), CliError> {
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display())))
}

/// Fails unless a file can be created at `path` (its folder exists and takes a new file);
/// the check leaves nothing behind.
fn check_writable(path: &std::path::Path) -> Result<(), CliError> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(CliError::Fatal(format!(
            "--output {}: the folder {} does not exist",
            path.display(),
            folder.display()
        )));
    }
    let probe = folder.join(format!(".revoke-conformance-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            CliError::Fatal(format!(
                "--output {}: cannot write there: {e}",
                path.display()
            ))
        })
}

/// `revoke-conformance run`.
pub(super) fn run(args: RunArgs) -> Result<Exit, CliError> {
    let RunArgs {
        shim,
        shim_cmd,
        timeout,
        transcript,
        filter,
        exclude,
        partition,
        format,
        output,
        expectations,
        book_url,
        show_na,
    } = args;
    let exps = match &expectations {
        Some(path) => Some(
            Expectations::parse(&read(path)?)
                .map_err(|e| CliError::Fatal(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let filter = CaseFilter::new(&filter, &exclude)
        .map_err(|e| CliError::Fatal(e.to_string()))?
        .in_partition(partition.unwrap_or_default());
    if selected_by(&crate::spec(), &filter).is_empty() && partition.is_none() {
        return Err(CliError::Fatal(
            "no case matches the --filter and --exclude patterns (`revoke-conformance list` lists the cases)"
                .to_string(),
        ));
    }
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Fatal(format!(
            "--timeout {timeout}: give a positive number of seconds"
        )));
    }
    // A report that cannot be written is known before the run, not after it.
    if let Some(path) = &output {
        check_writable(path)?;
    }
    let timeout = Duration::from_secs_f64(timeout);
    let transcript = match &transcript {
        Some(path) => Some(
            Transcript::create(path)
                .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let mut backends = backends_named(&shim, &shim_cmd, timeout, transcript)?;
    let cancel = Cancel::new();
    let on_ctrl_c = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if on_ctrl_c.cancel() {
            // A second Ctrl-C: stop now. Shim processes die with the runner.
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
    let opts = RunOptions {
        spec: crate::spec(),
        filter: &filter,
        expectations: exps.as_ref(),
        today: today(),
        cancel: cancel.clone(),
    };
    let total = (backends.len() * selected_by(&crate::spec(), &filter).len()) as u64;
    let part = partition.map(|p| p.to_string());
    let finish = |shims: Vec<ShimResults>, partial: bool| {
        let mut results = collect(&crate::spec(), shims, partial);
        results.provenance.partition = part.clone();
        results
    };
    let render = |results: &RunResults| format.render_with(results, &book_url, show_na);
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
                    let _ = write_atomically(path, &render(&finish(shims, true)));
                }
            });
            done.push(finished);
            if cancel.is_cancelled() {
                break;
            }
        }
    });
    drop(backends);
    let interrupted = cancel.is_cancelled();
    let results = finish(done, interrupted);
    if let Some(exps) = &exps
        && partition.is_none()
        && !interrupted
    {
        for note in exps.unused(&results) {
            eprintln!("revoke-conformance: expectations: {note}");
        }
    }
    let text = render(&results);
    match &output {
        Some(path) => {
            write_atomically(path, &text)?;
            print(&format!("{}\n", judge::formats::closing_line(&results)))?;
        }
        None => print(&text)?,
    }
    Ok(if interrupted {
        eprintln!("revoke-conformance: interrupted; the results are partial");
        Exit::Interrupted
    } else {
        Exit::passed_if(!results.failed())
    })
}

/// `revoke-conformance expectations`.
pub(super) fn expectations(from: &PathBuf, output: Option<&PathBuf>) -> Result<Exit, CliError> {
    let results: RunResults = serde_json::from_str(&read(from)?).map_err(|e| {
        CliError::Fatal(format!(
            "{} is not a result file of `run --format json`: {e}",
            from.display()
        ))
    })?;
    super::write_or_print(
        output,
        &Expectations::from_results(&results, today()).to_toml(),
    )?;
    Ok(Exit::Pass)
}

/// `revoke-conformance mutants`.
pub(super) fn mutants(format: MutantsFormat) -> Result<Exit, CliError> {
    let results = crate::mutants::judge_all(today());
    print(&match format {
        MutantsFormat::Human => crate::mutants::table(&results),
        MutantsFormat::Json => serde_json::to_string_pretty(&results).unwrap_or_default() + "\n",
        MutantsFormat::Markdown => crate::mutants::markdown(&results),
    })?;
    Ok(Exit::passed_if(results.iter().all(|r| r.caught())))
}

/// A progress bar on a terminal; elsewhere (a CI log) plain lines on standard error: one per
/// case variant that is neither `pass` nor `not-applicable`, and a count every tenth of the
/// run, so that the log shows progress without repeating the report.
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
        let step = (total / 10).max(1);
        let mut done = 0u64;
        f(&mut |shim, c| {
            done += 1;
            if !matches!(c.status, Status::Pass | Status::NotApplicable) {
                eprintln!("{shim}: {} {}", c.status.word(), c.name);
            }
            if done.is_multiple_of(step) || done == total {
                eprintln!("revoke-conformance: {done}/{total} case variants run");
            }
        })
    }
}
