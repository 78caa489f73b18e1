//! `replay`: one portable scenario file, run on a backend and judged.

use std::path::PathBuf;
use std::time::Duration;

use crate::replay::replay as replay_file;
use crate::runner::Backend;
use reference_impl::ScenarioFile;

use super::exit::print;
use super::{CliError, Exit, read};

/// The arguments of `replay`.
#[derive(clap::Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The scenario file (JSON; see the chapter "Races" and `explore`).
    pub(super) file: PathBuf,
    /// The in-tree shim to run it on (default: `reference-core`, the reference drivers in
    /// every role).
    #[arg(long, conflicts_with = "shim_cmd")]
    pub(super) shim: Option<String>,
    /// A shim in another process: the command that starts it.
    #[arg(long = "shim-cmd", value_name = "COMMAND")]
    pub(super) shim_cmd: Option<String>,
    /// Print the trace as a mermaid sequence diagram with one lane per thread instead of the
    /// report (the exit status is the same).
    #[arg(long)]
    pub(super) diagram: bool,
    /// Seconds the scenario may take against a shim process.
    #[arg(long, default_value_t = crate::remote::DEFAULT_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    pub(super) timeout: f64,
    /// Write every protocol line exchanged with the shim process to this file (`> ` from the
    /// runner, `< ` from the shim): with threads, each line names its thread.
    #[arg(long, value_name = "FILE", requires = "shim_cmd")]
    pub(super) transcript: Option<PathBuf>,
}

/// The shim that leaves every role to the reference drivers.
pub(super) const REFERENCE: &str = "reference-core";

/// The backend `--shim`/`--shim-cmd` name (the reference when neither is given).
pub(super) fn backend(
    shim: Option<&str>,
    shim_cmd: Option<&str>,
    timeout: f64,
) -> Result<Box<dyn Backend>, CliError> {
    backend_recorded(shim, shim_cmd, timeout, None)
}

/// [`backend`], with a shim process's exchange written to `transcript`.
fn backend_recorded(
    shim: Option<&str>,
    shim_cmd: Option<&str>,
    timeout: f64,
    transcript: Option<&PathBuf>,
) -> Result<Box<dyn Backend>, CliError> {
    let timeout = Duration::from_secs_f64(timeout.max(0.001));
    let transcript = match transcript {
        Some(path) => Some(
            crate::remote::Transcript::create(path)
                .map_err(|e| CliError::Fatal(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => None,
    };
    match (shim, shim_cmd) {
        (_, Some(cmd)) => Ok(Box::new(crate::remote::RemoteBackend::start(
            cmd, timeout, transcript,
        )?)),
        (name, None) => {
            let names = [name.unwrap_or(REFERENCE).to_string()];
            let mut all = super::run::backends_named(&names, &[], timeout, None)?;
            Ok(all.remove(0))
        }
    }
}

/// Reads a scenario file, with a clear error.
pub(super) fn read_file(path: &PathBuf) -> Result<ScenarioFile, CliError> {
    ScenarioFile::from_json(&read(path)?)
        .map_err(|e| CliError::Fatal(format!("{}: not a scenario file: {e}", path.display())))
}

/// `revoke-conformance replay`.
pub(super) fn replay(args: ReplayArgs) -> Result<Exit, CliError> {
    let file = read_file(&args.file)?;
    let mut backend = backend_recorded(
        args.shim.as_deref(),
        args.shim_cmd.as_deref(),
        args.timeout,
        args.transcript.as_ref(),
    )?;
    let name = backend.info().name;
    // A shim process of protocol version 1 cannot run steps of several threads: the file is
    // not applicable to it (a profile it does not play stays an error of the command, below).
    if backend.scenario_applies(&file.plain_steps()).is_ok()
        && let Err(why) = backend.file_applies(&file)
    {
        print(&format!(
            "not-applicable {} on {name}: {why}\n",
            args.file.display()
        ))?;
        return Ok(Exit::Pass);
    }
    let replayed = replay_file(&crate::spec(), backend.as_mut(), &file)
        .map_err(|e| CliError::Fatal(format!("{}: {e}", args.file.display())))?;
    if let Err(e) = &replayed.trace {
        return Err(CliError::Fatal(format!(
            "{} could not run on {name}: {e}",
            args.file.display()
        )));
    }
    if args.diagram {
        if let Ok(t) = &replayed.trace {
            print(&crate::replay::lanes_diagram(t, &file))?;
        }
        return Ok(Exit::passed_if(replayed.passed()));
    }
    print(&format!("replay of {} on {name}\n", args.file.display()))?;
    print(&replayed.report())?;
    Ok(Exit::passed_if(replayed.passed()))
}
