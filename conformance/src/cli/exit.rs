//! How a command ends: one error type, the documented exit statuses, panics accounted for
//! once, and a reader that closes standard output early (`| head`).

use std::io::Write as _;

/// Exit status: every applicable case passed (or failed as expected).
pub const EXIT_PASS: i32 = 0;
/// Exit status: a case failed, passed unexpectedly, or its expectation expired.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: the run itself could not be done (bad arguments, unknown shim, unreadable
/// file, a shim command that cannot be started at all), or the suite has a bug.
pub const EXIT_ERROR: i32 = 2;
/// Exit status: the run was interrupted (Ctrl-C); any report written is partial.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How a command that did its job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed ([`EXIT_PASS`]).
    Pass,
    /// Something failed ([`EXIT_FAIL`]).
    Fail,
    /// Ctrl-C stopped it ([`EXIT_INTERRUPTED`]).
    Interrupted,
}

impl Exit {
    /// `Pass` if `passed`, else `Fail`.
    pub fn passed_if(passed: bool) -> Exit {
        if passed { Exit::Pass } else { Exit::Fail }
    }

    /// The process's exit status.
    pub fn code(self) -> i32 {
        match self {
            Exit::Pass => EXIT_PASS,
            Exit::Fail => EXIT_FAIL,
            Exit::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

/// Why a command could not do its job.
#[derive(Debug)]
pub enum CliError {
    /// The run could not be done: bad arguments, an unknown shim, an unreadable file
    /// ([`EXIT_ERROR`]).
    Fatal(String),
    /// A bug of the suite: a panic outside any driver's code ([`EXIT_ERROR`]).
    Internal(String),
    /// The reader of standard output went away (`revoke-conformance list | head -1`): stop
    /// quietly, as a C program killed by `SIGPIPE` does.
    BrokenPipe,
}

impl From<shim_host::BackendError> for CliError {
    fn from(e: shim_host::BackendError) -> CliError {
        CliError::Fatal(e.to_string())
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Fatal(message)
    }
}

impl CliError {
    /// Says what went wrong on standard error and gives the exit status. A closed standard
    /// output ends the process here, by `SIGPIPE` as a shell pipeline expects.
    pub fn report(self) -> i32 {
        match self {
            CliError::Fatal(message) => {
                eprintln!("revoke-conformance: {message}");
                EXIT_ERROR
            }
            CliError::Internal(message) => {
                eprintln!("revoke-conformance: internal error (a bug of the suite): {message}");
                EXIT_ERROR
            }
            CliError::BrokenPipe => die_of_sigpipe(),
        }
    }
}

/// Ends the process the way a C program writing to a closed pipe ends: killed by `SIGPIPE`
/// (status 141 in a shell). Only standard output's reader is gone; writes to shim processes
/// keep the ignored `SIGPIPE` Rust starts with, so they fail with `EPIPE` against their case.
fn die_of_sigpipe() -> i32 {
    // SAFETY: restoring a signal's default action and raising it has no memory effects; the
    // process ends here.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    128 + libc::SIGPIPE
}

/// Writes `text` to standard output; a closed pipe is [`CliError::BrokenPipe`].
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => CliError::BrokenPipe,
            _ => CliError::Fatal(format!("cannot write to standard output: {e}")),
        })
}

std::thread_local! {
    /// Set while [`guarded`] runs on this thread.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The message and place of the last panic on this thread, kept by the panic hook.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` so that every panic is accounted for once. A driver's panic is an oops the model
/// records in the case's trace (`Kernel::run_step`), so the hook prints nothing for it; any
/// other panic unwinds out of `f` and comes back as [`CliError::Internal`] with its message
/// and place (and a backtrace under `RUST_BACKTRACE=1`). Other threads' panics print as usual.
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T, CliError>) -> Result<T, CliError> {
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
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = panic_message(&*payload);
            // `print!` in code that does not use [`print`] (the kernel bridge) panics when the
            // pipe is closed; that is a reader gone, not a bug.
            if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
                return Err(CliError::BrokenPipe);
            }
            Err(CliError::Internal(kept.unwrap_or(message)))
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal<T: std::fmt::Debug>(r: Result<T, CliError>) -> String {
        match r {
            Err(CliError::Internal(m)) => m,
            other => panic!("not an internal error: {other:?}"),
        }
    }

    /// A panic of the suite comes back as an internal error with its message and place,
    /// while a value or an error passes through.
    #[test]
    fn a_harness_panic_is_an_internal_error() {
        assert_eq!(guarded(|| Ok(7)).ok(), Some(7));
        assert!(matches!(
            guarded(|| -> Result<(), _> { Err(CliError::Fatal("no".into())) }),
            Err(CliError::Fatal(_))
        ));
        let line = line!() + 2;
        let message = internal(guarded(|| -> Result<(), _> {
            panic!("the harness is broken")
        }));
        assert!(
            message.starts_with("the harness is broken at "),
            "{message}"
        );
        assert!(message.contains(&format!("exit.rs:{line}")), "{message}");
    }

    /// A driver's panic inside a step stays an oops in the trace: the run goes on, the case
    /// fails, and nothing reaches the guard.
    #[test]
    fn a_driver_panic_stays_in_its_trace() {
        use reference_impl::{Actor, BufId, Call, Kernel};
        let trace = guarded(|| {
            let k = Kernel::new();
            let buf = BufId(0);
            k.harness().run_step(0, Actor::Harness, || {
                k.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
                    panic!("exporter bug")
                })
            });
            Ok(k.harness().trace())
        })
        .expect("no internal error");
        assert_eq!(
            trace.crashed.map(|c| c.message).as_deref(),
            Some("exporter bug")
        );
    }

    /// Every outcome has its documented status.
    #[test]
    fn exit_statuses_are_the_documented_ones() {
        assert_eq!(Exit::Pass.code(), 0);
        assert_eq!(Exit::Fail.code(), 1);
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Exit::passed_if(false), Exit::Fail);
        assert_eq!(CliError::Fatal("x".into()).report(), 2);
        assert_eq!(CliError::Internal("x".into()).report(), 2);
    }
}
