//! One session with a shim process: the hello, the per-case reset, and calls that nest with
//! the shim's kernel calls. Any protocol violation, crash, exit or timeout ends the process and
//! fails the case with a message that says what happened.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use reference_impl::{Kernel, Role, Thread, profile_capabilities, profile_names};
use serde_json::Value;
use shim_protocol::api::{execute, unknown_object};
use shim_protocol::codec::{Line, decode_from_shim, encode};
use shim_protocol::messages::role_named;
use shim_protocol::{CONCURRENT, FromShim, MAX_LINE, ShimCall, ToShim, VERSIONS};

use super::process::{Incoming, ShimProcess, Transcript, Wait};
use judge::runner::Cancel;

/// What a shim said about itself in its hello, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its name.
    pub name: String,
    /// Its role (exporter or importer).
    pub role: Role,
    /// Profiles it plays.
    pub plays: Vec<String>,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// One line on what it wraps.
    pub description: String,
    /// The protocol version it chose.
    pub version: u32,
    /// Its own version, if it gave one.
    pub shim_version: Option<String>,
}

/// Why a shim command could not be used.
#[derive(Debug)]
pub enum StartError {
    /// The program could not be started at all (exit status 2).
    Spawn(String),
    /// It started, but its hello failed: its cases fail.
    Hello {
        /// What went wrong.
        message: String,
        /// What it wrote on standard error.
        stderr: String,
    },
}

/// A call of the harness's in progress: its id, its operation, its thread.
struct InFlight {
    id: u64,
    name: String,
    thread: String,
}

/// The unwinding payload of a failed call: the case ends, the message goes in the trace.
pub(crate) struct Interrupted;

/// A session with one shim command; the process is restarted when a case leaves it unusable.
pub struct Session {
    argv: Vec<String>,
    transcript: Option<Transcript>,
    timeout: Duration,
    identity: Identity,
    proc: RefCell<Option<ShimProcess>>,
    next_id: Cell<u64>,
    /// The harness's calls in progress, innermost last.
    stack: RefCell<Vec<InFlight>>,
    /// The thread of each step of the scenario running now (version 2 names it on the wire).
    threads: RefCell<Vec<Thread>>,
    deadline: Cell<Instant>,
    stderr: RefCell<String>,
    dead: RefCell<Option<String>>,
    /// The run's cancellation token ([`Session::set_cancel`]).
    cancel: RefCell<Cancel>,
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
    if line.len() > 120 {
        format!("{text}... ({} bytes)", line.len())
    } else {
        text
    }
}

/// Starts `argv` and does the hello exchange.
fn start(
    argv: &[String],
    timeout: Duration,
    transcript: Option<Transcript>,
) -> Result<(ShimProcess, Identity), StartError> {
    let mut p = ShimProcess::spawn(argv, transcript)
        .map_err(|e| StartError::Spawn(format!("cannot start `{}`: {e}", argv.join(" "))))?;
    let fail = |p: &mut ShimProcess, message: String| {
        p.kill();
        StartError::Hello {
            message,
            stderr: p.take_stderr(),
        }
    };
    let hello = encode(&ToShim::Hello {
        versions: VERSIONS.to_vec(),
        suite: env!("CARGO_PKG_VERSION").to_string(),
    });
    if let Err(e) = p.send(&hello) {
        let how = p.exit_description(Duration::from_millis(500));
        return Err(fail(
            &mut p,
            format!("the shim {how} before the hello ({e})"),
        ));
    }
    let deadline = Instant::now() + timeout;
    let msg = match p.recv(deadline, &Cancel::new()) {
        Ok(Incoming::Line(Line::Complete(l))) => decode_from_shim(&l).map_err(|e| {
            format!(
                "its hello is not a valid message: {e}; the line was: {}",
                preview(&l)
            )
        }),
        Ok(Incoming::Line(Line::Oversized)) => {
            Err(format!("its hello is longer than {MAX_LINE} bytes"))
        }
        Ok(Incoming::Line(_)) | Ok(Incoming::Error(_)) => Err(format!(
            "the shim {} without saying hello",
            p.exit_description(Duration::from_millis(500))
        )),
        Err(Wait::Timeout) => Err(format!(
            "the shim did not say hello within {} s (--timeout)",
            timeout.as_secs_f64()
        )),
        Err(Wait::Interrupted) => Err("interrupted".to_string()),
    };
    let identity = msg.and_then(check_hello).map_err(|m| fail(&mut p, m))?;
    Ok((p, identity))
}

fn check_hello(msg: FromShim) -> Result<Identity, String> {
    let FromShim::Hello {
        version,
        name,
        role,
        plays,
        capabilities,
        description,
        shim_version,
    } = msg
    else {
        return Err(format!("expected a hello, got {msg:?}"));
    };
    if !VERSIONS.contains(&version) {
        let offered: Vec<String> = VERSIONS.iter().map(u32::to_string).collect();
        return Err(format!(
            "the shim chose protocol version {version}; this runner offered versions {}",
            offered.join(" and ")
        ));
    }
    if name.trim().is_empty() {
        return Err("the hello has an empty name".into());
    }
    let role = match (role_named(&role), role.as_str()) {
        (Some(r), _) => r,
        (None, "core") => {
            return Err(format!(
                "a core cannot run out of process in protocol version {version}"
            ));
        }
        (None, other) => {
            return Err(format!(
                "unknown role \"{other}\" (a shim process is an \"exporter\" or an \"importer\")"
            ));
        }
    };
    if plays.is_empty() {
        return Err(format!(
            "the hello plays no profile (an {role} plays one of: {})",
            profile_names(role).join(", ")
        ));
    }
    if plays.len() > 1 {
        // `new` does not say which profile an instance plays (versions 1 and 2), so a process that
        // plays two would be judged on the wrong one's cases.
        return Err(format!(
            "the hello plays {} profiles ({}); in protocol versions 1 and 2 a shim process plays one, \
             because `new` does not say which profile an instance plays: start one process per \
             profile (e.g. --shim-cmd 'my-shim --profile {}' for each)",
            plays.len(),
            plays.join(", "),
            plays[0]
        ));
    }
    let mut known: Vec<&str> = Vec::new();
    for p in &plays {
        match profile_capabilities(role, p) {
            Some(caps) => known.extend(caps),
            None => {
                return Err(format!(
                    "unknown {role} profile \"{p}\" (an {role} plays one of: {})",
                    profile_names(role).join(", ")
                ));
            }
        }
    }
    for c in &capabilities {
        if !known.contains(&c.as_str()) {
            return Err(format!(
                "unknown capability \"{c}\" (the profiles it plays have: {})",
                known.join(", ")
            ));
        }
    }
    Ok(Identity {
        name,
        role,
        plays,
        capabilities,
        description,
        version,
        shim_version: shim_version.filter(|v| !v.trim().is_empty()),
    })
}

impl Session {
    /// Starts the shim command and checks its hello.
    pub fn start(
        argv: Vec<String>,
        timeout: Duration,
        transcript: Option<Transcript>,
    ) -> Result<Session, StartError> {
        let (p, identity) = start(&argv, timeout, transcript.clone())?;
        Ok(Session {
            argv,
            transcript,
            timeout,
            identity,
            proc: RefCell::new(Some(p)),
            next_id: Cell::new(0),
            stack: RefCell::default(),
            threads: RefCell::default(),
            deadline: Cell::new(Instant::now() + timeout),
            stderr: RefCell::default(),
            dead: RefCell::default(),
            cancel: RefCell::default(),
        })
    }

    /// Waits on the shim stop once `cancel` is cancelled (the runner's Ctrl-C).
    pub fn set_cancel(&self, cancel: &Cancel) {
        *self.cancel.borrow_mut() = cancel.clone();
    }

    /// What the shim said about itself.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether the shim speaks concurrent calls (protocol version 2): several calls in flight,
    /// one per scenario thread, each naming its thread.
    pub fn concurrent(&self) -> bool {
        self.identity.version >= CONCURRENT
    }

    /// The thread of each step of the scenario about to run: a call made while step `i` runs
    /// is on `threads[i]` (`main` past the end).
    pub fn set_threads(&self, threads: Vec<Thread>) {
        *self.threads.borrow_mut() = threads;
    }

    /// The thread a call made now runs on: that of the step running on `k`, else that of the
    /// innermost call in progress (`new`, which the core asks for without a kernel), else
    /// `main`.
    fn thread_now(&self, k: Option<&Kernel>) -> String {
        if let Some(k) = k
            && let Some(t) = self.threads.borrow().get(k.harness().current_step())
        {
            return t.as_str().to_string();
        }
        self.stack
            .borrow()
            .last()
            .map(|c| c.thread.clone())
            .unwrap_or_else(|| Thread::main().as_str().to_string())
    }

    fn collect_stderr(&self) {
        if let Some(p) = self.proc.borrow_mut().as_mut() {
            let text = p.take_stderr();
            self.stderr.borrow_mut().push_str(&text);
        }
    }

    /// Standard error written since the case began.
    pub fn take_stderr(&self) -> String {
        self.collect_stderr();
        std::mem::take(&mut *self.stderr.borrow_mut())
    }

    fn restart(&self) -> Result<(), String> {
        self.collect_stderr();
        if let Some(mut old) = self.proc.borrow_mut().take() {
            old.kill();
        }
        self.stack.borrow_mut().clear();
        match start(&self.argv, self.timeout, self.transcript.clone()) {
            Ok((p, identity)) if identity == self.identity => {
                *self.proc.borrow_mut() = Some(p);
                Ok(())
            }
            Ok((mut p, identity)) => {
                p.kill();
                Err(format!(
                    "the restarted shim says it is {identity:?}, not {:?}",
                    self.identity
                ))
            }
            Err(StartError::Spawn(m)) => Err(m),
            Err(StartError::Hello { message, stderr }) => {
                self.stderr.borrow_mut().push_str(&stderr);
                Err(message)
            }
        }
    }

    /// Announces a case; restarts the process first if the last case left it mid-call or
    /// dead. `Err` says why the case cannot run.
    pub fn begin_case(&self, name: &str) -> Result<(), String> {
        self.stderr.borrow_mut().clear();
        if let Some(why) = self.dead.borrow().as_ref() {
            return Err(why.clone());
        }
        self.deadline.set(Instant::now() + self.timeout);
        let usable = self.proc.borrow().is_some() && self.stack.borrow().is_empty();
        if !usable && let Err(e) = self.restart() {
            let why = format!("the shim process could not be restarted: {e}");
            *self.dead.borrow_mut() = Some(why.clone());
            return Err(why);
        }
        let sent = self.with_proc(|p| p.send(&encode(&ToShim::Case { name: name.into() })));
        if let Err(e) = sent {
            return Err(format!("{} before the case began ({e})", self.ended()));
        }
        match self.next_message("the case announcement") {
            Ok(FromShim::Ready {}) => Ok(()),
            Ok(other) => {
                let why = format!("expected ready, got {other:?}");
                self.kill();
                Err(why)
            }
            Err(why) => Err(why),
        }
    }

    /// Ends the session: `bye`, then the process has a moment to exit before it is killed.
    pub fn finish(&self) {
        if let Some(mut p) = self.proc.borrow_mut().take() {
            let _ = p.send(&encode(&ToShim::Bye { reason: None }));
            p.finish(Duration::from_millis(500));
        }
    }

    fn with_proc<R>(
        &self,
        f: impl FnOnce(&mut ShimProcess) -> std::io::Result<R>,
    ) -> std::io::Result<R> {
        match self.proc.borrow_mut().as_mut() {
            Some(p) => f(p),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no shim process",
            )),
        }
    }

    fn kill(&self) {
        self.collect_stderr();
        if let Some(mut p) = self.proc.borrow_mut().take() {
            p.kill();
        }
    }

    /// How the process ended (waiting briefly for it), then kill it: "the shim process was
    /// killed by signal 6 (SIGABRT)".
    fn ended(&self) -> String {
        let how = self
            .proc
            .borrow_mut()
            .as_mut()
            .map(|p| p.exit_description(Duration::from_millis(500)))
            .unwrap_or_else(|| "is gone".into());
        self.kill();
        format!("the shim process {how}")
    }

    /// The next message, or why there is none (the process is killed then).
    fn next_message(&self, during: &str) -> Result<FromShim, String> {
        let deadline = self.deadline.get();
        let item = match self.proc.borrow_mut().as_mut() {
            Some(p) => p.recv(deadline, &self.cancel.borrow()),
            None => return Err("the shim process is gone".into()),
        };
        let fail = |m: String| {
            self.kill();
            Err(m)
        };
        match item {
            Ok(Incoming::Line(Line::Complete(l))) => match decode_from_shim(&l) {
                Ok(m) => Ok(m),
                Err(e) => fail(format!(
                    "protocol error during {during}: {e}; the line was: {}",
                    preview(&l)
                )),
            },
            Ok(Incoming::Line(Line::Truncated(l))) => Err(format!(
                "{} in the middle of a line during {during}; the partial line was: {}",
                self.ended(),
                preview(&l)
            )),
            Ok(Incoming::Line(Line::Eof)) => Err(format!("{} during {during}", self.ended())),
            Ok(Incoming::Line(Line::Oversized)) => fail(format!(
                "protocol error during {during}: a line longer than {MAX_LINE} bytes (the limit); reading stopped there"
            )),
            Ok(Incoming::Error(e)) => fail(format!(
                "cannot read the shim's output during {during}: {e}"
            )),
            Err(Wait::Timeout) => fail(format!(
                "no answer to {during} within {} s (--timeout); the shim process was killed",
                self.timeout.as_secs_f64()
            )),
            Err(Wait::Interrupted) => fail("the run was interrupted (Ctrl-C)".into()),
        }
    }

    fn fail(&self, message: String) -> ! {
        self.kill();
        std::panic::resume_unwind(Box::new(reference_impl::ShimProcessFailed(message)))
    }

    /// Calls the shim and serves its kernel calls on `k` until it answers. Any failure ends
    /// the process and panics with the reason, which the model records as the driver's crash
    /// in the trace (the case's later steps do not run).
    pub fn call(&self, k: Option<&Kernel>, call: ShimCall) -> Value {
        let name = call.name();
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let concurrent = self.concurrent();
        let thread = self.thread_now(k);
        let line = encode(&ToShim::Call {
            id,
            thread: concurrent.then(|| thread.clone()),
            call,
        });
        // Version 1 messages stay word for word; version 2 names a thread other than main.
        let during = if concurrent && thread != Thread::main().as_str() {
            format!("`{name}` on thread `{thread}`")
        } else {
            format!("`{name}`")
        };
        if let Err(e) = self.with_proc(|p| p.send(&line)) {
            let why = format!("{} before {during} could be sent ({e})", self.ended());
            self.fail(why);
        }
        self.stack.borrow_mut().push(InFlight {
            id,
            name: name.clone(),
            thread: thread.clone(),
        });
        loop {
            let msg = match self.next_message(&during) {
                Ok(m) => m,
                Err(_) if self.cancel.borrow().is_cancelled() => {
                    std::panic::resume_unwind(Box::new(Interrupted))
                }
                Err(why) => self.fail(why),
            };
            match msg {
                FromShim::Ret {
                    id: got,
                    thread: named,
                    ret,
                } if got == id => {
                    if let Err(why) = self.check_thread(named.as_deref(), &thread, || {
                        format!("the ret of call {id} ({during})")
                    }) {
                        self.fail(why);
                    }
                    self.stack.borrow_mut().pop();
                    return ret;
                }
                FromShim::Ret { id: got, .. } => {
                    let waiting = self
                        .stack
                        .borrow()
                        .iter()
                        .find(|c| c.id == got)
                        .map(|c| (c.name.clone(), c.thread.clone()));
                    match waiting {
                        Some((other, on)) if concurrent => self.fail(format!(
                            "protocol error: a ret for call {got} (`{other}` on thread `{on}`), which waits for the return of its kernel call, while call {id} ({during}) runs: only the thread the runner let go may answer"
                        )),
                        _ => self.fail(format!(
                            "protocol error: a reply to a call that was never made (ret for call {got}; the call in progress is {id}, `{name}`)"
                        )),
                    }
                }
                FromShim::Kcall {
                    id: kid,
                    thread: named,
                    call: kcall,
                } => {
                    if let Err(why) = self.check_thread(named.as_deref(), &thread, || {
                        format!("kernel call `{}` (made during {during})", kcall.name())
                    }) {
                        self.fail(why);
                    }
                    let Some(k) = k else {
                        self.fail(format!(
                            "protocol error: kernel call `{}` while handling `{name}`, which must not call the kernel",
                            kcall.name()
                        ));
                    };
                    if let Some(obj) = unknown_object(k, &kcall) {
                        self.fail(format!(
                            "protocol error: kernel call `{}` names {obj}, which does not exist",
                            kcall.name()
                        ));
                    }
                    let ret = execute(k, &kcall);
                    let line = encode(&ToShim::Kret {
                        id: kid,
                        thread: concurrent.then(|| thread.clone()),
                        ret,
                    });
                    if let Err(e) = self.with_proc(|p| p.send(&line)) {
                        let why = format!(
                            "{} before the return of `{}` could be sent ({e})",
                            self.ended(),
                            kcall.name()
                        );
                        self.fail(why);
                    }
                }
                FromShim::Hello { .. } | FromShim::Ready {} => self.fail(format!(
                    "protocol error: a {} message in the middle of `{name}`",
                    if matches!(msg, FromShim::Ready {}) {
                        "ready"
                    } else {
                        "hello"
                    }
                )),
            }
        }
    }

    /// Whether a `ret` or `kcall` names the thread it must: in version 2 the thread of the
    /// call it belongs to (the one thread running); in version 1 none.
    fn check_thread(
        &self,
        named: Option<&str>,
        expected: &str,
        what: impl FnOnce() -> String,
    ) -> Result<(), String> {
        match (self.concurrent(), named) {
            (true, Some(t)) if t == expected => Ok(()),
            (true, Some(t)) => Err(format!(
                "protocol error: {} names thread `{t}`, but it belongs to thread `{expected}` (a shim answers each call on the thread the call named)",
                what()
            )),
            (true, None) => Err(format!(
                "protocol error: {} names no thread (protocol version 2 needs \"thread\": \"{expected}\")",
                what()
            )),
            (false, Some(t)) => Err(format!(
                "protocol error: {} names thread `{t}`, but protocol version 1 has no threads",
                what()
            )),
            (false, None) => Ok(()),
        }
    }

    /// Fails the case with `message` (a wrong return value, for example).
    pub fn violation(&self, message: String) -> ! {
        self.fail(format!("protocol error: {message}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.finish();
    }
}
