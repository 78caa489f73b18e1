//! The shim's side of the protocol, for shims written in Rust: [`serve`] reads the harness's
//! messages on standard input, runs the driver, and answers on standard output.
//!
//! [`Misbehave`] makes a shim break the protocol on purpose, so that tests can show the
//! runner survives every way a shim can go wrong.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::str::FromStr;

use reference_impl::{AttId, BufId};
use serde_json::{Value, json};

use crate::api::{KernelApi, Typed, int_value, sgt_value};
use crate::codec::{Line, LineReader, decode_to_shim, encode};
use crate::driver::{ExporterDriver, ImporterDriver, op_names};
use crate::messages::{
    CONCURRENT, ExporterCall, FromShim, ImporterCall, KernelCall, MAX_LINE, ShimCall, ToShim,
    VERSION,
};

/// What a shim says about itself in its hello.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Its name.
    pub name: String,
    /// `exporter` or `importer`.
    pub role: String,
    /// Profiles it plays.
    pub plays: Vec<String>,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// One line on what it wraps.
    pub description: String,
}

/// Builds the driver instance of one buffer or attachment.
pub enum Factory {
    /// An exporter, one instance per buffer.
    Exporter(Box<dyn Fn(BufId) -> Rc<dyn ExporterDriver>>),
    /// An importer, one instance per attachment.
    Importer(Box<dyn Fn(AttId) -> Rc<dyn ImporterDriver>>),
}

/// A deliberate protocol violation, for testing the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehave {
    /// Abort (SIGABRT) in the middle of `revoke`.
    CrashOnRevoke,
    /// Exit with status 0 in the middle of `revoke`.
    ExitOnRevoke,
    /// Never answer `revoke`.
    HangOnRevoke,
    /// Answer every call correctly, 30 ms late.
    Slow,
    /// Write a line of plain text instead of answering `revoke`.
    Garbage,
    /// Write half a message and close standard output while handling `revoke`.
    Truncated,
    /// Answer `revoke` with a line that is not valid JSON.
    InvalidJson,
    /// Answer `revoke` with a `ret` whose id is a string.
    WrongShape,
    /// Send a message of an unknown type while handling `revoke`.
    UnknownMessage,
    /// Answer `revoke` with a `ret` for a call that was never made.
    UnsolicitedReply,
    /// Send a 2 MiB line while handling `revoke`.
    Oversized,
    /// Write to standard error on every call, and otherwise behave.
    Stderr,
    /// Answer `map_dma_buf` with a negative number that is no errno.
    BadErrno,
    /// Return -EIO wherever the driver returns -ENODEV (a valid errno, the wrong one).
    EioForEnodev,
    /// Never say hello.
    Silent,
    /// Say hello with an unknown role.
    BadRole,
    /// Say hello with a capability no profile has.
    BadCapability,
    /// Say hello with protocol version 9, which the harness did not offer.
    UnofferedVersion,
    /// Answer every call made on a thread other than `main` naming thread `main` (version 2).
    WrongThread,
    /// Never answer a call made on a thread other than `main` (version 2).
    HangOnThread,
    /// Answer a call made on a thread other than `main` with a frame whose `thread` is a list
    /// (version 2).
    GarbledThread,
    /// Make the kernel calls of a thread other than `main` naming thread `main` (version 2).
    KcallOnMain,
    /// On a call of another thread arriving while a call waits for its kernel call, answer
    /// the waiting call first (version 2).
    RetForWaiting,
}

impl Misbehave {
    /// Every misbehaviour with its name.
    pub const ALL: &'static [(&'static str, Misbehave)] = &[
        ("crash-on-revoke", Misbehave::CrashOnRevoke),
        ("exit-on-revoke", Misbehave::ExitOnRevoke),
        ("hang-on-revoke", Misbehave::HangOnRevoke),
        ("slow", Misbehave::Slow),
        ("garbage", Misbehave::Garbage),
        ("truncated", Misbehave::Truncated),
        ("invalid-json", Misbehave::InvalidJson),
        ("wrong-shape", Misbehave::WrongShape),
        ("unknown-message", Misbehave::UnknownMessage),
        ("unsolicited-reply", Misbehave::UnsolicitedReply),
        ("oversized", Misbehave::Oversized),
        ("stderr", Misbehave::Stderr),
        ("bad-errno", Misbehave::BadErrno),
        ("eio-for-enodev", Misbehave::EioForEnodev),
        ("silent", Misbehave::Silent),
        ("bad-role", Misbehave::BadRole),
        ("bad-capability", Misbehave::BadCapability),
        ("version-9", Misbehave::UnofferedVersion),
        ("wrong-thread", Misbehave::WrongThread),
        ("hang-on-thread", Misbehave::HangOnThread),
        ("garbled-thread", Misbehave::GarbledThread),
        ("kcall-on-main", Misbehave::KcallOnMain),
        ("ret-for-waiting", Misbehave::RetForWaiting),
    ];
}

impl FromStr for Misbehave {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Misbehave::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = Misbehave::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown misbehaviour `{s}`; known: {}", names.join(", "))
            })
    }
}

struct Server<'a> {
    input: RefCell<LineReader<Box<dyn BufRead + 'a>>>,
    output: RefCell<Box<dyn Write + 'a>>,
    factory: Factory,
    exporters: RefCell<BTreeMap<BufId, Rc<dyn ExporterDriver>>>,
    importers: RefCell<BTreeMap<AttId, Rc<dyn ImporterDriver>>>,
    next_kcall: Cell<u64>,
    misbehave: Option<Misbehave>,
    /// The newest protocol version this server will choose.
    speaks: u32,
    /// The version chosen at hello.
    version: Cell<u32>,
    /// The threads of the calls being served, innermost last (version 2). Every thread's
    /// call is served on this one stack, as the runner runs in-process shims: the harness
    /// lets one thread run at a time, and another thread's call only arrives while a call
    /// waits for the return of a kernel call.
    threads: RefCell<Vec<(u64, Option<String>)>>,
}

/// How a session ended badly: the message for standard error.
#[derive(Debug)]
pub struct Fatal(pub String);

type Served<T> = Result<T, Fatal>;

impl Server<'_> {
    fn send(&self, msg: &FromShim) -> Served<()> {
        self.raw(&encode(msg))
    }

    fn raw(&self, text: &str) -> Served<()> {
        let mut out = self.output.borrow_mut();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Fatal(format!("cannot write to the harness: {e}")))
    }

    /// The next message; `None` at end of input.
    fn recv(&self) -> Served<Option<ToShim>> {
        let line = self
            .input
            .borrow_mut()
            .next_line()
            .map_err(|e| Fatal(format!("cannot read from the harness: {e}")))?;
        match line {
            Line::Complete(l) => decode_to_shim(&l)
                .map(Some)
                .map_err(|e| Fatal(format!("the harness sent a bad line: {e}"))),
            Line::Eof => Ok(None),
            Line::Truncated(_) => Err(Fatal("the harness stopped in the middle of a line".into())),
            Line::Oversized => Err(Fatal(format!(
                "the harness sent a line longer than {MAX_LINE} bytes"
            ))),
        }
    }

    /// A kernel call: send it, serve nested calls until its `kret` arrives.
    fn kcall(&self, call: KernelCall) -> Served<Value> {
        let id = self.next_kcall.get() + 1;
        self.next_kcall.set(id);
        let mut thread = self.threads.borrow().last().and_then(|(_, t)| t.clone());
        if self.misbehave == Some(Misbehave::KcallOnMain) && thread.as_deref() != Some("main") {
            thread = thread.map(|_| "main".to_string());
        }
        self.send(&FromShim::Kcall {
            id,
            thread: thread.clone(),
            call,
        })?;
        loop {
            match self.recv()? {
                Some(ToShim::Kret {
                    id: got,
                    thread: to,
                    ret,
                }) if got == id => {
                    if to != thread {
                        return Err(Fatal(format!(
                            "the return of kernel call {id} names thread {to:?}, not {thread:?}"
                        )));
                    }
                    return Ok(ret);
                }
                Some(ToShim::Call { id, thread, call }) => self.call(id, thread, &call)?,
                Some(ToShim::Bye { .. }) | None => {
                    return Err(Fatal(
                        "the session ended in the middle of a kernel call".into(),
                    ));
                }
                Some(other) => {
                    return Err(Fatal(format!(
                        "expected the answer to kernel call {id}, got {other:?}"
                    )));
                }
            }
        }
    }

    fn misbehave_in(&self, id: u64, thread: Option<&str>, call: &ShimCall) -> Served<bool> {
        let Some(m) = self.misbehave else {
            return Ok(false);
        };
        let elsewhere = thread.is_some_and(|t| t != "main");
        match m {
            Misbehave::HangOnThread if elsewhere => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            Misbehave::GarbledThread if elsewhere => {
                self.raw(&format!(
                    "{{\"type\":\"ret\",\"id\":{id},\"thread\":[\"{}\"],\"ret\":null}}\n",
                    thread.unwrap_or_default()
                ))?;
                loop {
                    if self.recv()?.is_none() {
                        std::process::exit(0);
                    }
                }
            }
            _ => {}
        }
        if m == Misbehave::Stderr {
            eprintln!("shim: handling call {id} ({})", call.name());
        }
        if m == Misbehave::Slow {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        if call.name() != "revoke" {
            return Ok(false);
        }
        match m {
            Misbehave::CrashOnRevoke => std::process::abort(),
            Misbehave::ExitOnRevoke => std::process::exit(0),
            Misbehave::HangOnRevoke => loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            Misbehave::Garbage => self.raw("Segmentation fault? no: just some text\n")?,
            Misbehave::Truncated => {
                self.raw("{\"type\":\"ret\",\"id\":")?;
                std::process::exit(0);
            }
            Misbehave::InvalidJson => self.raw(&format!("{{\"type\":\"ret\",\"id\":{id},}}\n"))?,
            Misbehave::WrongShape => self.raw(&format!(
                "{{\"type\":\"ret\",\"id\":\"{id}\",\"ret\":null}}\n"
            ))?,
            Misbehave::UnknownMessage => {
                self.raw("{\"type\":\"greetings\",\"from\":\"shim\"}\n")?
            }
            Misbehave::UnsolicitedReply => self.send(&FromShim::Ret {
                id: id + 1000,
                thread: thread.map(str::to_string),
                ret: Value::Null,
            })?,
            Misbehave::Oversized => {
                let big = "x".repeat(2 * MAX_LINE);
                self.raw(&format!(
                    "{{\"type\":\"ret\",\"id\":{id},\"ret\":\"{big}\"}}\n"
                ))?
            }
            _ => return Ok(false),
        }
        // Whatever the harness does next, this shim has nothing sensible left to say.
        loop {
            if self.recv()?.is_none() {
                std::process::exit(0);
            }
        }
    }

    /// Serves the harness's call `id`.
    fn call(&self, id: u64, thread: Option<String>, call: &ShimCall) -> Served<()> {
        let concurrent = self.version.get() >= CONCURRENT;
        if concurrent != thread.is_some() {
            return Err(Fatal(format!(
                "call {id} names thread {thread:?} in protocol version {}",
                self.version.get()
            )));
        }
        self.misbehave_in(id, thread.as_deref(), call)?;
        if self.misbehave == Some(Misbehave::RetForWaiting)
            && thread.as_deref().is_some_and(|t| t != "main")
            && let Some((waiting, on)) = self.threads.borrow().last().cloned()
            && on != thread
        {
            // Answer the call that waits for its kernel call, from the thread that runs.
            self.send(&FromShim::Ret {
                id: waiting,
                thread: on,
                ret: Value::Null,
            })?;
        }
        self.threads.borrow_mut().push((id, thread.clone()));
        let served = self.serve_call(call);
        self.threads.borrow_mut().pop();
        let ret = served?;
        let thread = match (self.misbehave, thread) {
            (Some(Misbehave::WrongThread), Some(t)) if t != "main" => Some("main".to_string()),
            (_, t) => t,
        };
        self.send(&FromShim::Ret { id, thread, ret })
    }

    /// Runs the driver for one call; its return value.
    fn serve_call(&self, call: &ShimCall) -> Served<Value> {
        let err: std::cell::RefCell<Option<Fatal>> = RefCell::new(None);
        let send = |c: KernelCall| -> Value {
            if err.borrow().is_some() {
                return Value::Null;
            }
            match self.kcall(c) {
                Ok(v) => v,
                Err(e) => {
                    *err.borrow_mut() = Some(e);
                    Value::Null
                }
            }
        };
        let k = Typed(&send);
        let ret = match (&self.factory, call) {
            (Factory::Exporter(make), ShimCall::Exporter(c)) => self.exporter_call(make, &k, c)?,
            (Factory::Importer(make), ShimCall::Importer(c)) => self.importer_call(make, &k, c)?,
            _ => return Err(Fatal(format!("a call for the other role: {call:?}"))),
        };
        if let Some(e) = err.into_inner() {
            return Err(e);
        }
        Ok(match (self.misbehave, call.name().as_str()) {
            (Some(Misbehave::BadErrno), "map_dma_buf") => json!(-9999),
            // A driver that refuses with another errno than the book's: judged by the rules.
            (Some(Misbehave::EioForEnodev), _) if ret == json!(-19) => json!(-5),
            _ => ret,
        })
    }

    fn exporter_call(
        &self,
        make: &dyn Fn(BufId) -> Rc<dyn ExporterDriver>,
        k: &dyn KernelApi,
        call: &ExporterCall,
    ) -> Served<Value> {
        use ExporterCall as E;
        let buf = match call {
            E::New { buf }
            | E::Attach { buf, .. }
            | E::Detach { buf, .. }
            | E::Pin { buf, .. }
            | E::Unpin { buf, .. }
            | E::MapDmaBuf { buf, .. }
            | E::UnmapDmaBuf { buf, .. }
            | E::Vmap { buf }
            | E::Vunmap { buf }
            | E::Mmap { buf }
            | E::Release { buf }
            | E::Export { buf }
            | E::Revoke { buf }
            | E::Restore { buf }
            | E::MoveBuffer { buf }
            | E::Reclaim { buf }
            | E::AddOwnFence { buf, .. }
            | E::Put { buf } => *buf,
        };
        if let E::New { buf } = call {
            let d = make(*buf);
            let names = op_names(d.table());
            self.exporters.borrow_mut().insert(*buf, d);
            return Ok(json!(names));
        }
        let d = self
            .exporters
            .borrow()
            .get(&buf)
            .cloned()
            .ok_or_else(|| Fatal(format!("a call for {buf}, which was never created")))?;
        Ok(match call {
            E::New { .. } => Value::Null,
            E::Attach { att, .. } => int_value(d.attach(k, *att)),
            E::Detach { att, .. } => json!(d.detach(k, *att)),
            E::Pin { att, .. } => int_value(d.pin(k, *att)),
            E::Unpin { att, .. } => json!(d.unpin(k, *att)),
            E::MapDmaBuf { att, .. } => sgt_value(d.map_dma_buf(k, *att)),
            E::UnmapDmaBuf { att, sgt, .. } => json!(d.unmap_dma_buf(k, *att, *sgt)),
            E::Vmap { .. } => int_value(d.vmap(k)),
            E::Vunmap { .. } => json!(d.vunmap(k)),
            E::Mmap { .. } => int_value(d.mmap(k)),
            E::Release { .. } => json!(d.release(k)),
            E::Export { .. } => int_value(d.export(k)),
            E::Revoke { .. } => json!(d.revoke(k)),
            E::Restore { .. } => json!(d.restore(k)),
            E::MoveBuffer { .. } => json!(d.move_buffer(k)),
            E::Reclaim { .. } => json!(d.reclaim(k)),
            E::AddOwnFence {
                usage, completes, ..
            } => json!(d.add_own_fence(k, *usage, *completes)),
            E::Put { .. } => json!(d.put(k)),
        })
    }

    fn importer_call(
        &self,
        make: &dyn Fn(AttId) -> Rc<dyn ImporterDriver>,
        k: &dyn KernelApi,
        call: &ImporterCall,
    ) -> Served<Value> {
        use ImporterCall as I;
        let att = match call {
            I::New { att }
            | I::InvalidateMappings { att }
            | I::Attach { att, .. }
            | I::Map { att }
            | I::Access { att, .. }
            | I::Submit { att, .. }
            | I::Unmap { att }
            | I::Detach { att }
            | I::Vmap { att }
            | I::VmapHold { att }
            | I::Vunmap { att } => *att,
        };
        if let I::New { att } = call {
            let d = make(*att);
            let v = json!({"allow_peer2peer": d.allow_peer2peer(),
                           "invalidate_mappings": d.has_invalidate_mappings()});
            self.importers.borrow_mut().insert(*att, d);
            return Ok(v);
        }
        let d = self
            .importers
            .borrow()
            .get(&att)
            .cloned()
            .ok_or_else(|| Fatal(format!("a call for {att}, which was never created")))?;
        Ok(match call {
            I::New { .. } => Value::Null,
            I::InvalidateMappings { .. } => json!(d.invalidate_mappings(k)),
            I::Attach { buf, .. } => int_value(d.attach(k, *buf)),
            I::Map { .. } => int_value(d.map(k)),
            I::Access { write, .. } => json!(d.access(k, *write)),
            I::Submit { write, .. } => json!(d.submit(k, *write)),
            I::Unmap { .. } => json!(d.unmap(k)),
            I::Detach { .. } => json!(d.detach(k)),
            I::Vmap { .. } => json!(d.vmap(k)),
            I::VmapHold { .. } => json!(d.vmap_hold(k)),
            I::Vunmap { .. } => json!(d.vunmap(k)),
        })
    }

    fn hello(&self, me: &Identity) -> Served<()> {
        let versions = match self.recv()? {
            Some(ToShim::Hello { versions, .. }) => versions,
            other => {
                return Err(Fatal(format!(
                    "expected the harness's hello, got {other:?}"
                )));
            }
        };
        // The newest version both speak.
        let mut version = versions
            .iter()
            .copied()
            .filter(|v| (1..=self.speaks).contains(v))
            .max()
            .unwrap_or(self.speaks);
        let mut role = me.role.clone();
        let mut capabilities = me.capabilities.clone();
        match self.misbehave {
            Some(Misbehave::Silent) => loop {
                if self.recv()?.is_none() {
                    return Err(Fatal("the harness left".into()));
                }
            },
            Some(Misbehave::BadRole) => role = "gpu-driver".into(),
            Some(Misbehave::BadCapability) => capabilities.push("time-travel".into()),
            Some(Misbehave::UnofferedVersion) => version = 9,
            _ if !versions.contains(&version) => {
                return Err(Fatal(format!(
                    "the harness speaks protocol versions {versions:?}; this shim speaks 1 to {}",
                    self.speaks
                )));
            }
            _ => {}
        }
        self.version.set(version);
        self.send(&FromShim::Hello {
            version,
            name: me.name.clone(),
            role,
            plays: me.plays.clone(),
            capabilities,
            description: me.description.clone(),
            shim_version: None,
        })
    }
}

/// Serves one session on `input`/`output` until `bye` or end of input, speaking the newest
/// protocol version the harness offers.
pub fn serve<'a>(
    me: &Identity,
    factory: Factory,
    misbehave: Option<Misbehave>,
    input: impl BufRead + 'a,
    output: impl Write + 'a,
) -> Result<(), Fatal> {
    serve_speaking(VERSION, me, factory, misbehave, input, output)
}

/// Serves one session as [`serve`] does, choosing no protocol version newer than `speaks`
/// (1: a shim of before concurrent calls, for testing what the harness tells it).
pub fn serve_speaking<'a>(
    speaks: u32,
    me: &Identity,
    factory: Factory,
    misbehave: Option<Misbehave>,
    input: impl BufRead + 'a,
    output: impl Write + 'a,
) -> Result<(), Fatal> {
    let server = Server {
        speaks: speaks.clamp(1, VERSION),
        version: Cell::new(1),
        threads: RefCell::default(),
        input: RefCell::new(LineReader::new(Box::new(input))),
        output: RefCell::new(Box::new(output)),
        factory,
        exporters: RefCell::default(),
        importers: RefCell::default(),
        next_kcall: Cell::new(0),
        misbehave,
    };
    server.hello(me)?;
    loop {
        match server.recv()? {
            None | Some(ToShim::Bye { .. }) => return Ok(()),
            Some(ToShim::Case { .. }) => {
                server.exporters.borrow_mut().clear();
                server.importers.borrow_mut().clear();
                server.send(&FromShim::Ready {})?;
            }
            Some(ToShim::Call { id, thread, call }) => server.call(id, thread, &call)?,
            Some(other) => return Err(Fatal(format!("unexpected message {other:?}"))),
        }
    }
}
