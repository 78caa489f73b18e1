//! `revoke-conformance bench`: wall time of whole runs, per case, and the harness's overhead
//! against calling the reference implementation directly, as ratios measured in one run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::outcome::scenario_of;
use crate::runner::{RunOptions, run_shims, selected};

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
    let variants = selected(None);
    let scenarios: Vec<_> = variants
        .iter()
        .map(|(c, v)| scenario_of(c, v).map(|s| s.steps).unwrap_or_default())
        .collect();
    let opts = RunOptions {
        filter: None,
        expectations: None,
        today: time::OffsetDateTime::now_utc().date(),
    };

    let full = best(repeat, || {
        let _ = run_shims(&shims, &opts, &mut |_, _| {});
    });
    let harness_reference = best(repeat, || {
        for (c, v) in &variants {
            let _ = crate::outcome::run_case(c, v, &|s| reference_impl::run_reference(s));
        }
    });
    let bare = best(repeat, || {
        for steps in &scenarios {
            let _ = reference_impl::run_reference(steps);
        }
    });
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
    out
}
