//! `revoke-conformance bench`: wall time of whole runs, per case, and the harness's overhead
//! against calling the reference implementation directly, as ratios measured in one run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::outcome::scenario_of;
use crate::remote::{DEFAULT_TIMEOUT, RemoteBackend};
use crate::runner::{Backend, InProcess, RunOptions, run_backend, run_shims, selected};

fn best(repeat: u32, mut f: impl FnMut()) -> Duration {
    (0..repeat)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Runs the measurements and returns the report.
pub(crate) fn run(repeat: u32) -> String {
    let shims = shims::in_tree();
    let variants = selected(&crate::spec(), None);
    let scenarios: Vec<_> = variants
        .iter()
        .map(|(c, v)| scenario_of(c, v).map(|s| s.steps).unwrap_or_default())
        .collect();
    let opts = RunOptions {
        spec: crate::spec(),
        filter: &judge::filter::CaseFilter::all(),
        expectations: None,
        today: time::OffsetDateTime::now_utc().date(),
        cancel: Default::default(),
    };

    let full = best(repeat, || {
        let _ = run_shims(&shims, &opts, &mut |_, _| {});
    });
    let harness_reference = best(repeat, || {
        for (c, v) in &variants {
            let _ = crate::outcome::run_case(&crate::spec(), c, v, &mut |s| {
                reference_impl::run_reference(s)
            });
        }
    });
    let bare = best(repeat, || {
        for steps in &scenarios {
            let _ = reference_impl::run_reference(steps);
        }
    });
    // The same VFIO exporter logic in process, as a Rust shim process, and as the C shim
    // process; each out-of-process run includes starting the process and its hello.
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "revoke-conformance".into());
    let rust_argv = vec![me, "serve".into(), "rust-vfio-exporter".into()];
    let c_argv = vec![shims_c::vfio_exporter().display().to_string()];
    let mut cases_run = 0;
    let in_process = best(repeat, || {
        let r = run_backend(
            &mut InProcess::new(&shims::rust_vfio::SHIM),
            &opts,
            &mut |_, _| {},
        );
        cases_run = r.summary.passed + r.summary.failed;
    });
    let process = |argv: &Vec<String>| -> Result<Duration, String> {
        let mut err = None;
        let d = best(repeat, || {
            match RemoteBackend::start_argv("bench", argv.clone(), DEFAULT_TIMEOUT, None) {
                Ok(mut b) => {
                    let r = run_backend(&mut b as &mut dyn Backend, &opts, &mut |_, _| {});
                    if r.summary.failed > 0 {
                        err = Some(format!("{} cases failed", r.summary.failed));
                    }
                }
                Err(e) => err = Some(e.to_string()),
            }
        });
        err.map_or(Ok(d), Err)
    };
    let rust_process = process(&rust_argv);
    let c_process = process(&c_argv);
    let exploration = exploration(&c_argv);
    let runs = (shims.len() * variants.len()) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "revoke-conformance bench: best of {repeat} runs, {} shims x {} case variants",
        shims.len(),
        variants.len()
    );
    let _ = writeln!(
        out,
        "full suite, every in-tree shim:   {:>10.3} ms",
        full.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "per case variant and shim:        {:>10.1} us",
        full.as_secs_f64() * 1e6 / runs
    );
    let _ = writeln!(
        out,
        "harness, reference only:          {:>10.3} ms",
        harness_reference.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "bare model, same scenarios:       {:>10.3} ms",
        bare.as_secs_f64() * 1e3
    );
    let _ = writeln!(
        out,
        "ratio harness / bare model:       {:>10.2}",
        harness_reference.as_secs_f64() / bare.as_secs_f64().max(1e-9)
    );
    let _ = writeln!(
        out,
        "\nout of process: the VFIO exporter's {cases_run} applicable cases, process start included"
    );
    let _ = writeln!(
        out,
        "in process (rust-vfio-exporter):  {:>10.3} ms  {:>8.1} us/case",
        in_process.as_secs_f64() * 1e3,
        in_process.as_secs_f64() * 1e6 / cases_run.max(1) as f64
    );
    for (label, d) in [
        ("Rust shim process:", &rust_process),
        ("C shim process (c-vfio-exporter):", &c_process),
    ] {
        match d {
            Ok(d) => {
                let _ = writeln!(
                    out,
                    "{label:<34}{:>10.3} ms  {:>8.1} us/case  ratio to in process {:>7.1}",
                    d.as_secs_f64() * 1e3,
                    d.as_secs_f64() * 1e6 / cases_run.max(1) as f64,
                    d.as_secs_f64() / in_process.as_secs_f64().max(1e-9)
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{label:<34}failed: {e}");
            }
        }
    }
    out.push_str(&exploration);
    out
}

/// How many generated scenarios the bench runs in process.
const GENERATED: u32 = 100_000;
/// How many it runs against a shim process.
const GENERATED_WIRE: u32 = 2_000;

/// Exploration speed: generated scenarios in process and over the wire (against the floor:
/// the same messages through a bare pipe, measured in the same run), and the racy cases'
/// interleavings.
fn exploration(c_argv: &[String]) -> String {
    use judge::generate::{Profiles, generate};
    use std::rc::Rc;
    let mut out = String::new();
    let _ = writeln!(out, "\nexploration");
    // In process: the reference in every role.
    let roles = Rc::new(reference_impl::Roles::reference());
    let t = Instant::now();
    let g = generate(
        &Profiles::all(),
        GENERATED,
        1,
        &mut |steps| reference_impl::run_with(&roles, steps).map(Some),
        &|_| {},
    );
    let d = t.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "generated, in process (reference):  {:>8} scenarios in {d:>7.2} s = {:>9.0} per minute{}",
        g.run,
        g.run as f64 * 60.0 / d.max(1e-9),
        if g.failing.is_some() {
            " (A VIOLATION: run explore)"
        } else {
            ""
        }
    );
    // Over the wire: the C VFIO exporter, with a transcript to count the messages.
    let transcript = std::env::temp_dir().join(format!("bench-wire-{}.txt", std::process::id()));
    let wire = (|| -> Result<(f64, u64), String> {
        let t = crate::remote::Transcript::create(&transcript).map_err(|e| e.to_string())?;
        let mut b = RemoteBackend::start_argv("bench", c_argv.to_vec(), DEFAULT_TIMEOUT, Some(t))
            .map_err(|e| e.to_string())?;
        let info = b.info();
        let plays: Vec<&str> = info.plays.iter().map(String::as_str).collect();
        let profiles = Profiles::for_role(info.role, &plays);
        let start = Instant::now();
        let mut ran = 0u64;
        let g = generate(
            &profiles,
            GENERATED_WIRE,
            1,
            &mut |steps| {
                if b.scenario_applies(steps).is_err() {
                    return Ok(None);
                }
                ran += 1;
                let file = reference_impl::ScenarioFile::sequential(steps);
                b.run_file("generated", &file).trace.map(Some)
            },
            &|_| {},
        );
        if let Some(f) = g.failing {
            return Err(f.message);
        }
        Ok((start.elapsed().as_secs_f64(), ran))
    })();
    let lines: Vec<String> = std::fs::read_to_string(&transcript)
        .unwrap_or_default()
        .lines()
        .map(|l| l.get(2..).unwrap_or_default().to_string())
        .collect();
    let _ = std::fs::remove_file(&transcript);
    match wire {
        Err(e) => {
            let _ = writeln!(out, "generated, over the wire:           failed: {e}");
        }
        Ok((secs, ran)) => {
            let floor = bare_pipe(&lines);
            let per = secs * 1e6 / ran.max(1) as f64;
            let _ = writeln!(
                out,
                "generated, C shim process:          {ran:>8} scenarios in {secs:>7.2} s = {per:>8.1} us/scenario, {} messages",
                lines.len()
            );
            match floor {
                Ok(f) => {
                    let fper = f * 1e6 / ran.max(1) as f64;
                    let _ = writeln!(
                        out,
                        "floor, same messages, bare pipe:    {:>8} messages  in {f:>7.2} s = {fper:>8.1} us/scenario  ratio wire / floor {:>5.2}",
                        lines.len(),
                        secs / f.max(1e-9)
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "floor, bare pipe:                   failed: {e}");
                }
            }
        }
    }
    // The racy cases' interleavings, on the reference.
    let t = Instant::now();
    let mut schedules = 0;
    let racy = crate::races::racy_cases(&crate::spec());
    let cases = racy.len();
    for (case, variant) in racy {
        let ex = crate::races::explore_case(
            roles.clone(),
            case,
            variant,
            reference_impl::ExploreOptions::default(),
        );
        schedules += ex.explored;
    }
    let d = t.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "racy cases ({cases}), every schedule to bound 2 + 200 PCT samples each: {schedules} schedules in {d:.2} s = {:.0} schedules/s",
        schedules as f64 / d.max(1e-9)
    );
    out.push_str(&concurrent_wire(c_argv));
    out
}

/// The cost of concurrent calls on the wire (protocol version 2): every racy case the VFIO
/// exporter plays, explored in process (the reference VFIO exporter) and over the wire (the C
/// shim, one process for all its schedules, each schedule a fresh case), side by side.
fn concurrent_wire(c_argv: &[String]) -> String {
    use std::rc::Rc;
    let mut out = String::new();
    let roles = Rc::new(shims::vfio_pci::SHIM.roles());
    let remote = match RemoteBackend::start_argv("bench", c_argv.to_vec(), DEFAULT_TIMEOUT, None) {
        Ok(b) => b,
        Err(e) => return format!("racy cases over the wire: the C shim failed to start: {e}\n"),
    };
    let opts = reference_impl::ExploreOptions::default();
    let (mut here_total, mut there_total, mut n_total) = (0.0, 0.0, 0usize);
    for (case, variant) in crate::races::racy_cases(&crate::spec()) {
        let steps = scenario_of(case, variant)
            .map(|s| s.steps)
            .unwrap_or_default();
        if remote.scenario_applies(&steps).is_err() {
            continue;
        }
        let label = case.variant_name(variant);
        let t = Instant::now();
        let here = crate::races::explore_case(roles.clone(), case, variant, opts);
        let here_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let there = crate::races::explore_case_with(
            &mut |f| remote.run_schedule(&label, f),
            case,
            variant,
            opts,
        );
        let there_s = t.elapsed().as_secs_f64();
        let same = here.explored == there.explored
            && here.distinct == there.distinct
            && here.violation.is_none() == there.violation.is_none();
        let n = here.explored.max(1) as f64;
        let _ = writeln!(
            out,
            "racy, concurrent wire: {label:<28} {:>5} schedules: in process {:>8.1} us/schedule, C shim process (protocol 2) {:>8.1} us/schedule  ratio wire / in process {:>6.1}{}",
            here.explored,
            here_s * 1e6 / n,
            there_s * 1e6 / n,
            there_s / here_s.max(1e-9),
            if same { "" } else { " (VERDICTS DIFFER)" }
        );
        here_total += here_s;
        there_total += there_s;
        n_total += here.explored;
    }
    if n_total > 0 {
        let _ = writeln!(
            out,
            "racy, concurrent wire, all:         {n_total:>5} schedules: in process {:>8.1} us/schedule, C shim process (protocol 2) {:>8.1} us/schedule  ratio wire / in process {:>6.1}",
            here_total * 1e6 / n_total as f64,
            there_total * 1e6 / n_total as f64,
            there_total / here_total.max(1e-9)
        );
    }
    out
}

/// Seconds to pass `lines` through a bare pipe, one message at a time, each waiting for the
/// previous one (the protocol's pattern): every message goes to `cat` and is read back, so
/// each crosses a pipe twice; the time is halved to count one crossing a message.
fn bare_pipe(lines: &[String]) -> Result<f64, String> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cat: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let start = Instant::now();
    let mut back = String::new();
    for l in lines {
        stdin
            .write_all(l.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| e.to_string())?;
        back.clear();
        stdout.read_line(&mut back).map_err(|e| e.to_string())?;
    }
    let secs = start.elapsed().as_secs_f64() / 2.0;
    drop(stdin);
    let _ = child.wait();
    Ok(secs)
}
