//! A shim process: spawned in its own process group, killed with that group, its standard
//! output read line by line (bounded) without blocking, waiting in `poll(2)` on it and on its
//! standard error, which is drained as it comes and kept per case (bounded).
//!
//! No reader thread: a message costs the two processes' own work and the pipe, nothing more
//! (a thread between the pipe and the harness cost a wake-up per message).

use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use shim_protocol::codec::Line;
use shim_protocol::messages::MAX_LINE;

use judge::runner::Cancel;

/// How much of a shim's standard error a case keeps.
pub const STDERR_LIMIT: usize = 64 * 1024;

/// What came from the shim's standard output.
pub(crate) enum Incoming {
    /// A line (or how reading ended).
    Line(Line),
    /// Reading failed.
    Error(String),
}

/// Why waiting for the shim ended without a message.
pub(crate) enum Wait {
    /// The deadline passed.
    Timeout,
    /// The runner was interrupted (Ctrl-C).
    Interrupted,
}

/// Where every protocol line exchanged with shim processes is appended: `> ` for the harness's
/// lines, `< ` for the shim's (`run --transcript`). Buffered; flushed whenever the harness has
/// waited a slice for a shim (so a hung shim's transcript is complete) and when dropped.
#[derive(Clone)]
pub struct Transcript(std::rc::Rc<std::cell::RefCell<BufWriter<std::fs::File>>>);

impl Transcript {
    /// A transcript written to `path` (truncated first).
    pub fn create(path: &std::path::Path) -> io::Result<Transcript> {
        let f = std::fs::File::create(path)?;
        Ok(Transcript(std::rc::Rc::new(std::cell::RefCell::new(
            BufWriter::new(f),
        ))))
    }

    fn flush(&self) {
        let _ = self.0.borrow_mut().flush();
    }

    fn record(&self, prefix: &str, line: &[u8]) {
        let mut f = self.0.borrow_mut();
        let _ = f.write_all(prefix.as_bytes());
        let _ = f.write_all(line.strip_suffix(b"\n").unwrap_or(line));
        let _ = f.write_all(b"\n");
    }
}

/// A running shim process.
pub(crate) struct ShimProcess {
    transcript: Option<Transcript>,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Option<ChildStderr>,
    stdout: ChildStdout,
    /// Bytes read from standard output, not yet returned as a line.
    pending: Vec<u8>,
    /// Standard output ended (end of file, a read error, or an oversized line).
    stdout_done: bool,
    /// A read error that ended standard output, given once as [`Incoming::Error`].
    read_error: Option<String>,
    captured: Vec<u8>,
    cut: usize,
    reaped: bool,
}

fn set_nonblocking(fd: i32) {
    // SAFETY: fcntl on a file descriptor this process owns; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

impl ShimProcess {
    /// Starts `argv` with piped standard streams, in a process group of its own that dies
    /// with the runner.
    pub(crate) fn spawn(
        argv: &[String],
        transcript: Option<Transcript>,
    ) -> io::Result<ShimProcess> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty shim command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Its own process group: Ctrl-C reaches the runner, which ends the shim, and
                // killing the group also ends anything the shim started.
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // If the runner dies without cleaning up (SIGKILL), the shim dies too.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        set_nonblocking(stderr.as_raw_fd());
        set_nonblocking(stdout.as_raw_fd());
        Ok(ShimProcess {
            transcript,
            stdin: child.stdin.take(),
            stderr: Some(stderr),
            stdout,
            pending: Vec::new(),
            stdout_done: false,
            read_error: None,
            child,
            captured: Vec::new(),
            cut: 0,
            reaped: false,
        })
    }

    /// Writes one line to the shim.
    pub(crate) fn send(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "standard input closed"))?;
        if let Some(t) = &self.transcript {
            t.record("> ", line.as_bytes());
        }
        stdin.write_all(line.as_bytes())?;
        stdin.flush()
    }

    /// Closes the shim's standard input (it must exit).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next thing from standard output, waiting until `deadline` or until the run is
    /// cancelled. A line longer than [`MAX_LINE`], a last line without its newline, or a read
    /// error ends the output: every later call gives `Eof`.
    pub(crate) fn recv(&mut self, deadline: Instant, cancel: &Cancel) -> Result<Incoming, Wait> {
        loop {
            if let Some(item) = self.next_incoming() {
                if let (Some(t), Incoming::Line(Line::Complete(l))) = (&self.transcript, &item) {
                    t.record("< ", l);
                }
                return Ok(item);
            }
            self.drain_stderr();
            if cancel.is_cancelled() {
                return Err(Wait::Interrupted);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Wait::Timeout);
            }
            let slice = (deadline - now).min(Duration::from_millis(20));
            if !self.wait_readable(slice) {
                // A slice without a word from the shim: make the transcript whole on disk.
                if let Some(t) = &self.transcript {
                    t.flush();
                }
            }
            self.fill();
        }
    }

    /// A line (or the end of the output) from what was read, if there is one.
    fn next_incoming(&mut self) -> Option<Incoming> {
        let window = self.pending.len().min(MAX_LINE);
        if let Some(i) = self.pending[..window].iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=i).collect();
            line.pop();
            return Some(Incoming::Line(Line::Complete(line)));
        }
        if self.pending.len() >= MAX_LINE {
            self.pending = Vec::new();
            self.stdout_done = true;
            return Some(Incoming::Line(Line::Oversized));
        }
        if let Some(e) = self.read_error.take() {
            self.pending.clear();
            return Some(Incoming::Error(e));
        }
        if self.stdout_done {
            return Some(Incoming::Line(if self.pending.is_empty() {
                Line::Eof
            } else {
                Line::Truncated(std::mem::take(&mut self.pending))
            }));
        }
        None
    }

    /// Reads what standard output has now, without blocking.
    fn fill(&mut self) {
        let mut buf = [0u8; 64 * 1024];
        while !self.stdout_done && self.pending.len() < MAX_LINE {
            match self.stdout.read(&mut buf) {
                Ok(0) => self.stdout_done = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // Kept as the end of the output, after what was read before it.
                    self.read_error = Some(e.to_string());
                    self.stdout_done = true;
                }
            }
        }
    }

    /// Waits up to `slice` for standard output (or standard error) to have something;
    /// `false` if the slice passed with nothing.
    fn wait_readable(&mut self, slice: Duration) -> bool {
        let mut fds = [
            libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.stderr.as_ref().map_or(-1, |e| e.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = slice.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call; a
        // negative fd is ignored by poll(2).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        n > 0
    }

    /// Moves whatever the shim wrote on standard error into the capture, without blocking.
    pub(crate) fn drain_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    return;
                }
                Ok(n) => {
                    let room = STDERR_LIMIT.saturating_sub(self.captured.len());
                    self.captured.extend_from_slice(&buf[..n.min(room)]);
                    self.cut += n.saturating_sub(room);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock: nothing more for now.
            }
        }
    }

    /// What the shim wrote on standard error since the last call.
    pub(crate) fn take_stderr(&mut self) -> String {
        self.drain_stderr();
        let mut text = String::from_utf8_lossy(&std::mem::take(&mut self.captured)).into_owned();
        if self.cut > 0 {
            text.push_str(&format!(
                "\n[{} more bytes cut: a case keeps {} KiB of standard error]\n",
                self.cut,
                STDERR_LIMIT / 1024
            ));
            self.cut = 0;
        }
        text
    }

    /// How the process ended, waiting up to `grace` for it to end by itself.
    pub(crate) fn exit_description(&mut self, grace: Duration) -> String {
        let end = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return describe(status);
                }
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => return "closed its standard output but is still running".into(),
                Err(e) => return format!("cannot be waited for ({e})"),
            }
        }
    }

    /// Kills the process group and reaps the process: no zombie is left behind.
    pub(crate) fn kill(&mut self) {
        self.stdin = None;
        if !self.reaped {
            let pid = self.child.id() as i32;
            // SAFETY: signals the process group the shim leads; no memory is passed.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }

    /// Ends the session politely: closes standard input and gives the shim `grace` to exit
    /// before killing it.
    pub(crate) fn finish(&mut self, grace: Duration) {
        self.close_stdin();
        let _ = self.exit_description(grace);
        self.kill();
    }
}

impl Drop for ShimProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// "exited with status 3", "was killed by signal 6 (SIGABRT)".
pub(crate) fn describe(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(sig) => format!("was killed by signal {sig} ({})", signal_name(sig)),
        None => "ended".to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}
