//! Reading the kernel's output: the `revoke-trace:` KTAP diagnostic lines the runner prints,
//! and the kernel warnings printed while a scenario ran.

use std::collections::BTreeMap;

use reference_impl::{Actor, Call, Event, Ret, Trace};

/// The trace of one scenario run by one suite of the kernel runner.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTrace {
    /// `none` for the reference profiles, else the mutant's name.
    pub mutant: String,
    /// The case variant (`name[variant]`).
    pub name: String,
    /// The trace, or why it could not be read.
    pub trace: Result<Trace, String>,
    /// A replayed schedule's preemptions at points the kernel never reached
    /// (`step 2's unlock 1`).
    pub unreached: Vec<String>,
    /// Why a replayed schedule could not run as written on the kernel (a step that would
    /// wait for the lock of the step it interrupted), if it could not.
    pub blocked: Option<String>,
}

#[derive(Default)]
struct Open {
    mutant: String,
    name: String,
    step: usize,
    events: Vec<Event>,
    /// Kernel warnings, with the step they were printed in.
    warnings: Vec<(usize, String)>,
    error: Option<String>,
    unreached: Vec<String>,
    blocked: Option<String>,
}

/// The first line of a kernel warning (`WARNING: CPU: 0 PID: 1 at FILE:LINE FUNC+0x..`),
/// shortened to where it fired.
fn warning(line: &str) -> Option<String> {
    let at = line.find("WARNING: ")?;
    let rest = &line[at..];
    let place = rest.split(" at ").nth(1).unwrap_or(rest);
    let place: Vec<&str> = place.split_whitespace().take(2).collect();
    Some(format!("kernel WARNING at {}", place.join(" ")))
}

/// A scenario whose end line never came: the kernel stopped in the middle of it.
fn stopped(open: Open) -> KernelTrace {
    close(
        Open {
            error: Some("the kernel stopped in the middle of the scenario".into()),
            ..open
        },
        "",
    )
}

fn close(open: Open, end: &str) -> KernelTrace {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for word in end.split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            fields.insert(k, v);
        }
    }
    let (unreached, blocked) = (open.unreached.clone(), open.blocked.clone());
    let open = Open {
        unreached: Vec::new(),
        blocked: None,
        ..open
    };
    let trace = (|| {
        if let Some(e) = open.error {
            return Err(e);
        }
        let count: usize = fields
            .get("events")
            .and_then(|n| n.parse().ok())
            .ok_or("the end line has no event count")?;
        if count != open.events.len() {
            return Err(format!(
                "the kernel printed {count} events but {} arrived: lines were lost",
                open.events.len()
            ));
        }
        if fields.get("overflow") != Some(&"0") {
            return Err("the kernel runner's event buffer overflowed".into());
        }
        let hung_at = match fields.get("hung_at") {
            Some(&"none") => None,
            Some(n) => Some(n.parse().map_err(|_| format!("bad hung_at `{n}`"))?),
            None => return Err("the end line has no hung_at".into()),
        };
        let mut events = open.events;
        // A warning goes after the last event of the step it was printed in.
        for (step, what) in open.warnings {
            let at = events
                .iter()
                .rposition(|e| e.step <= step)
                .map_or(0, |i| i + 1);
            events.insert(
                at,
                Event {
                    step,
                    depth: 0,
                    from: Actor::Core,
                    to: Actor::Core,
                    call: Call::Warn { what },
                    locked: false,
                    ret: Some(Ret::Void),
                },
            );
        }
        Ok(Trace {
            events,
            hung_at,
            crashed: None,
        })
    })();
    KernelTrace {
        mutant: open.mutant,
        name: open.name,
        trace,
        unreached,
        blocked,
    }
}

/// Every scenario trace in a kernel log, in the order they ran. A scenario whose end never
/// came (the kernel crashed in it) gets an error.
pub fn parse(log: &str) -> Vec<KernelTrace> {
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    for line in log.lines() {
        let Some(at) = line.find("revoke-trace: ") else {
            if let (Some(o), Some(w)) = (open.as_mut(), warning(line)) {
                o.warnings.push((o.step, w));
            }
            continue;
        };
        let rest = line[at + "revoke-trace: ".len()..].trim_end();
        let (word, args) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "begin" => {
                if let Some(o) = open.take() {
                    out.push(stopped(o));
                }
                let (mutant, name) = args.split_once(' ').unwrap_or(("none", args));
                open = Some(Open {
                    mutant: mutant.to_string(),
                    name: name.to_string(),
                    ..Open::default()
                });
            }
            "step" => {
                if let Some(o) = open.as_mut() {
                    o.step = args.trim().parse().unwrap_or(o.step);
                }
            }
            "ev" => {
                if let Some(o) = open.as_mut() {
                    match serde_json::from_str::<Event>(args) {
                        Ok(e) => o.events.push(e),
                        Err(e) => {
                            o.error
                                .get_or_insert(format!("unreadable event `{args}`: {e}"));
                        }
                    }
                }
            }
            "unreached" => {
                if let Some(o) = open.as_mut() {
                    let w: Vec<&str> = args.split_whitespace().collect();
                    if let [step, point, nth, ..] = w[..] {
                        o.unreached.push(format!("step {step}'s {point} {nth}"));
                    }
                }
            }
            "blocked" => {
                if let Some(o) = open.as_mut() {
                    o.blocked = Some(args.trim().to_string());
                }
            }
            "end" => {
                if let Some(o) = open.take() {
                    out.push(close(o, args));
                }
            }
            _ => {}
        }
    }
    if let Some(o) = open.take() {
        out.push(stopped(o));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference_impl::{AttId, BufId};

    const LOG: &str = r#"
    # revoke_spec_scenario: revoke-trace: begin none pin_without_a_pin_op
    # revoke_spec_scenario: revoke-trace: step 0
    # revoke_spec_scenario: revoke-trace: step 1
[   0.1] WARNING: CPU: 0 PID: 7 at drivers/dma-buf/dma-buf.c:913 dma_buf_dynamic_attach+0x1/0x2
    # revoke_spec_scenario: revoke-trace: ev {"step":0,"depth":0,"from":{"role":"exporter","id":0},"to":{"role":"core"},"call":{"fn":"dma_buf_export","buf":0},"locked":false,"ret":{"kind":"int","value":0}}
    # revoke_spec_scenario: revoke-trace: ev {"step":1,"depth":1,"from":{"role":"core"},"to":{"role":"exporter","id":0},"call":{"fn":"ops_attach","att":0},"locked":false,"ret":{"kind":"err","value":"EOPNOTSUPP"}}
    # revoke_spec_scenario: revoke-trace: ev {"step":1,"depth":0,"from":{"role":"exporter","id":0},"to":{"role":"core"},"call":{"fn":"dma_resv_wait_timeout","buf":0,"usage":"BOOKKEEP","intr":false,"timeout":"max"},"locked":true,"ret":{"kind":"hang"}}
    # revoke_spec_scenario: revoke-trace: end pin_without_a_pin_op events=3 hung_at=1 overflow=0
    # revoke_spec_mutant_keeps_dma: revoke-trace: begin dynamic-keeps-dma repeated_moves
    # revoke_spec_mutant_keeps_dma: revoke-trace: ev {"step":0,"depth":0,"from":{"role":"exporter","id":0},"to":{"role":"core"},"call":{"fn":"dma_buf_export","buf":0},"locked":false,"ret":{"kind":"int","value":0}}
    # revoke_spec_mutant_keeps_dma: revoke-trace: end repeated_moves events=2 hung_at=none overflow=0
    # revoke_spec_scenario: revoke-trace: begin none cut_short
"#;

    #[test]
    fn traces_warnings_losses_and_crashes() {
        let traces = parse(LOG);
        assert_eq!(traces.len(), 3);
        let first = &traces[0];
        assert_eq!(
            (first.mutant.as_str(), first.name.as_str()),
            ("none", "pin_without_a_pin_op")
        );
        let t = first.trace.as_ref().expect("a trace");
        assert_eq!(t.hung_at, Some(1));
        assert_eq!(t.events.len(), 4);
        assert_eq!(
            t.events[1].call,
            Call::OpsAttach { att: AttId(0) },
            "the events keep their order"
        );
        assert_eq!(
            t.events[1].ret,
            Some(Ret::Err(reference_impl::Errno::EOPNOTSUPP))
        );
        assert_eq!(t.events[2].ret, Some(Ret::Hang));
        assert!(
            matches!(&t.events[3].call, Call::Warn { what } if what.contains("dma-buf.c:913")),
            "the warning of step 1 follows the last event of step 1"
        );
        assert_eq!(t.events[0].call, Call::DmaBufExport { buf: BufId(0) });
        // Two events announced, one arrived: the trace is refused, not judged.
        assert!(
            traces[1]
                .trace
                .as_ref()
                .unwrap_err()
                .contains("lines were lost")
        );
        assert_eq!(traces[1].mutant, "dynamic-keeps-dma");
        assert!(traces[2].trace.as_ref().unwrap_err().contains("stopped"));
        assert!(first.unreached.is_empty() && first.blocked.is_none());
    }

    /// A replay says which of its schedule's points the kernel never reached, and why it
    /// stopped; its trace is read as any other.
    #[test]
    fn a_replay_that_did_not_run_as_written() {
        let log = r#"
    # revoke_spec_replay: revoke-trace: begin none revoke_races_a_map~s1
    # revoke_spec_replay: revoke-trace: ev {"step":0,"depth":0,"from":{"role":"exporter","id":0},"to":{"role":"core"},"call":{"fn":"dma_buf_export","buf":0},"locked":false,"ret":{"kind":"int","value":0}}
    # revoke_spec_replay: revoke-trace: unreached 2 unlock 3 1
    # revoke_spec_replay: revoke-trace: blocked step 3 wants buf0's reservation lock, which the step it interrupted holds
    # revoke_spec_replay: revoke-trace: end revoke_races_a_map~s1 events=1 hung_at=none overflow=0
"#;
        let traces = parse(log);
        assert_eq!(traces.len(), 1);
        let t = &traces[0];
        assert_eq!(t.name, "revoke_races_a_map~s1");
        assert_eq!(t.unreached, ["step 2's unlock 3"]);
        assert!(
            t.blocked
                .as_deref()
                .is_some_and(|b| b.starts_with("step 3 wants buf0's"))
        );
        assert_eq!(t.trace.as_ref().expect("a trace").events.len(), 1);
    }
}
