//! The monitors of the chapter "Revocation" (`revocation.md`).

use reference_impl::{
    AccessOutcome, Actor, BufId, Call, CallName, DmaResvUsage, Errno, Event, Ret, Role, Step,
};

use super::invalidation::waited_between;
use super::judgement::{ret_of, shows};
use super::{Judgement, Monitor, Observed, Verdict};

pub(super) const MONITORS: &[Monitor] = &[
    Monitor {
        rule: "revoke.exporter.mark-under-lock",
        source: file!(),
        role: Role::Exporter,
        applies: "every revoke that invalidates",
        expects: "the exporter holds the lock at the invalidation, and a map from the callback or after it already fails",
        judge: mark_under_lock,
    },
    Monitor {
        rule: "revoke.exporter.wait-bookkeep",
        source: file!(),
        role: Role::Exporter,
        applies: "every revoke that invalidates and drops the lock",
        expects: "a BOOKKEEP wait between the invalidation and the unlock",
        judge: wait_bookkeep,
    },
    Monitor {
        rule: "revoke.exporter.wait-unmap",
        source: file!(),
        role: Role::Exporter,
        applies: "revokes by exporters that revoke pinned attachments (capability `revokes-pinned`)",
        expects: "after the unlock, the exporter waits until every importer has unmapped",
        judge: wait_unmap,
    },
    Monitor {
        rule: "revoke.exporter.reuse-after-waits",
        source: file!(),
        role: Role::Exporter,
        applies: "memory reused after a revoke by exporters with capability `revokes-pinned`",
        expects: "the reuse comes after the BOOKKEEP wait and the wait for unmaps returned; no revocable importer's device finds the memory reused",
        judge: reuse_after_waits,
    },
    Monitor {
        rule: "revoke.exporter.unbounded-wait",
        source: file!(),
        role: Role::Exporter,
        applies: "a revoke whose BOOKKEEP wait did not end with every fence signalled",
        expects: "the memory is not reused afterwards",
        judge: unbounded_wait,
    },
    Monitor {
        rule: "revoke.exporter.wait-result",
        source: file!(),
        role: Role::Exporter,
        applies: "a revoke's waits for the fences after its invalidation",
        expects: "after one that returned 0 or an error, the exporter waits again before its wait for unmaps, and does not reuse the memory before a later wait succeeds",
        judge: wait_result,
    },
    Monitor {
        rule: "revoke.exporter.reject-map",
        source: file!(),
        role: Role::Exporter,
        applies: "`ops.map_dma_buf` while the buffer is revoked",
        expects: "it fails with -ENODEV",
        judge: reject_map,
    },
    Monitor {
        rule: "revoke.exporter.reject-attach",
        source: file!(),
        role: Role::Exporter,
        applies: "`ops.attach` while the buffer is revoked, by exporters that revoke pinned attachments (capability `revokes-pinned`), of attachments the exporter would otherwise consider",
        expects: "it fails with -ENODEV (a non-revocable attachment: -ENODEV or -EOPNOTSUPP)",
        judge: reject_attach,
    },
    Monitor {
        rule: "revoke.core.no-revoked-state",
        source: file!(),
        role: Role::Core,
        applies: "every `dma_buf_map_attachment()` that returned an error or whose `map_dma_buf` failed",
        expects: "the map returns the exporter's error unchanged, and refuses nothing by itself",
        judge: no_revoked_state,
    },
    Monitor {
        rule: "revoke.exporter.cleanup-once",
        source: file!(),
        role: Role::Exporter,
        applies: "the teardown (last put) of a revoked buffer",
        expects: "no second invalidation and no second wait for unmaps",
        judge: cleanup_once,
    },
    Monitor {
        rule: "revoke.importer.stop-access",
        source: file!(),
        role: Role::Importer,
        applies: "importers pinned when a revoke's callback reaches them",
        expects: "after the callback, until a restore, the device reaches the buffer only through fenced work",
        judge: stop_access,
    },
    Monitor {
        rule: "revoke.importer.unmap-bounded",
        source: file!(),
        role: Role::Importer,
        applies: "importers that held a mapping when a revoke's callback reached them",
        expects: "they unmap it before the exporter's wait for unmaps returns (from the callback or a worker), or, when the exporter does not wait, before the scenario ends",
        judge: unmap_bounded,
    },
    Monitor {
        rule: "revoke.importer.no-write-after-invalidate",
        source: file!(),
        role: Role::Importer,
        applies: "device writes",
        expects: "no write goes through an invalidated or unmapped mapping except fenced work",
        judge: no_write_after_invalidate,
    },
    Monitor {
        rule: "revoke.importer.private-path-sync",
        source: file!(),
        role: Role::Importer,
        applies: "callbacks reaching importers that hold a private-interconnect mapping (`vfio_pci_dma_buf_iommufd_map`)",
        expects: "the importer removes it (`iommu_unmap`) before its callback returns",
        judge: private_path_sync,
    },
];

/// Per revoke step: `(step, buffer, the exporter's invalidation in it)`.
fn revoke_invalidations<'o>(
    o: &'o Observed<'_>,
) -> impl Iterator<Item = (usize, BufId, usize)> + 'o {
    o.revokes().filter_map(move |(s, buf)| {
        o.events()
            .find(|(_, e)| {
                e.step == s
                    && e.from == Actor::Exporter(buf)
                    && matches!(e.call, Call::DmaBufInvalidateMappings { buf: b } if b == buf)
            })
            .map(|(i, _)| (s, buf, i))
    })
}

/// The exporter's first unlock of `buf` after event `from` in step `s`.
fn unlock_after(o: &Observed<'_>, s: usize, buf: BufId, from: usize) -> Option<usize> {
    o.events()
        .skip(from + 1)
        .find(|(_, e)| {
            e.step == s
                && e.from == Actor::Exporter(buf)
                && matches!(e.call, Call::DmaResvUnlock { buf: b } if b == buf)
        })
        .map(|(i, _)| i)
}

fn last_event_of_step(o: &Observed<'_>, s: usize) -> Option<usize> {
    o.events()
        .filter(|(_, e)| e.step == s)
        .map(|(i, _)| i)
        .last()
}

fn mark_under_lock(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        let e = o.event(inv);
        j.expect(e.locked, inv, Actor::Exporter(buf), || {
            format!("{} without the lock", shows(e))
        });
        let revoke_ends = last_event_of_step(o, s).unwrap_or(inv);
        for (k, m) in o.events().skip(inv + 1) {
            let Call::OpsMapDmaBuf { att } = m.call else {
                continue;
            };
            if o.att(att).is_none_or(|a| a.buf != buf) || !o.revoked_at(buf, k) {
                continue;
            }
            // From the callback, or from another thread while the revoke is still running:
            // the buffer must be marked revoked already.
            let from_callback = o.enclosing(k, CallName::DmaBufInvalidateMappings) == Some(inv);
            if from_callback || k < revoke_ends {
                j.expect(
                    matches!(m.ret, Some(Ret::Err(_)) | None),
                    k,
                    Actor::Exporter(buf),
                    || {
                        format!(
                            "{} {} (invalidation: event #{inv}): the buffer was not yet marked revoked",
                            shows(m),
                            if from_callback {
                                "from the revoke's callback"
                            } else {
                                "while the revoke is still running"
                            }
                        )
                    },
                );
            }
        }
    }
    j.verdict()
}

fn wait_bookkeep(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        let end = match unlock_after(o, s, buf, inv) {
            Some(u) => u,
            None if o.step_completed(s) => match last_event_of_step(o, s) {
                Some(l) => l + 1,
                None => continue,
            },
            None => continue,
        };
        let waited = o.events().skip(inv + 1).take(end.saturating_sub(inv + 1)).any(|(_, e)| {
            e.from == Actor::Exporter(buf)
                && matches!(e.call, Call::DmaResvWaitTimeout { buf: b, usage: DmaResvUsage::Bookkeep, .. } if b == buf)
        });
        let at = end.min(o.trace.events.len().saturating_sub(1));
        j.expect(waited, at, Actor::Exporter(buf), || {
            format!(
                "no `dma_resv_wait_timeout(BOOKKEEP)` between the invalidation (event #{inv}) and {}",
                if end < o.trace.events.len() && matches!(o.event(end).call, Call::DmaResvUnlock { .. }) {
                    format!("the unlock (event #{end})")
                } else {
                    "the end of the revoke".to_string()
                }
            )
        });
    }
    j.verdict()
}

fn wait_unmap(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        if !o.exporter_can(buf, "revokes-pinned") {
            continue;
        }
        let Some(unlock) = unlock_after(o, s, buf, inv) else {
            continue;
        };
        let waited = o.events().skip(unlock + 1).any(|(_, e)| {
            e.step == s
                && e.from == Actor::Exporter(buf)
                && matches!(e.call, Call::WaitForUnmap { buf: b } if b == buf)
        });
        if !waited && !o.step_completed(s) {
            continue;
        }
        let at = last_event_of_step(o, s).unwrap_or(unlock);
        j.expect(waited, at, Actor::Exporter(buf), || {
            format!("after the unlock (event #{unlock}), the revoke ends without waiting for the importers' unmaps")
        });
    }
    j.verdict()
}

fn reuse_after_waits(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    let revocations: Vec<(usize, BufId, usize)> = revoke_invalidations(o).collect();
    for (i, e) in o.calls(CallName::ReclaimMemory) {
        let Call::ReclaimMemory { buf } = e.call else {
            continue;
        };
        if !o.exporter_can(buf, "revokes-pinned") || !o.revoked_at(buf, i) {
            continue;
        }
        let Some(&(_, _, inv)) = revocations.iter().rfind(|(_, b, k)| *b == buf && *k < i) else {
            continue;
        };
        let bookkeep = waited_between(o, buf, DmaResvUsage::Bookkeep, inv, i);
        let unmaps = o.events().skip(inv).take(i - inv).any(|(_, w)| {
            matches!(w.call, Call::WaitForUnmap { buf: b } if b == buf) && w.ret == Some(Ret::Void)
        });
        j.expect(bookkeep && unmaps, i, Actor::Exporter(buf), || {
            format!(
                "{} before {} returned",
                shows(e),
                match (bookkeep, unmaps) {
                    (false, false) => "the BOOKKEEP wait and the wait for unmaps",
                    (false, true) => "the BOOKKEEP wait",
                    _ => "the wait for unmaps",
                }
            )
        });
    }
    for a in o
        .accesses()
        .filter(|a| a.outcome == AccessOutcome::Reclaimed)
    {
        let Some(info) = o.att(a.att) else { continue };
        if info.callback
            && o.exporter_can(info.buf, "revokes-pinned")
            && o.revoked_at(info.buf, a.event)
        {
            j.violated(
                a.event,
                Actor::Exporter(info.buf),
                format!(
                    "{}: the revoked memory was reused while this device still reached it",
                    shows(o.event(a.event))
                ),
            );
        }
    }
    j.verdict()
}

/// The exporter's BOOKKEEP waits for `buf` in revoke step `s` after its invalidation `inv`.
fn revoke_waits<'o>(
    o: &'o Observed<'_>,
    s: usize,
    buf: BufId,
    inv: usize,
) -> impl Iterator<Item = (usize, &'o Event)> + 'o {
    o.events().skip(inv + 1).filter(move |(_, e)| {
        e.step == s
            && e.from == Actor::Exporter(buf)
            && matches!(e.call, Call::DmaResvWaitTimeout { buf: b, usage: DmaResvUsage::Bookkeep, .. } if b == buf)
    })
}

/// A wait that returned, and not with a positive value: it timed out or was interrupted.
fn wait_failed(wait: &Event) -> bool {
    !matches!(wait.ret, Some(Ret::Int(n)) if n > 0)
        && wait.ret != Some(Ret::Hang)
        && wait.ret.is_some()
}

fn unbounded_wait(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        // The last of the revoke's waits: an interrupted wait followed by one that
        // succeeded did not give up.
        let Some((w, wait)) = revoke_waits(o, s, buf, inv).last() else {
            continue;
        };
        j.applies();
        if !wait_failed(wait) {
            continue;
        }
        if let Some((r, reuse)) = o.events().skip(w + 1).find(|(k, e)| {
            matches!(e.call, Call::ReclaimMemory { buf: b } if b == buf) && o.revoked_at(buf, *k)
        }) {
            j.violated(
                r,
                Actor::Exporter(buf),
                format!(
                    "{} after the revoke's wait gave up ({} returned {})",
                    shows(reuse),
                    wait.call.render(),
                    ret_of(wait)
                ),
            );
        }
    }
    j.verdict()
}

fn wait_result(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        let waits: Vec<(usize, &Event)> = revoke_waits(o, s, buf, inv).collect();
        for (n, &(w, wait)) in waits.iter().enumerate() {
            j.applies();
            if !wait_failed(wait) {
                continue;
            }
            // Where the exporter went on: up to its next wait, the revoke's wait for unmaps;
            // up to a wait that succeeded, a reuse of the memory (any step).
            let next_wait = waits.get(n + 1).map(|&(k, _)| k);
            let until_success = waits[n + 1..]
                .iter()
                .find(|(_, e)| !wait_failed(e) && e.ret != Some(Ret::Hang))
                .map(|&(k, _)| k);
            let went_on = o.events().skip(w + 1).find(|(k, e)| match e.call {
                Call::WaitForUnmap { buf: b } => {
                    b == buf && e.step == s && next_wait.is_none_or(|x| *k < x)
                }
                Call::ReclaimMemory { buf: b } => {
                    b == buf && until_success.is_none_or(|x| *k < x) && o.revoked_at(buf, *k)
                }
                _ => false,
            });
            if let Some((k, e)) = went_on {
                j.violated(
                    k,
                    Actor::Exporter(buf),
                    format!(
                        "{} after {} returned {}: the fences had not signalled",
                        shows(e),
                        wait.call.render(),
                        ret_of(wait)
                    ),
                );
            }
        }
    }
    j.verdict()
}

/// The exporter of `buf` answered call `i` (made while the buffer is revoked) with -ENODEV.
fn expect_enodev(j: &mut Judgement, i: usize, e: &Event, buf: BufId) {
    j.expect(
        e.ret == Some(Ret::Err(Errno::ENODEV)),
        i,
        Actor::Exporter(buf),
        || {
            format!(
                "{} while the buffer is revoked: expected -ENODEV, got {}",
                shows(e),
                ret_of(e)
            )
        },
    );
}

fn reject_map(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsMapDmaBuf) {
        let Call::OpsMapDmaBuf { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        if !o.revoked_at(info.buf, i) || e.ret.is_none() {
            continue;
        }
        expect_enodev(&mut j, i, e, info.buf);
    }
    j.verdict()
}

fn reject_attach(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::OpsAttach) {
        let Call::OpsAttach { att } = e.call else {
            continue;
        };
        let Some(info) = o.att(att) else { continue };
        // The rule binds exporters that revoke as part of normal operation; one that revokes
        // only on a rare event (a GPU's hot unplug) may keep accepting, as amdgpu and xe do.
        if !o.exporter_can(info.buf, "revokes-pinned")
            || !o.revoked_at(info.buf, i)
            || e.ret.is_none()
        {
            continue;
        }
        // An attachment a peer-to-peer-only exporter refuses anyway is judged by
        // `attach.peer2peer.refuse`, which the exporter checks first.
        if o.exporter_can(info.buf, "peer2peer-only") && !(info.dynamic && info.allow_peer2peer) {
            continue;
        }
        // A non-revocable attachment is refused anyway (`attach.revocable.check-in-attach`):
        // which refusal comes first is the exporter's order, so either errno is right.
        if !info.callback && e.ret == Some(Ret::Err(Errno::EOPNOTSUPP)) {
            j.applies();
            continue;
        }
        expect_enodev(&mut j, i, e, info.buf);
    }
    j.verdict()
}

fn no_revoked_state(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (i, e) in o.calls(CallName::DmaBufMapAttachment) {
        let Some(ret) = &e.ret else { continue };
        let map = o
            .children(i)
            .find(|(_, c)| matches!(c.call, Call::OpsMapDmaBuf { .. }));
        match (map.map(|(_, m)| &m.ret), ret) {
            (Some(Some(Ret::Err(err))), _) => {
                j.expect(*ret == Ret::Err(*err), i, Actor::Core, || {
                    format!(
                        "`map_dma_buf` returned {err} and {} returned {}",
                        e.call.name(),
                        ret_of(e)
                    )
                });
            }
            (None, Ret::Err(err)) => {
                let pin_failed = o.children(i).any(|(_, c)| {
                    matches!(c.call, Call::OpsPin { .. }) && matches!(c.ret, Some(Ret::Err(_)))
                });
                if !pin_failed {
                    j.violated(
                        i,
                        Actor::Core,
                        format!(
                            "{} returned {err} without asking the exporter",
                            e.call.name()
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    j.verdict()
}

fn cleanup_once(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, step) in o.steps.iter().enumerate() {
        let Step::Put { buf } = *step else { continue };
        let Some((first, _)) = o.events().find(|(_, e)| e.step == s) else {
            continue;
        };
        if !o.revoked_at(buf, first) {
            continue;
        }
        j.applies();
        if let Some((i, e)) = o.events().find(|(_, e)| {
            e.step == s
                && e.from == Actor::Exporter(buf)
                && matches!(
                    e.call,
                    Call::DmaBufInvalidateMappings { .. } | Call::WaitForUnmap { .. }
                )
        }) {
            j.violated(
                i,
                Actor::Exporter(buf),
                format!("{} while tearing down a buffer already revoked", shows(e)),
            );
        }
    }
    j.verdict()
}

fn stop_access(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        for (k, cb) in o.children(inv) {
            let Call::InvalidateMappings { att } = cb.call else {
                continue;
            };
            if o.pins_before(att, k) <= 0 {
                continue;
            }
            j.applies();
            let after = o.end_of(k);
            let restore = o
                .steps
                .iter()
                .enumerate()
                .skip(s + 1)
                .find(|(_, st)| matches!(st, Step::Restore { buf: b } if *b == buf))
                .map_or(usize::MAX, |(r, _)| r);
            for a in o.accesses().filter(|a| a.att == att && a.event > after) {
                if o.event(a.event).step >= restore || a.outcome == AccessOutcome::NoMapping {
                    continue;
                }
                let fenced = a.job
                    && matches!(o.event(a.event).call, Call::DmaAccess { job: Some(job), .. } if o.job_fence(job).is_some_and(|f| o.fence_added(f)));
                if !fenced {
                    j.violated(
                        a.event,
                        Actor::Importer(att),
                        format!("{}: the device still reaches the buffer after the revoke's callback (event #{k})", shows(o.event(a.event))),
                    );
                }
            }
        }
    }
    j.verdict()
}

fn unmap_bounded(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (s, buf, inv) in revoke_invalidations(o) {
        let wait = o.events().skip(inv + 1).find(|(_, e)| {
            e.step == s && matches!(e.call, Call::WaitForUnmap { buf: b } if b == buf)
        });
        // The unmap may come from a worker that runs while the exporter waits for unmaps
        // (after its unlock), so what counts is what the importer holds when the wait
        // returns. An exporter that does not wait for unmaps leaves "bounded time" to the
        // rest of the scenario: the mapping must be given back before the trace ends.
        // A wait that never returns (a mapping of another importer that nobody gives back)
        // is that importer's doing: a worker of this one still runs inside it, so what counts
        // is what this importer holds when the trace ends.
        let returned = wait.is_some_and(|(w, _)| o.returned(w));
        let end = match wait {
            Some((w, _)) if returned => o.end_of(w) + 1,
            Some(_) => o.trace.events.len(),
            None if o.trace.stopped_at().is_none() => o.trace.events.len(),
            None => continue,
        };
        for (k, cb) in o.children(inv) {
            let Call::InvalidateMappings { att } = cb.call else {
                continue;
            };
            let held = o.mappings_before(att, k);
            if held.is_empty() {
                continue;
            }
            let still = o.mappings_before(att, end);
            let kept: Vec<String> = held
                .iter()
                .filter(|m| still.contains(m))
                .map(|m| m.to_string())
                .collect();
            let at = match wait {
                Some((w, _)) => w,
                None => end.min(o.trace.events.len().saturating_sub(1)),
            };
            j.expect(kept.is_empty(), at, Actor::Importer(att), || {
                format!(
                    "importer.{att} still holds {} when {} (its callback: event #{k})",
                    kept.join(", "),
                    if returned {
                        "the exporter's wait for unmaps returns"
                    } else if wait.is_some() {
                        "the scenario ends inside the exporter's wait for unmaps"
                    } else {
                        "the scenario ends"
                    }
                )
            });
        }
    }
    j.verdict()
}

fn no_write_after_invalidate(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for a in o.accesses().filter(|a| a.write) {
        j.applies();
        let after_invalidate = match a.outcome {
            AccessOutcome::Unmapped => true,
            // Only once the callback reached this importer: a write on another thread while
            // the core is still on its way to the callback is before the invalidation.
            AccessOutcome::AfterInvalidate => {
                o.calls(CallName::InvalidateMappings).any(|(k, cb)| {
                    k < a.event
                        && matches!(cb.call, Call::InvalidateMappings { att } if att == a.att)
                })
            }
            _ => false,
        };
        if !after_invalidate {
            continue;
        }
        let fenced = a.job
            && matches!(o.event(a.event).call, Call::DmaAccess { job: Some(job), .. } if o.job_fence(job).is_some_and(|f| o.fence_added(f)));
        if !fenced {
            j.violated(
                a.event,
                Actor::Importer(a.att),
                format!(
                    "{}: a write through a mapping the importer was told to drop",
                    shows(o.event(a.event))
                ),
            );
        }
    }
    j.verdict()
}

fn private_path_sync(o: &Observed<'_>) -> Verdict {
    let mut j = Judgement::new();
    for (k, cb) in o.calls(CallName::InvalidateMappings) {
        let Call::InvalidateMappings { att } = cb.call else {
            continue;
        };
        if !o.returned(k) {
            continue; // It never returned: the hang is another rule's.
        }
        let mut held = false;
        for (_, e) in o.events().take(k) {
            match (&e.call, &e.ret) {
                (Call::VfioPciDmaBufIommufdMap { att: a }, Some(Ret::Sgt(_))) if *a == att => {
                    held = true
                }
                (Call::IommuUnmap { att: a }, _) if *a == att => held = false,
                _ => {}
            }
        }
        if !held {
            continue;
        }
        let closed = o
            .inside(k)
            .any(|(_, e)| matches!(e.call, Call::IommuUnmap { att: a } if a == att));
        j.expect(closed, k, Actor::Importer(att), || {
            format!(
                "{}: returned with its private-interconnect mapping still in the IOMMU",
                shows(cb)
            )
        });
    }
    j.verdict()
}
