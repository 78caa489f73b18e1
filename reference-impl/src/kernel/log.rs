//! The trace log: every call that crosses a role boundary is recorded here, with the lock
//! state at the call and what it returned; a call that never returns stops the scenario.

#[allow(unused_imports)]
use super::*;

impl Kernel {
    /// Records `call` from the current actor to `to`, runs it as `to`, and records what it
    /// returned. `buf` names the buffer whose lock state the event carries: whether the
    /// calling thread holds its reservation lock (a lock another thread's step holds, under a
    /// schedule, does not count).
    pub fn traced<R: Traced>(&self, buf: BufId, to: Actor, call: Call, f: impl FnOnce() -> R) -> R {
        let locked = self.dma_resv_held_here(buf);
        {
            let mut log = self.log.borrow_mut();
            let from = log.stack.last().copied().unwrap_or(Actor::Harness);
            let ev = Event {
                step: log.step,
                depth: log.stack.len() as u32 - 1,
                from,
                to,
                call: call.clone(),
                locked,
                ret: None,
            };
            let idx = log.events.len();
            log.events.push(ev);
            log.open.push(idx);
            log.stack.push(to);
        }
        let r = f();
        let ret = r.to_ret();
        self.observe(&call, &ret);
        let mut log = self.log.borrow_mut();
        log.stack.pop();
        if let Some(idx) = log.open.pop() {
            log.events[idx].ret = Some(ret);
        }
        r
    }

    /// Records a call into the core.
    pub fn core<R: Traced>(&self, buf: BufId, call: Call, f: impl FnOnce() -> R) -> R {
        self.traced(buf, Actor::Core, call, f)
    }

    /// The innermost open call never returns: record it and stop the scenario.
    pub fn hang(&self) -> ! {
        {
            let mut log = self.log.borrow_mut();
            if let Some(&idx) = log.open.last() {
                log.events[idx].ret = Some(Ret::Hang);
            }
            log.hung_at = Some(log.step);
        }
        panic::resume_unwind(Box::new(Hung))
    }

    /// A kernel warning (`WARN_ON`, a failed `dma_resv_assert_held`), recorded in the trace.
    pub fn warn(&self, buf: BufId, what: &str) {
        self.traced(
            buf,
            Actor::Core,
            Call::Warn {
                what: what.to_string(),
            },
            || (),
        );
    }

    /// Model bookkeeping derived from completed calls (pins and mappings an importer holds).
    pub(super) fn observe(&self, call: &Call, ret: &Ret) {
        let mut st = self.st.borrow_mut();
        let (att, dpins, dmaps) = match (call, ret) {
            (Call::DmaBufPin { att }, Ret::Int(0)) => (*att, 1, 0),
            (Call::DmaBufUnpin { att }, _) => (*att, -1, 0),
            // The `_unlocked` variants call these, so counting these alone counts once.
            (Call::DmaBufMapAttachment { att }, Ret::Sgt(_)) => (*att, 0, 1),
            (Call::DmaBufUnmapAttachment { att, .. }, _) => (*att, 0, -1),
            _ => return,
        };
        if let Some(a) = st.atts.get_mut(&att) {
            a.pins += dpins;
            a.mappings += dmaps;
        }
    }
}
