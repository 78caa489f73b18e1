//! The `revoke-conformance` command line: the arguments, and one function per subcommand.
//! Each subcommand returns how it ended ([`Exit`]) or why it could not do its job
//! ([`CliError`]); [`main`] maps both to the documented exit statuses.

mod exit;
mod explore;
mod inspect;
mod listing;
mod replay;
mod run;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::formats::RunFormat;
pub use exit::{CliError, EXIT_ERROR, EXIT_FAIL, EXIT_INTERRUPTED, EXIT_PASS, Exit, print};
pub use run::process_shims;

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

/// Formats of `mutants`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum MutantsFormat {
    Human,
    Json,
    Markdown,
}

/// Formats of `monitors`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum MonitorsFormat {
    Human,
    Markdown,
}

/// Formats of the listing commands.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum ListFormat {
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
    Run(run::RunArgs),
    /// Run one portable scenario file (steps, threads, a schedule) on a shim and judge its
    /// trace. Exit status 1 when a check fails.
    Replay(replay::ReplayArgs),
    /// Explore interleavings: `--races` runs every schedule of the book's racy cases up to a
    /// number of preemptions, then random ones, on an in-tree shim, and prints the minimal
    /// violating schedule of each case that fails. Exit status 1 when one fails.
    Explore(explore::ExploreArgs),
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
    /// Every rule's monitor: the role it binds, where it applies, what it judges (or why no
    /// trace can show the rule).
    Monitors {
        /// Output format: human (one rule a paragraph) or markdown (the book's page).
        #[arg(long, value_enum, default_value = "human")]
        format: MonitorsFormat,
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
        /// The newest protocol version to speak: 1 is a shim of before concurrent calls (one
        /// call in flight), which runs sequential scenarios only.
        #[arg(long, default_value_t = shim_protocol::VERSION, value_name = "N")]
        protocol: u32,
    },
    /// Run the cases against the real Linux dma-buf core (KUnit under User-Mode Linux; Linux 7.2
    /// by default, 6.12 with `--kernel 6.12` and `CONFIG_DMABUF_MOVE_NOTIFY` on and off) and
    /// report per-rule verdicts for the kernel.
    Kernel(crate::kernel::KernelArgs),
    /// What a change of the spec changes between two git revisions: rules added, removed,
    /// renamed or reworded, cases, blessed traces (event numbers ignored), and the verdicts of
    /// every in-tree shim, good and broken. Exit status 1 when a rule ID disappeared with
    /// neither an alias nor a retirement entry.
    SpecDiff(crate::review::SpecDiffArgs),
    /// What changed between two result files of a driver (`run --format json`), by shim, case
    /// and rule. Exit status 1 when a case that passed (or did not run) now fails.
    Compare(crate::review::CompareArgs),
    /// Time the suite: whole runs, per case, and the harness against the bare model.
    Bench {
        /// Repetitions of each measurement (the minimum is reported).
        #[arg(long, default_value_t = 5)]
        repeat: u32,
    },
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
    match exit::guarded(|| dispatch(cli.command)) {
        Ok(exit) => exit.code(),
        Err(e) => e.report(),
    }
}

fn dispatch(command: Command) -> Result<Exit, CliError> {
    match command {
        Command::Shims { format } => listing::shims(format),
        Command::List { format } => listing::cases(format),
        Command::Rules { format } => listing::rules(format),
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::replay(args),
        Command::Explore(args) => explore::explore(args),
        Command::Expectations { from, output } => run::expectations(&from, output.as_ref()),
        Command::Show { case } => inspect::show(&case),
        Command::Export { out } => inspect::export(&out),
        Command::CheckTrace { case, trace } => inspect::check_trace(&case, &trace),
        Command::Mutants { format } => run::mutants(format),
        Command::Monitors { format } => listing::monitors(format),
        Command::Serve {
            shim,
            misbehave,
            protocol,
        } => serve::serve(&shim, misbehave, protocol),
        Command::Kernel(args) => match crate::kernel::main(args)? {
            EXIT_PASS => Ok(Exit::Pass),
            _ => Ok(Exit::Fail),
        },
        Command::SpecDiff(args) => crate::review::spec_diff(args),
        Command::Compare(args) => crate::review::compare(args),
        Command::Bench { repeat } => {
            exit::print(&crate::bench::run(repeat.max(1)))?;
            Ok(Exit::Pass)
        }
    }
}

/// Reads a file the user named.
fn read(path: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Fatal(format!("cannot read {}: {e}", path.display())))
}

/// Writes `text` to `output`, or to standard output if none is given.
fn write_or_print(output: Option<&PathBuf>, text: &str) -> Result<(), CliError> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display()))),
        None => exit::print(text),
    }
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
