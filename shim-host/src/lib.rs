//! Shims in other processes: the harness's side of the wire protocol (see the book's chapter
//! "Shims in other processes: the wire protocol" and the `shim-protocol` crate).

mod process;
mod proxy;
mod session;

use std::rc::Rc;
use std::time::Duration;

use reference_impl::{Exporter, Importer, Role, Roles, Step, profiles_apply};

pub use process::{STDERR_LIMIT, Transcript};
pub use session::{Identity, Session, StartError};

use judge::CaseDef;
use judge::results::ShimInfo;
use judge::runner::{Backend, Ran};

/// The default time a case may take against a shim process.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A shim process as a backend of the runner.
pub struct RemoteBackend {
    command: String,
    state: State,
}

enum State {
    Running(Rc<Session>),
    /// The hello failed: every case fails with this.
    Unusable {
        message: String,
        stderr: String,
    },
}

impl RemoteBackend {
    /// Starts `command` (split like a shell would, without a shell). `Err` only when the
    /// program cannot be started at all; a shim that starts but fails its hello gives a
    /// backend whose cases all fail with the reason.
    pub fn start(
        command: &str,
        timeout: Duration,
        transcript: Option<Transcript>,
    ) -> Result<RemoteBackend, String> {
        let argv = shlex::split(command)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("cannot split the shim command `{command}`"))?;
        Self::start_argv(command, argv, timeout, transcript)
    }

    /// Starts the program `argv[0]` with arguments; `command` names it in reports.
    pub fn start_argv(
        command: &str,
        argv: Vec<String>,
        timeout: Duration,
        transcript: Option<Transcript>,
    ) -> Result<RemoteBackend, String> {
        let state = match Session::start(argv, timeout, transcript) {
            Ok(s) => State::Running(Rc::new(s)),
            Err(StartError::Spawn(m)) => return Err(m),
            Err(StartError::Hello { message, stderr }) => State::Unusable { message, stderr },
        };
        Ok(RemoteBackend {
            command: command.to_string(),
            state,
        })
    }

    /// What the shim said about itself, if its hello succeeded.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.state {
            State::Running(s) => Some(s.identity()),
            State::Unusable { .. } => None,
        }
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
        match &self.state {
            State::Running(s) => {
                let id = s.identity();
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
                }
            }
            State::Unusable { message, .. } => ShimInfo {
                name: self.command.clone(),
                role: Role::Unknown,
                plays: Vec::new(),
                capabilities: Vec::new(),
                description: format!("a shim process whose hello failed: {message}"),
            },
        }
    }

    fn applies_to(&self, _case: &CaseDef, _variant: &str, steps: &[Step]) -> Result<(), String> {
        match &self.state {
            State::Running(s) => {
                let id = s.identity();
                let plays: Vec<&str> = id.plays.iter().map(String::as_str).collect();
                profiles_apply(id.role, &plays, steps)
            }
            State::Unusable { .. } => Ok(()),
        }
    }

    fn run(&mut self, case: &CaseDef, variant: &str, steps: &[Step]) -> Ran {
        let session = match &self.state {
            State::Running(s) => s.clone(),
            State::Unusable { message, stderr } => {
                return Ran {
                    trace: Err(format!("the shim could not be used: {message}")),
                    stderr: Some(stderr.clone()),
                };
            }
        };
        if let Err(e) = session.begin_case(&case.variant_name(variant)) {
            return Ran {
                trace: Err(e),
                stderr: Some(session.take_stderr()),
            };
        }
        let roles = Self::roles(&session);
        let trace = reference_impl::run_with(&roles, steps);
        Ran {
            trace,
            stderr: Some(session.take_stderr()),
        }
    }
}

impl Drop for RemoteBackend {
    fn drop(&mut self) {
        if let State::Running(s) = &self.state {
            s.finish();
        }
    }
}
