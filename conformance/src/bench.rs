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
    out
}
