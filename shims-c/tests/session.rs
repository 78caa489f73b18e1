//! The C shims on their own: a scripted harness drives the built executables over the wire
//! protocol (hello, case, calls, kernel calls answered with plausible values) and checks
//! their replies, the exact kernel calls they make, and how they end.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a test waits for a line or an exit before it fails (the shims answer at once).
const TIMEOUT: Duration = Duration::from_secs(10);

/// A shim process and the harness's end of its pipes.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    next_call: u64,
}

impl Session {
    fn start(exe: &Path) -> Session {
        let mut child = Command::new(exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = etx.send(text);
        });
        Session {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: erx,
            next_call: 0,
        }
    }

    /// Starts the shim and does the hello exchange, offering version 1; returns its hello.
    fn hello(exe: &Path) -> (Session, Value) {
        let mut s = Session::start(exe);
        s.send(json!({"type": "hello", "versions": [1], "suite": "0.1.0"}));
        let hello = s.recv();
        (s, hello)
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).expect("write to the shim");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, msg: Value) {
        self.send_raw(&format!("{msg}\n"));
    }

    /// The next line the shim writes, which must be a JSON object.
    fn recv(&mut self) -> Value {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("the shim wrote a line that is not JSON ({e}): {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("no line from the shim within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait();
                panic!(
                    "the shim closed its output ({status}): {}",
                    self.stderr_text()
                )
            }
        }
    }

    /// Starts case `name` and expects `ready`.
    fn case(&mut self, name: &str) {
        self.send(json!({"type": "case", "name": name}));
        assert_eq!(self.recv(), json!({"type": "ready"}));
    }

    /// Sends a call; returns its id.
    fn call(&mut self, call: Value) -> u64 {
        self.next_call += 1;
        let id = self.next_call;
        self.send(json!({"type": "call", "id": id, "call": call}));
        id
    }

    /// Expects the reply to call `id` and returns its value.
    fn expect_ret(&mut self, id: u64) -> Value {
        let msg = self.recv();
        assert_eq!(
            msg["type"], "ret",
            "expected the ret of call {id}, got {msg}"
        );
        assert_eq!(msg["id"], id, "ret for the wrong call: {msg}");
        msg["ret"].clone()
    }

    /// Expects exactly this kernel call (`{"fn": ..., args...}`) and answers it with `ret`.
    fn expect_kcall(&mut self, call: Value, ret: Value) {
        let id = self.expect_kcall_id(call);
        self.kret(id, ret);
    }

    /// Expects exactly this kernel call and returns its id, unanswered.
    fn expect_kcall_id(&mut self, call: Value) -> u64 {
        let msg = self.recv();
        assert_eq!(msg["type"], "kcall", "expected kcall {call}, got {msg}");
        assert_eq!(msg["call"], call, "wrong kernel call");
        let keys: Vec<&String> = msg.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 3, "a kcall has type, id and call: {msg}");
        msg["id"].as_u64().expect("a kcall id")
    }

    fn kret(&mut self, id: u64, ret: Value) {
        self.send(json!({"type": "kret", "id": id, "ret": ret}));
    }

    /// Closes the shim's standard input.
    fn close(&mut self) {
        self.stdin = None;
    }

    /// Waits for the shim to exit (killing it after the timeout).
    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the shim did not exit within {TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything the shim wrote on standard error (once it has exited).
    fn stderr_text(&mut self) -> String {
        self.stderr.recv_timeout(TIMEOUT).unwrap_or_default()
    }

    /// Whether the shim wrote any further protocol line before exiting.
    fn no_more_lines(&mut self) -> Option<String> {
        self.lines.recv_timeout(TIMEOUT).ok()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exporter() -> &'static Path {
    shims_c::vfio_exporter()
}

fn lock(buf: u64) -> Value {
    json!({"fn": "dma_resv_lock", "buf": buf})
}

/// `down_write(&vdev->memory_lock)` of `buf`'s device.
fn down(buf: u64) -> Value {
    json!({"fn": "down_write", "buf": buf})
}

/// `up_write(&vdev->memory_lock)`.
fn up(buf: u64) -> Value {
    json!({"fn": "up_write", "buf": buf})
}

fn unlock(buf: u64) -> Value {
    json!({"fn": "dma_resv_unlock", "buf": buf})
}

fn wait_bookkeep(buf: u64) -> Value {
    json!({"fn": "dma_resv_wait_timeout", "buf": buf, "usage": "BOOKKEEP", "intr": false,
           "timeout": "MAX_SCHEDULE_TIMEOUT"})
}

fn attachment(buf: u64, peer2peer: bool) -> Value {
    json!({"buf": buf, "dynamic": true, "peer2peer": peer2peer, "invalidate_mappings": true})
}

/// `new` and `export` of buffer `buf`.
fn new_and_export(s: &mut Session, buf: u64) {
    let id = s.call(json!({"fn": "new", "buf": buf}));
    assert_eq!(
        s.expect_ret(id),
        json!(["attach", "map_dma_buf", "unmap_dma_buf", "release"])
    );
    let id = s.call(json!({"fn": "export", "buf": buf}));
    s.expect_kcall(json!({"fn": "dma_buf_export", "buf": buf}), json!(0));
    assert_eq!(s.expect_ret(id), json!(0));
}

/// A peer-to-peer, revocable importer attaches as `att` and maps; returns the table id.
fn attach_and_map(s: &mut Session, buf: u64, att: u64, sgt: u64) {
    let id = s.call(json!({"fn": "attach", "buf": buf, "att": att}));
    s.expect_kcall(
        json!({"fn": "dma_buf_attachment", "att": att}),
        attachment(buf, true),
    );
    s.expect_kcall(
        json!({"fn": "dma_buf_attach_revocable", "att": att}),
        json!(true),
    );
    assert_eq!(s.expect_ret(id), json!(0));

    let id = s.call(json!({"fn": "map_dma_buf", "buf": buf, "att": att}));
    s.expect_kcall(
        json!({"fn": "dma_resv_assert_held", "buf": buf}),
        json!(null),
    );
    s.expect_kcall(json!({"fn": "new_sg_table", "att": att}), json!(sgt));
    assert_eq!(s.expect_ret(id), json!(sgt));
}

#[test]
fn hello_says_what_the_shim_is() {
    let (mut s, hello) = Session::hello(exporter());
    assert_eq!(
        hello,
        json!({
            "type": "hello",
            "version": 1,
            "name": "c-vfio-exporter",
            "role": "exporter",
            "plays": ["vfio"],
            "capabilities": ["revokes-pinned", "restores", "requires-revocable-importers",
                             "peer2peer-only"],
            "description": "VFIO-style BAR exporter in C",
        })
    );
    s.send(json!({"type": "bye"}));
    assert!(s.wait().success());

    let (mut s, hello) = Session::hello(shims_c::vfio_exporter_no_wait());
    assert_eq!(hello["name"], "c-vfio-exporter-no-wait");
    assert_eq!(hello["plays"], json!(["vfio"]));
    s.send(json!({"type": "bye"}));
    assert!(s.wait().success());
}

#[test]
fn chooses_the_newest_version_it_speaks_among_several() {
    let mut s = Session::start(exporter());
    s.send(json!({"type": "hello", "versions": [3, 1, 2], "suite": "9.9.9"}));
    assert_eq!(s.recv()["version"], 2);
    let mut s = Session::start(exporter());
    s.send(json!({"type": "hello", "versions": [1], "suite": "0.1.0"}));
    assert_eq!(s.recv()["version"], 1);
}

/// Version 2: a call of another thread arriving while the revoke (thread `main`) waits for
/// its lock runs on its own thread, whose kernel calls and return name it; then the revoke
/// goes on. A kret naming a thread with no kernel call pending is a protocol error.
#[test]
fn version_2_runs_each_threads_call_on_its_thread() {
    let mut s = Session::start(exporter());
    s.send(json!({"type": "hello", "versions": [2, 1], "suite": "0.2.0"}));
    assert_eq!(s.recv()["version"], 2);
    s.case("revoke_races_a_map");
    let on = |id: u64, thread: &str, call: Value| json!({"type": "call", "id": id, "thread": thread, "call": call});
    s.send(on(1, "main", json!({"fn": "new", "buf": 0})));
    assert_eq!(s.recv()["thread"], "main");
    s.send(on(2, "main", json!({"fn": "revoke", "buf": 0})));
    let down_write = s.recv();
    assert_eq!(
        (&down_write["thread"], &down_write["call"]),
        (&json!("main"), &down(0)),
        "{down_write}"
    );
    s.send(json!({"type": "kret", "id": down_write["id"], "thread": "main", "ret": null}));
    let k = s.recv();
    assert_eq!(
        (&k["type"], &k["thread"], &k["call"]),
        (&json!("kcall"), &json!("main"), &lock(0)),
        "{k}"
    );
    // The runner lets thread `importer` run at the lock: its call runs on its own thread.
    s.send(on(
        3,
        "importer",
        json!({"fn": "map_dma_buf", "buf": 0, "att": 0}),
    ));
    let att = s.recv();
    assert_eq!(
        (&att["thread"], &att["call"]),
        (
            &json!("importer"),
            &json!({"fn": "dma_buf_attachment", "att": 0})
        ),
        "{att}"
    );
    s.send(
        json!({"type": "kret", "id": att["id"], "thread": "importer", "ret": attachment(0, true)}),
    );
    let held = s.recv();
    assert_eq!(held["thread"], "importer", "{held}");
    assert_eq!(held["call"]["fn"], "dma_resv_assert_held", "{held}");
    s.send(json!({"type": "kret", "id": held["id"], "thread": "importer", "ret": null}));
    // Not revoked yet (the revoke waits for its lock): the map asks for a table.
    let table = s.recv();
    assert_eq!(
        (&table["thread"], &table["call"]["fn"]),
        (&json!("importer"), &json!("new_sg_table")),
        "{table}"
    );
    s.send(json!({"type": "kret", "id": table["id"], "thread": "importer", "ret": 5}));
    assert_eq!(
        s.recv(),
        json!({"type": "ret", "id": 3, "thread": "importer", "ret": 5})
    );
    // Now the revoke's lock returns, on thread main.
    s.send(json!({"type": "kret", "id": k["id"], "thread": "main", "ret": null}));
    let next = s.recv();
    assert_eq!(
        (&next["thread"], &next["call"]["fn"]),
        (&json!("main"), &json!("dma_buf_invalidate_mappings")),
        "{next}"
    );
    // A kret for thread importer, which waits for nothing.
    s.send(json!({"type": "kret", "id": next["id"], "thread": "importer", "ret": null}));
    assert_eq!(s.wait().code(), Some(1));
    let stderr = s.stderr_text();
    assert!(
        stderr.contains("no kernel call is pending (thread importer)"),
        "{stderr}"
    );
}

/// The whole life of a buffer: the exact kernel calls of attach, map, revoke (with the
/// importer's unmap nested inside the invalidation), the refusals while revoked, restore and
/// device close.
#[test]
fn revoke_restore_put_make_the_reference_kernel_calls() {
    let (mut s, _) = Session::hello(exporter());
    s.case("revoke_around_reset[iommufd]");
    new_and_export(&mut s, 0);
    attach_and_map(&mut s, 0, 1, 7);

    // A static or non-p2p importer is refused before anything else is asked.
    let id = s.call(json!({"fn": "attach", "buf": 0, "att": 2}));
    s.expect_kcall(
        json!({"fn": "dma_buf_attachment", "att": 2}),
        attachment(0, false),
    );
    assert_eq!(s.expect_ret(id), json!(-95));

    // An importer that cannot be revoked is refused.
    let id = s.call(json!({"fn": "attach", "buf": 0, "att": 3}));
    s.expect_kcall(
        json!({"fn": "dma_buf_attachment", "att": 3}),
        attachment(0, true),
    );
    s.expect_kcall(
        json!({"fn": "dma_buf_attach_revocable", "att": 3}),
        json!(false),
    );
    assert_eq!(s.expect_ret(id), json!(-95));

    // Revoke: lock, mark, invalidate (the importer unmaps from inside), wait, unlock, wait.
    let revoke = s.call(json!({"fn": "revoke", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall(lock(0), json!(null));
    let inval = s.expect_kcall_id(json!({"fn": "dma_buf_invalidate_mappings", "buf": 0}));
    //   nested: the importer maps again from its callback, then unmaps
    let id = s.call(json!({"fn": "map_dma_buf", "buf": 0, "att": 1}));
    s.expect_kcall(json!({"fn": "dma_resv_assert_held", "buf": 0}), json!(null));
    assert_eq!(
        s.expect_ret(id),
        json!(-19),
        "map from the callback must fail"
    );
    let id = s.call(json!({"fn": "unmap_dma_buf", "buf": 0, "att": 1, "sgt": 7}));
    s.expect_kcall(json!({"fn": "dma_resv_assert_held", "buf": 0}), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));
    s.kret(inval, json!(null));
    s.expect_kcall(wait_bookkeep(0), json!(0));
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(json!({"fn": "wait_for_unmap", "buf": 0}), json!(null));
    s.expect_kcall(up(0), json!(null));
    assert_eq!(s.expect_ret(revoke), json!(null));

    // While revoked: attach and map fail with -ENODEV.
    let id = s.call(json!({"fn": "attach", "buf": 0, "att": 4}));
    s.expect_kcall(
        json!({"fn": "dma_buf_attachment", "att": 4}),
        attachment(0, true),
    );
    assert_eq!(s.expect_ret(id), json!(-19));
    let id = s.call(json!({"fn": "map_dma_buf", "buf": 0, "att": 1}));
    s.expect_kcall(json!({"fn": "dma_resv_assert_held", "buf": 0}), json!(null));
    assert_eq!(s.expect_ret(id), json!(-19));

    // A second revoke does nothing but take and drop the memory lock.
    let id = s.call(json!({"fn": "revoke", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall(up(0), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));

    // Restore: invalidate and wait under the lock, then clear the mark under the lock.
    let id = s.call(json!({"fn": "restore", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(
        json!({"fn": "dma_buf_invalidate_mappings", "buf": 0}),
        json!(null),
    );
    s.expect_kcall(wait_bookkeep(0), json!(0));
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(up(0), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));

    // Mapping works again.
    let id = s.call(json!({"fn": "map_dma_buf", "buf": 0, "att": 1}));
    s.expect_kcall(json!({"fn": "dma_resv_assert_held", "buf": 0}), json!(null));
    s.expect_kcall(json!({"fn": "new_sg_table", "att": 1}), json!(8));
    assert_eq!(s.expect_ret(id), json!(8));

    // Device close: revoke under the memory lock, then drop the reference.
    let id = s.call(json!({"fn": "put", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(
        json!({"fn": "dma_buf_invalidate_mappings", "buf": 0}),
        json!(null),
    );
    s.expect_kcall(wait_bookkeep(0), json!(0));
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(json!({"fn": "wait_for_unmap", "buf": 0}), json!(null));
    s.expect_kcall(up(0), json!(null));
    s.expect_kcall(json!({"fn": "dma_buf_put", "buf": 0}), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));
    let id = s.call(json!({"fn": "release", "buf": 0}));
    assert_eq!(s.expect_ret(id), json!(null));

    // The next case starts from nothing: buf0 is new again, and not revoked.
    s.case("attach_after_revoke_fails");
    new_and_export(&mut s, 0);
    attach_and_map(&mut s, 0, 1, 3);

    s.send(json!({"type": "bye"}));
    let status = s.wait();
    assert!(
        status.success(),
        "bye must end the shim with status 0: {status}"
    );
}

#[test]
fn the_broken_variant_does_not_wait() {
    let (mut s, _) = Session::hello(shims_c::vfio_exporter_no_wait());
    s.case("revoke_around_reset[iommufd]");
    new_and_export(&mut s, 0);
    let id = s.call(json!({"fn": "revoke", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(
        json!({"fn": "dma_buf_invalidate_mappings", "buf": 0}),
        json!(null),
    );
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(up(0), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));
}

#[test]
fn default_actions_reclaim_and_add_own_fence() {
    let (mut s, _) = Session::hello(exporter());
    s.case("defaults");
    new_and_export(&mut s, 2);

    let id = s.call(json!({"fn": "reclaim", "buf": 2}));
    s.expect_kcall(json!({"fn": "reclaim_memory", "buf": 2}), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));

    let id =
        s.call(json!({"fn": "add_own_fence", "buf": 2, "usage": "KERNEL", "completes": false}));
    s.expect_kcall(lock(2), json!(null));
    s.expect_kcall(
        json!({"fn": "dma_fence_create", "completes": false}),
        json!(5),
    );
    s.expect_kcall(
        json!({"fn": "dma_resv_add_fence", "buf": 2, "fence": 5, "usage": "KERNEL"}),
        json!(null),
    );
    s.expect_kcall(unlock(2), json!(null));
    assert_eq!(s.expect_ret(id), json!(null));

    // move_buffer does nothing for a BAR.
    let id = s.call(json!({"fn": "move_buffer", "buf": 2}));
    assert_eq!(s.expect_ret(id), json!(null));
}

#[test]
fn exits_with_status_zero_at_end_of_input() {
    // Before the hello.
    let mut s = Session::start(exporter());
    s.close();
    assert!(s.wait().success());

    // Between cases.
    let (mut s, _) = Session::hello(exporter());
    s.case("one");
    s.close();
    assert!(s.wait().success());

    // While a kernel call waits for its kret (the harness gave up on the case).
    let (mut s, _) = Session::hello(exporter());
    s.case("hangs");
    new_and_export(&mut s, 0);
    s.call(json!({"fn": "revoke", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall_id(lock(0));
    s.close();
    assert!(s.wait().success());
}

#[test]
fn a_version_the_shim_does_not_speak_is_a_clear_error() {
    let mut s = Session::start(exporter());
    s.send(json!({"type": "hello", "versions": [3], "suite": "0.3.0"}));
    let status = s.wait();
    assert!(!status.success(), "must fail: {status}");
    assert_eq!(s.no_more_lines(), None, "no reply on stdout");
    let stderr = s.stderr_text();
    assert!(
        stderr.contains("version mismatch") && stderr.contains("[3]") && stderr.contains("1 to 2"),
        "stderr: {stderr}"
    );
}

/// Starts a session in a case, sends `line`, and expects exit status 1 with `message` on
/// standard error.
fn expect_protocol_error(setup: impl FnOnce(&mut Session), line: &str, message: &str) {
    let (mut s, _) = Session::hello(exporter());
    s.case("hostile");
    setup(&mut s);
    s.send_raw(line);
    let status = s.wait();
    assert_eq!(status.code(), Some(1), "after {line:?}: {status}");
    let stderr = s.stderr_text();
    assert!(
        stderr.contains("protocol error") && stderr.contains(message),
        "after {line:?}, stderr: {stderr}"
    );
}

/// Leaves the shim inside `revoke`, waiting for the return of its `dma_resv_lock` (kernel
/// call 3, after `down_write`).
fn waiting_for_the_lock(s: &mut Session) {
    new_and_export(s, 0);
    s.call(json!({"fn": "revoke", "buf": 0}));
    s.expect_kcall(down(0), json!(null));
    s.expect_kcall_id(lock(0));
}

#[test]
fn protocol_violations_end_the_shim_with_a_message() {
    let nothing = |_: &mut Session| {};
    expect_protocol_error(nothing, "{\"type\":\"call\",\n", "invalid JSON");
    expect_protocol_error(nothing, "[1,2]\n", "must be a JSON object");
    expect_protocol_error(nothing, "{\"type\":\"poke\"}\n", "unknown message type");
    expect_protocol_error(
        nothing,
        "{\"type\":\"call\",\"id\":1,\"call\":{\"fn\":\"new\",\"buf\":0,\"colour\":1}}\n",
        "unknown field \"colour\"",
    );
    expect_protocol_error(
        nothing,
        "{\"type\":\"call\",\"id\":1,\"call\":{\"fn\":\"new\",\"buf\":\"0\"}}\n",
        "must be an id",
    );
    expect_protocol_error(
        nothing,
        "{\"type\":\"call\",\"id\":1,\"call\":{\"fn\":\"frobnicate\",\"buf\":0}}\n",
        "unknown call",
    );
    expect_protocol_error(
        nothing,
        "{\"type\":\"call\",\"id\":1,\"call\":{\"fn\":\"revoke\",\"buf\":0}}\n",
        "never created",
    );
    expect_protocol_error(
        nothing,
        "{\"type\":\"kret\",\"id\":1,\"ret\":null}\n",
        "no kernel call is pending",
    );
    expect_protocol_error(nothing, "{\"type\":\"case\"}\n", "missing field \"name\"");
    expect_protocol_error(
        |s| {
            new_and_export(s, 0);
        },
        "{\"type\":\"call\",\"id\":2,\"call\":{\"fn\":\"revoke\",\"buf\":0}}\n",
        "does not increase",
    );
    expect_protocol_error(
        waiting_for_the_lock,
        "{\"type\":\"kret\",\"id\":99,\"ret\":null}\n",
        "the pending kernel call is",
    );
    expect_protocol_error(
        waiting_for_the_lock,
        // kernel call 1 was dma_buf_export, 2 down_write, 3 is the lock
        "{\"type\":\"kret\",\"id\":3,\"ret\":0}\n",
        "must be null",
    );
    expect_protocol_error(
        waiting_for_the_lock,
        "{\"type\":\"case\",\"name\":\"next\"}\n",
        "case while kernel call",
    );
    expect_protocol_error(
        nothing,
        "{\"type\":\"hello\",\"versions\":[1]}\n",
        "second hello",
    );
    expect_protocol_error(
        nothing,
        &format!(
            "{{\"type\":\"case\",\"name\":\"{}\"}}\n",
            "x".repeat(1 << 20)
        ),
        "oversized line",
    );
    // A truncated last line: end of input in the middle of a message.
    let (mut s, _) = Session::hello(exporter());
    s.send_raw("{\"type\":\"case\",\"na");
    s.close();
    assert_eq!(s.wait().code(), Some(1));
    assert!(s.stderr_text().contains("truncated line"));
}

#[test]
fn the_json_reader_takes_whitespace_escapes_and_unicode() {
    let (mut s, _) = Session::hello(exporter());
    s.send_raw(
        " { \"name\" : \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\t\u{e9}\" , \"type\":\"case\" }\r\n",
    );
    assert_eq!(s.recv(), json!({"type": "ready"}));
    let id = s.call(json!({"fn": "new", "buf": 0}));
    assert!(s.expect_ret(id).is_array());
}

/// The library's importer side: `new` reports the attach ops, the driver's actions become
/// the kernel calls it makes, `invalidate_mappings` reaches its callback (also while the
/// attach is still in progress), `WARN_ON` becomes a `warn` kernel call against the
/// attachment's buffer.
#[test]
fn the_importer_api_drives_an_importer() {
    let (mut s, hello) = Session::hello(shims_c::example_importer());
    assert_eq!(hello["role"], "importer");
    assert_eq!(hello["plays"], json!(["iommufd"]));
    s.case("importer");

    let id = s.call(json!({"fn": "new", "att": 1}));
    assert_eq!(
        s.expect_ret(id),
        json!({"allow_peer2peer": true, "invalidate_mappings": true})
    );

    // An eviction races with the attach: the callback runs before the attach returns.
    let attach = s.call(json!({"fn": "attach", "att": 1, "buf": 0}));
    let kcall = s.expect_kcall_id(json!({"fn": "dma_buf_dynamic_attach", "buf": 0, "att": 1}));
    let id = s.call(json!({"fn": "invalidate_mappings", "att": 1}));
    assert_eq!(s.expect_ret(id), json!(null));
    s.kret(kcall, json!(0));
    assert_eq!(s.expect_ret(attach), json!(0));

    // That invalidation was a revoke for this importer: it is permanent.
    let id = s.call(json!({"fn": "map", "att": 1}));
    assert_eq!(s.expect_ret(id), json!(-19));

    s.case("importer-maps");
    let id = s.call(json!({"fn": "new", "att": 1}));
    s.expect_ret(id);
    let id = s.call(json!({"fn": "attach", "att": 1, "buf": 0}));
    s.expect_kcall(
        json!({"fn": "dma_buf_dynamic_attach", "buf": 0, "att": 1}),
        json!(0),
    );
    assert_eq!(s.expect_ret(id), json!(0));

    let id = s.call(json!({"fn": "map", "att": 1}));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(json!({"fn": "dma_buf_pin", "att": 1}), json!(0));
    // iommufd's private interconnect to VFIO, never dma_buf_map_attachment().
    s.expect_kcall(
        json!({"fn": "vfio_pci_dma_buf_iommufd_map", "att": 1}),
        json!(4),
    );
    s.expect_kcall(unlock(0), json!(null));
    assert_eq!(s.expect_ret(id), json!(0));

    let id = s.call(json!({"fn": "access", "att": 1, "write": true}));
    s.expect_kcall(
        json!({"fn": "device_access", "att": 1, "sgt": 4, "write": true}),
        json!("ok"),
    );
    assert_eq!(s.expect_ret(id), json!(null));

    let id = s.call(json!({"fn": "invalidate_mappings", "att": 1}));
    s.expect_kcall(
        json!({"fn": "iommu_unmap", "att": 1, "sgt": 4}),
        json!(null),
    );
    assert_eq!(s.expect_ret(id), json!(null));

    // No mapping any more: the device access goes without one.
    let id = s.call(json!({"fn": "access", "att": 1, "write": false}));
    s.expect_kcall(
        json!({"fn": "device_access", "att": 1, "sgt": null, "write": false}),
        json!("no_mapping"),
    );
    assert_eq!(s.expect_ret(id), json!(null));

    // Detach: unpin under the lock (the IOMMU mapping is gone already), then detach.
    let id = s.call(json!({"fn": "detach", "att": 1}));
    s.expect_kcall(lock(0), json!(null));
    s.expect_kcall(json!({"fn": "dma_buf_unpin", "att": 1}), json!(null));
    s.expect_kcall(unlock(0), json!(null));
    s.expect_kcall(
        json!({"fn": "dma_buf_detach", "buf": 0, "att": 1}),
        json!(null),
    );
    assert_eq!(s.expect_ret(id), json!(null));

    // A map after the detach trips the driver's WARN_ON, reported against buf0.
    let id = s.call(json!({"fn": "map", "att": 1}));
    s.expect_kcall(
        json!({"fn": "warn", "buf": 0, "what": "priv->detached"}),
        json!(null),
    );
    assert_eq!(s.expect_ret(id), json!(-22));

    // A refused attach comes back as the errno.
    s.case("refused");
    let id = s.call(json!({"fn": "new", "att": 1}));
    s.expect_ret(id);
    let id = s.call(json!({"fn": "attach", "att": 1, "buf": 0}));
    s.expect_kcall(
        json!({"fn": "dma_buf_dynamic_attach", "buf": 0, "att": 1}),
        json!(-19),
    );
    assert_eq!(s.expect_ret(id), json!(-19));
    // Nothing to map then, as in the reference importer: -EINVAL and no warning.
    let id = s.call(json!({"fn": "map", "att": 1}));
    assert_eq!(s.expect_ret(id), json!(-22));

    s.send(json!({"type": "bye"}));
    assert!(s.wait().success());
}

const HEADER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/c/dma-buf-shim.h");
const BEGIN: &str = "/* BEGIN kernel calls:";
const END: &str = "/* END kernel calls */";

/// A C comment of `text`, wrapped within 100 columns.
fn c_comment(text: &str) -> String {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("a line");
        if !last.is_empty() && last.len() + 1 + word.len() > 92 {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    if lines.len() == 1 {
        return format!("/* {} */\n", lines[0]);
    }
    let mut out = String::from("/*\n");
    for l in lines {
        out.push_str(&format!(" * {l}\n"));
    }
    out.push_str(" */\n");
    out
}

/// A prototype in kernel style: past 100 columns, the arguments go on, aligned after `(`.
fn c_prototype(proto: &str) -> String {
    let open = proto.find('(').expect("a prototype") + 1;
    let indent = format!("{}{}", "\t".repeat(open / 8), " ".repeat(open % 8));
    let mut out = String::new();
    let mut line = String::new();
    let mut col = 0;
    for (i, piece) in proto.split_inclusive(", ").enumerate() {
        let piece_len = piece.trim_end().len();
        if i > 0 && col + piece_len > 100 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.clone();
            col = open;
        }
        line.push_str(piece);
        col += piece.len();
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The header's block of kernel calls, rendered from the one list of the kernel API.
fn kernel_declarations() -> String {
    let mut out = format!(
        "{BEGIN} generated from reference_impl::kernel_api! (reference-impl/src/api.rs). */\n\
         /* Regenerate: UPDATE_KERNEL_API=1 cargo test -p shims-c --test session kernel_api */\n"
    );
    for (core, title) in [
        (true, "The core (drivers/dma-buf/dma-buf.c)."),
        (
            false,
            "The reservation object (drivers/dma-buf/dma-resv.c), fences, and the model's \
             stand-ins for what a real driver does with its own primitives.",
        ),
    ] {
        out.push('\n');
        out.push_str(&c_comment(title));
        for f in reference_impl::KERNEL_API.iter().filter(|f| f.core == core) {
            let Some(proto) = f.c else { continue };
            out.push('\n');
            out.push_str(&c_comment(&f.doc.join(" ").replace('`', "")));
            out.push_str(&c_prototype(proto));
        }
    }
    out.push('\n');
    out.push_str(END);
    out
}

/// The header declares the kernel API as its one list says: the block between the markers is
/// regenerated from `reference_impl::KERNEL_API` and must be identical (run with
/// `UPDATE_KERNEL_API=1` to rewrite it, then read the diff).
#[test]
fn kernel_api_c_header_is_current() {
    let header = std::fs::read_to_string(HEADER).expect("the header");
    let begin = header.find(BEGIN).expect("the header's BEGIN marker");
    let end = header.find(END).expect("the header's END marker") + END.len();
    let want = kernel_declarations();
    if header[begin..end] == want {
        return;
    }
    if std::env::var_os("UPDATE_KERNEL_API").is_some() {
        let updated = format!("{}{want}{}", &header[..begin], &header[end..]);
        std::fs::write(HEADER, updated).expect("write the header");
        return;
    }
    panic!(
        "the C header's kernel calls differ from reference_impl::kernel_api!; run \
         UPDATE_KERNEL_API=1 cargo test -p shims-c --test session kernel_api and read the diff.\n\
         Expected:\n{want}\nFound:\n{}",
        &header[begin..end]
    );
}

/// Each declared kernel call is defined by the C library with the prototype the list gives
/// (a wrapper that sends the kcall; the scripted sessions above check the exact messages),
/// and a call without a C prototype is still asked for by its wire name (the accessor of
/// `struct dma_buf_attachment` fields asks for `dma_buf_attachment`).
#[test]
fn kernel_api_c_library_defines_every_call() {
    let source = include_str!("../c/dma-buf-shim.c");
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
    for f in reference_impl::KERNEL_API {
        match f.c {
            Some(proto) => {
                let head = proto.trim_end_matches(';');
                let defined = flat.contains(&format!("{head} {{"));
                assert!(defined, "no definition of `{head}` in dma-buf-shim.c");
            }
            None => assert!(
                source.contains(&format!("kcall(\"{}\"", wire_name(f.name))),
                "the C library does not call {}",
                f.name
            ),
        }
    }
}

/// The name a call has on the wire (`"fn"` of its `KernelCall`).
fn wire_name(api_name: &str) -> String {
    shim_protocol::api::WIRE_CALLS
        .iter()
        .find(|w| w.name == api_name)
        .map(|w| w.wire_name())
        .expect("a kernel call of the wire")
}
