#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""A driver shim in Python, standard library only: a template to copy.

It plays a pinned, revocable importer (the `iommufd` profile), the way Linux 7.2's iommufd
does it in `iopt_map_dmabuf()` / `iopt_revoke_notify()` (drivers/iommu/iommufd/pages.c): pin
under the reservation lock and take the BAR's physical range through VFIO's private
interconnect (`vfio_pci_dma_buf_iommufd_map()`), never through `dma_buf_map_attachment()`;
in `invalidate_mappings` remove the IOMMU mapping (`iommu_unmap`) so the device stops before
the callback returns, because VFIO's revoke does not wait for private ranges; the pin stays
until the pages are released. It speaks versions 2 (concurrent calls, one Python thread per
scenario thread) and 1 of the wire protocol (the book's chapter "Shims in other processes: the
wire protocol") on standard input and output:

    revoke-conformance run --shim-cmd 'python3 shims-py/iommufd_importer.py'

The parts marked YOUR DRIVER are where a real driver's logic goes; the rest is the protocol,
the same for any shim. Hold no lock of your own (a threading.Lock standing for a mutex) across
a kernel call: the harness runs one scenario thread at a time and cannot see your locks, so a
lock another thread then waits for ends that schedule as a shim that does not answer (the
protocol chapter, "A driver's own locks are invisible to the harness"). `--bug NAME` plants one of the bugs the suite must catch (the tests run
the template both ways).
"""

import json
import os
import queue
import sys
import threading

BUGS = {
    # invalidate_mappings returns without removing the IOMMU mapping: the device keeps writing
    # to memory the exporter is about to reuse, and VFIO's revoke does not wait for it.
    "keep-mapping",
    # invalidate_mappings takes the reservation lock that the core already holds.
    "relock",
}

VERSIONS = (2, 1)  # the protocol versions this template speaks, newest first


def fail(why):
    """Ends the whole process (from any thread) with why on standard error."""
    sys.stderr.write(f"{why}\n")
    sys.stderr.flush()
    os._exit(1)


class Protocol:
    """Newline-delimited JSON on stdin/stdout. Every line is flushed at once: a shim whose
    output sits in a buffer never says hello, as far as the harness can tell.

    Version 2 (concurrent calls): each call names a scenario thread, and runs on a Python
    thread of that name, started on its first call. The process's main thread only reads
    the harness's lines and hands each call and kernel-call return to its thread; the harness
    lets one thread run at a time, so the driver's state needs no lock for its sake."""

    def __init__(self, handler):
        self.handler = handler
        self.next_kcall = 1
        self.version = 1
        self.out = threading.Lock()
        self.mailboxes = {}
        self.local = threading.local()

    def send(self, message):
        with self.out:
            sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    @staticmethod
    def receive():
        line = sys.stdin.readline()
        if not line:
            os._exit(0)  # end of input: the harness is gone, so are we
        return json.loads(line)

    def threaded(self, message):
        """The message with this thread's name, in version 2."""
        if self.version >= 2:
            message["thread"] = self.local.name
        return message

    def kernel(self, fn, **args):
        """Calls a kernel function and returns its value. While it waits, the harness may
        call this thread again (an invalidation reaching us from the exporter): those calls
        are answered first, innermost first. Calls of other threads run on their threads."""
        kid = self.next_kcall
        self.next_kcall += 1
        self.send(self.threaded({"type": "kcall", "id": kid, "call": dict(fn=fn, **args)}))
        while True:
            msg = self.mailboxes[self.local.name].get()
            if msg["type"] == "kret" and msg["id"] == kid:
                return msg["ret"]
            if msg["type"] == "call":
                self.answer(msg)
            else:
                fail(f"unexpected message while waiting for kernel call {kid}: {msg}")

    def answer(self, msg):
        call = dict(msg["call"])
        fn = call.pop("fn")
        ret = self.handler.call(self, fn, **call)
        self.send(self.threaded({"type": "ret", "id": msg["id"], "ret": ret}))

    def run_thread(self, name):
        self.local.name = name
        try:
            while True:
                msg = self.mailboxes[name].get()
                if msg["type"] != "call":
                    fail(f"thread {name}: {msg['type']} while no kernel call is pending")
                self.answer(msg)
        except BaseException as e:  # a thread's exception ends the process, not the thread
            fail(f"thread {name}: {e!r}")

    def mailbox(self, msg):
        """The mailbox of the thread a call or kret is for, its thread started on first use."""
        name = msg.get("thread", "main") if self.version >= 2 else "main"
        if not isinstance(name, str):
            fail(f"a {msg['type']} whose thread is not a string: {msg}")
        if name not in self.mailboxes:
            self.mailboxes[name] = queue.Queue()
            threading.Thread(target=self.run_thread, args=(name,), daemon=True).start()
        return self.mailboxes[name]

    def serve(self, hello):
        offered = self.receive()
        common = [v for v in VERSIONS if v in offered.get("versions", [])]
        if offered.get("type") != "hello" or not common:
            fail(f"this shim speaks protocol versions {list(VERSIONS)}; the harness offered {offered}")
        self.version = common[0]
        self.send(dict(type="hello", version=self.version, **hello))
        while True:
            msg = self.receive()
            if msg["type"] == "case":
                self.handler.new_case()
                self.send({"type": "ready"})
            elif msg["type"] in ("call", "kret"):
                self.mailbox(msg).put(msg)
            elif msg["type"] == "bye":
                os._exit(0)
            else:
                fail(f"unknown message from the harness: {msg}")


class IommufdImporter:
    """YOUR DRIVER: one instance per attachment (`att`), as the harness creates them."""

    def __init__(self, bug):
        self.bug = bug
        self.instances = {}

    def new_case(self):
        self.instances = {}  # every object of the previous case is dropped

    def call(self, k, fn, att, **args):
        if fn == "new":
            self.instances[att] = {"buf": None, "sgt": None, "pinned": False, "revoked": False}
            return {"allow_peer2peer": True, "invalidate_mappings": True}
        me = self.instances[att]
        handler = getattr(self, "op_" + fn, None)
        if handler is None:
            fail(f"this importer has no `{fn}`")
        return handler(k, att, me, **args)

    # --- struct dma_buf_attach_ops -------------------------------------------------------

    def op_invalidate_mappings(self, k, att, me):
        """iopt_revoke_notify(): called with the reservation lock held. Removing the IOMMU
        mapping stops the device before the callback returns; the pin stays until release."""
        if self.bug == "relock":
            k.kernel("dma_resv_lock", buf=me["buf"])
            k.kernel("dma_resv_unlock", buf=me["buf"])
        if me["revoked"]:
            return None  # a restore: a revoke is permanent for this importer
        if self.bug != "keep-mapping":
            self.unmap_domains(k, att, me)
        me["revoked"] = True
        return None

    # --- what the driver does (the harness asks for it) ----------------------------------

    def op_attach(self, k, att, me, buf):
        me["buf"] = buf  # ready before attaching: an invalidation may come at once
        ret = k.kernel("dma_buf_dynamic_attach", buf=buf, att=att)
        if ret != 0:
            me["buf"] = None  # refused (a revoked buffer): nothing to pin, map or detach
        return ret

    def op_map(self, k, att, me):
        """iopt_map_dmabuf(): pin, then VFIO's private interconnect, both under the lock; undo
        the pin on error."""
        if me["buf"] is None:
            return -22  # -EINVAL: never attached
        if me["revoked"]:
            return -19  # -ENODEV
        k.kernel("dma_resv_lock", buf=me["buf"])
        ret = k.kernel("dma_buf_pin", att=att)
        if ret != 0:
            k.kernel("dma_resv_unlock", buf=me["buf"])
            return ret
        if me["revoked"]:
            # An invalidation reached the callback while this thread waited for the lock
            # (another thread's revoke), or the pin moved the buffer: a revoke for this
            # importer.
            k.kernel("dma_buf_unpin", att=att)
            k.kernel("dma_resv_unlock", buf=me["buf"])
            return -19  # -ENODEV
        sgt = k.kernel("vfio_pci_dma_buf_iommufd_map", att=att)
        if sgt < 0:
            k.kernel("dma_buf_unpin", att=att)
            k.kernel("dma_resv_unlock", buf=me["buf"])
            return sgt
        me["sgt"], me["pinned"] = sgt, True
        k.kernel("dma_resv_unlock", buf=me["buf"])
        return 0

    def op_access(self, k, att, me, write):
        k.kernel("device_access", att=att, sgt=me["sgt"], write=write)
        return None

    def op_unmap(self, k, att, me):
        """The area is unmapped (under pages->mutex, not the reservation lock), then
        iopt_release_pages() unpins under the reservation lock."""
        if me["buf"] is None:
            return None
        self.unmap_domains(k, att, me)
        if me["pinned"]:
            me["pinned"] = False
            k.kernel("dma_resv_lock", buf=me["buf"])
            k.kernel("dma_buf_unpin", att=att)
            k.kernel("dma_resv_unlock", buf=me["buf"])
        return None

    def op_detach(self, k, att, me):
        """iopt_release_pages(): unmap and unpin under the lock, then detach."""
        self.op_unmap(k, att, me)
        if me["buf"] is not None:
            k.kernel("dma_buf_detach", buf=me["buf"], att=att)
        return None

    @staticmethod
    def unmap_domains(k, att, me):
        """iopt_area_unmap_domain_range() for every domain: the device faults from now on."""
        sgt, me["sgt"] = me["sgt"], None  # taken first: a concurrent call sees it gone
        if sgt is not None:
            k.kernel("iommu_unmap", att=att, sgt=sgt)


def main():
    bug = None
    args = sys.argv[1:]
    if args[:1] == ["--bug"] and len(args) == 2 and args[1] in BUGS:
        bug = args[1]
    elif args:
        sys.exit(f"usage: iommufd_importer.py [--bug {'|'.join(sorted(BUGS))}]")
    name = "py-iommufd-importer" + (f"-{bug}" if bug else "")
    Protocol(IommufdImporter(bug)).serve(
        {
            "name": name,
            "role": "importer",
            "plays": ["iommufd"],
            "capabilities": ["pins", "invalidate-mappings", "permanent-revoke"],
            "description": "pinned, revocable importer in Python (template, iommufd-like)",
            # Optional: your driver's release or revision, recorded in the results.
            "shim_version": "0.1",
        }
    )


if __name__ == "__main__":
    main()
