//! Shims in other processes: the harness's side of the wire protocol (see the book's chapter
//! "Shims in other processes: the wire protocol" and the `shim-protocol` crate).

mod process;
mod proxy;
mod session;

use std::rc::Rc;
use std::time::Duration;

use reference_impl::{Exporter, Importer, Role, Roles, ScheduledRun, Step, profiles_apply};

pub use process::{STDERR_LIMIT, Transcript};
pub use session::{Identity, Session, StartError};

use judge::CaseDef;
use judge::results::{ProcessIdentity, ShimInfo};
use judge::runner::{Backend, Cancel, Ran};

/// The default time a case may take against a shim process.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a shim command cannot be a backend: the run cannot be done (exit status 2), and its
/// cases are not failures of the driver.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The command cannot be split into a program and its arguments.
    #[error("cannot split the shim command `{0}`")]
    BadCommand(String),
    /// The command holds shell syntax (a pipe, a redirection, a list), which is not run by a
    /// shell and would reach the program as an argument.
    #[error(
        "the shim command `{command}` holds the shell operator `{operator}`, but it is not run \
         by a shell (it would reach the program as an argument); wrap it: \
         --shim-cmd 'sh -c \"...\"'"
    )]
    ShellSyntax {
        /// The command as given.
        command: String,
        /// The operator found.
        operator: String,
    },
    /// The program cannot be started.
    #[error("{0}")]
    Spawn(String),
    /// It started but failed its hello: the cause, what would fix it, its standard error.
    #[error("{}", hello_failed(.command, .message, .stderr))]
    Hello {
        /// The command as reports name it.
        command: String,
        /// What went wrong.
        message: String,
        /// What it wrote on standard error.
        stderr: String,
    },
}

/// The shell operator in `command`, if one of its words is an unquoted `|`, `&&`, `;`, `>`...
/// (a quoted `'|'` is an argument like any other and is left alone).
fn shell_operator(command: &str, argv: &[String]) -> Option<String> {
    const OPERATORS: &[&str] = &["|", "||", "&&", "&", ";", ">", ">>", "<", "2>", "2>&1"];
    let bare: Vec<&str> = command.split_whitespace().collect();
    argv.iter()
        .find(|a| OPERATORS.contains(&a.as_str()) && bare.contains(&a.as_str()))
        .cloned()
}

/// A shim process as a backend of the runner.
pub struct RemoteBackend {
    command: String,
    session: Rc<Session>,
}

impl RemoteBackend {
    /// Starts `command` (split like a shell would, without a shell). `Err` when the program
    /// cannot be started, or when it fails its hello: one error naming the cause, what would
    /// fix it, and what the shim wrote on standard error (the run cannot be done; its cases are
    /// not failures of the driver).
    pub fn start(
        command: &str,
        timeout: Duration,
        transcript: Option<Transcript>,
    ) -> Result<RemoteBackend, BackendError> {
        let argv = shlex::split(command)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| BackendError::BadCommand(command.to_string()))?;
        if let Some(operator) = shell_operator(command, &argv) {
            return Err(BackendError::ShellSyntax {
                command: command.to_string(),
                operator,
            });
        }
        Self::start_argv(command, argv, timeout, transcript)
    }

    /// Starts the program `argv[0]` with arguments; `command` names it in reports.
    pub fn start_argv(
        command: &str,
        argv: Vec<String>,
        timeout: Duration,
        transcript: Option<Transcript>,
    ) -> Result<RemoteBackend, BackendError> {
        let session = match Session::start(argv, timeout, transcript) {
            Ok(s) => Rc::new(s),
            Err(StartError::Spawn(m)) => return Err(BackendError::Spawn(m)),
            Err(StartError::Hello { message, stderr }) => {
                return Err(BackendError::Hello {
                    command: command.to_string(),
                    message,
                    stderr,
                });
            }
        };
        Ok(RemoteBackend {
            command: command.to_string(),
            session,
        })
    }

    /// What the shim said about itself in its hello.
    pub fn identity(&self) -> &Identity {
        self.session.identity()
    }

    fn roles(session: &Rc<Session>) -> Roles {
        let id = session.identity();
        let plays = id.plays.clone();
        let s = session.clone();
        match id.role {
            Role::Exporter => Roles::with_exporter(move |kind, buf| {
                plays.iter().any(|p| p == kind.name()).then(|| {
                    Rc::new(proxy::RemoteExporter::new(s.clone(), buf)) as Rc<dyn Exporter>
                })
            }),
            Role::Importer => Roles::with_importer(move |kind, att| {
                plays.iter().any(|p| p == kind.name()).then(|| {
                    Rc::new(proxy::RemoteImporter::new(s.clone(), att)) as Rc<dyn Importer>
                })
            }),
            Role::Core | Role::Unknown => Roles::reference(),
        }
    }
}

impl Backend for RemoteBackend {
    fn info(&self) -> ShimInfo {
        let id = self.session.identity();
        ShimInfo {
            name: id.name.clone(),
            role: id.role,
            plays: id.plays.clone(),
            capabilities: id.capabilities.clone(),
            description: if id.description.is_empty() {
                format!("shim process `{}`", self.command)
            } else {
                format!("{} (process `{}`)", id.description, self.command)
            },
            process: Some(ProcessIdentity {
                command: self.command.clone(),
                name: id.name.clone(),
                protocol: id.version,
                version: id.shim_version.clone(),
            }),
            kernel: None,
        }
    }

    fn applies_to(&self, _case: &CaseDef, _variant: &str, steps: &[Step]) -> Result<(), String> {
        let id = self.session.identity();
        let plays: Vec<&str> = id.plays.iter().map(String::as_str).collect();
        profiles_apply(id.role, &plays, steps)
    }

    fn set_cancel(&mut self, cancel: &Cancel) {
        self.session.set_cancel(cancel);
    }

    fn run(&mut self, case: &CaseDef, variant: &str, steps: &[Step]) -> Ran {
        let session = self.session.clone();
        if let Err(e) = session.begin_case(&case.variant_name(variant)) {
            return Ran {
                trace: Err(e),
                stderr: Some(session.take_stderr()),
            };
        }
        // A racy case runs in the order written; version 2 still names each call's thread.
        session.set_threads(
            judge::outcome::scenario_of(case, variant)
                .map(|s| s.to_file().threads())
                .unwrap_or_default(),
        );
        let roles = Self::roles(&session);
        let trace = reference_impl::run_with(&roles, steps);
        Ran {
            trace,
            stderr: Some(session.take_stderr()),
        }
    }

    fn scenario_applies(&self, steps: &[Step]) -> Result<(), String> {
        let id = self.session.identity();
        let plays: Vec<&str> = id.plays.iter().map(String::as_str).collect();
        profiles_apply(id.role, &plays, steps)
    }

    /// A file with threads or a schedule needs concurrent calls (protocol version 2): a shim
    /// of version 1 has one call in flight at a time, so it cannot run another thread's step
    /// while a call waits for its kernel call.
    fn file_applies(&self, file: &reference_impl::ScenarioFile) -> Result<(), String> {
        self.scenario_applies(&file.plain_steps())?;
        if (file.is_concurrent() || !file.schedule.is_empty()) && !self.session.concurrent() {
            return Err(sequential_only(self.session.identity().version));
        }
        Ok(())
    }

    /// A shim process runs a file's steps under its schedule when it speaks protocol version
    /// 2 (each call names its thread; another thread's step runs while a call waits for the
    /// return of a kernel call at a scheduling point); a shim of version 1 runs sequential
    /// files only.
    fn run_file(&mut self, name: &str, file: &reference_impl::ScenarioFile) -> Ran {
        if let Err(why) = self.file_applies(file) {
            return Ran {
                trace: Err(why),
                stderr: None,
            };
        }
        Ran {
            trace: run_schedule(&self.session, name, file)
                .and_then(|run| judge::runner::scheduled_trace(run, file)),
            stderr: Some(self.session.take_stderr()),
        }
    }
}

impl RemoteBackend {
    /// Runs one schedule of `file` in a fresh case named `name`: what the explorer runs for
    /// each schedule of a racy case on a shim process.
    pub fn run_schedule(&self, name: &str, file: &reference_impl::ScenarioFile) -> ScheduledRun {
        match run_schedule(&self.session, name, file) {
            Ok(run) => run,
            Err(e) => ScheduledRun {
                trace: Err(e),
                blocked: None,
                offered: Vec::new(),
                unused: Vec::new(),
                inside: Vec::new(),
            },
        }
    }

    /// Whether the shim speaks concurrent calls (protocol version 2).
    pub fn concurrent(&self) -> bool {
        self.session.concurrent()
    }
}

/// Why a shim of protocol `version` cannot run a scenario with threads.
pub fn sequential_only(version: u32) -> String {
    format!(
        "a scenario whose steps run on several threads needs concurrent calls (protocol \
         version {}: several calls in flight, one per thread); this shim speaks version \
         {version}, one call in flight at a time, so it runs sequential scenarios only",
        shim_protocol::CONCURRENT
    )
}

fn run_schedule(
    session: &Rc<Session>,
    name: &str,
    file: &reference_impl::ScenarioFile,
) -> Result<ScheduledRun, String> {
    session.begin_case(name)?;
    session.set_threads(file.threads());
    let roles = Rc::new(RemoteBackend::roles(session));
    Ok(if file.is_concurrent() || !file.schedule.is_empty() {
        reference_impl::run_scheduled(roles, file)
    } else {
        ScheduledRun {
            trace: reference_impl::run_with(&roles, &file.plain_steps()),
            blocked: None,
            offered: Vec::new(),
            unused: Vec::new(),
            inside: Vec::new(),
        }
    })
}

impl Drop for RemoteBackend {
    fn drop(&mut self) {
        self.session.finish();
    }
}

/// The error of a shim that started but failed its hello: the cause, what would fix it, and
/// what the shim wrote on standard error.
fn hello_failed(command: &str, message: &str, stderr: &str) -> String {
    let mut out = format!("the shim `{command}` failed its hello: {message}");
    if message.contains("did not say hello") {
        out.push_str(
            "\n  hint: a shim writes each message as one line and flushes its standard output \
             after every line (Python: sys.stdout.flush(); C: fflush(stdout)); see the book's \
             chapter \"Shims in other processes: the wire protocol\"",
        );
    }
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        let shown: String = stderr.chars().take(4000).collect();
        out.push_str(&format!("\n  the shim wrote on standard error:\n{shown}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(command: &str) -> Option<String> {
        shell_operator(command, &shlex::split(command).unwrap_or_default())
    }

    #[test]
    fn a_pipe_in_a_shim_command_is_named_not_passed_on() {
        assert_eq!(operator("python3 shim.py | tee log").as_deref(), Some("|"));
        assert_eq!(operator("./shim > out 2>&1").as_deref(), Some(">"));
        assert_eq!(operator("./a && ./b").as_deref(), Some("&&"));
        assert_eq!(operator("./shim --sep '|'"), None);
        assert_eq!(operator("sh -c './shim | tee log'"), None);
        assert_eq!(operator("./shim --flag=a|b"), None);
        let e = RemoteBackend::start("./shim | tee log", Duration::from_secs(1), None)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("shell operator `|`"), "{e}");
        assert!(e.to_string().contains("sh -c"), "{e}");
    }
}
