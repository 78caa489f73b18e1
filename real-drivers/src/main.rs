//! `real-drivers`: build a Linux 7.2 kernel, boot it under QEMU with the real VFIO and
//! iommufd drivers, trace them, and judge the trace by the suite's cases.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use real_drivers::ftrace::parse_console;
use real_drivers::judge::{CaseVerdict, Verdict, judge_all, markdown};
use real_drivers::setup::{self, Paths};

#[derive(Parser)]
#[command(
    about = "Real VFIO and iommufd of Linux 7.2 under QEMU, traced by the kernel, judged by the suite"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch, build (cached), boot and judge: every step, with its time.
    Run {
        /// Cache and output folder.
        #[arg(long, default_value = "target/real-drivers")]
        dir: PathBuf,
        /// `make -j` for the kernel build.
        #[arg(long, default_value_t = 2)]
        jobs: u32,
        /// Give up on the guest after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Also fail when the verdicts differ from those of this recorded console (the book's
        /// table is checked against `real-drivers/tests/fixtures/console-7.2.13.log`).
        #[arg(long)]
        check_recorded: Option<PathBuf>,
    },
    /// Judge a console capture of an earlier boot (`target/real-drivers/out/console.log`).
    Judge {
        /// The console capture.
        console: PathBuf,
        /// Where to write the traces and verdicts.
        #[arg(long, default_value = "target/real-drivers/out")]
        out: PathBuf,
    },
}

fn write_results(verdicts: &[CaseVerdict], out: &std::path::Path) -> Result<(), String> {
    let traces = out.join("traces");
    fs::create_dir_all(&traces).map_err(|e| e.to_string())?;
    for v in verdicts {
        let name = v.case.replace(['[', ' '], "_").replace(']', "");
        let json = serde_json::to_string_pretty(&v.trace).map_err(|e| e.to_string())?;
        fs::write(traces.join(format!("{name}.json")), json + "\n").map_err(|e| e.to_string())?;
        let mut snap = v.snapshot.clone();
        snap.push_str("verdicts on the real drivers:\n");
        for c in &v.checks {
            let word = match &c.verdict {
                Verdict::Pass => "pass".to_string(),
                Verdict::Fail => "FAIL".to_string(),
                Verdict::NotObservable => "not observable".to_string(),
                Verdict::Divergence(why) => format!("divergence ({why})"),
            };
            snap.push_str(&format!("  {word} {}: {}\n", c.rule, c.describe));
        }
        for (step, calls) in v.unmapped.iter().enumerate() {
            for c in calls {
                snap.push_str(&format!("  (not in the trace format) step {step}: {c}\n"));
            }
        }
        fs::write(traces.join(format!("{name}.txt")), snap).map_err(|e| e.to_string())?;
    }
    fs::write(out.join("verdicts.md"), markdown(verdicts)).map_err(|e| e.to_string())?;
    fs::write(
        out.join("verdicts.json"),
        serde_json::to_string_pretty(verdicts).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| e.to_string())
}

fn report(verdicts: &[CaseVerdict]) -> bool {
    let mut failed = false;
    for v in verdicts {
        println!("{}", v.case);
        for c in &v.checks {
            let word = match c.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => {
                    failed = true;
                    "FAIL"
                }
                Verdict::NotObservable => "not observable",
                Verdict::Divergence(_) => "divergence",
            };
            println!("  {word} {}: {}", c.rule, c.describe);
            match (&c.verdict, &c.detail) {
                (Verdict::Fail, Some(d)) => println!("       {d}"),
                (Verdict::Divergence(why), _) => println!("       {why}"),
                _ => {}
            }
        }
    }
    !failed
}

/// (case, rule, verdict) of every check, for comparing two runs.
fn summary(verdicts: &[CaseVerdict]) -> Vec<String> {
    verdicts
        .iter()
        .flat_map(|v| {
            v.checks.iter().map(|c| {
                let word = match c.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Fail => "FAIL",
                    Verdict::NotObservable => "not observable",
                    Verdict::Divergence(_) => "divergence",
                };
                format!("{} {} {}: {word}", v.case, c.rule, c.describe)
            })
        })
        .collect()
}

/// Compares a run's verdicts with a recorded console's: every difference, or none.
fn compare_recorded(verdicts: &[CaseVerdict], recorded: &std::path::Path) -> Result<bool, String> {
    let text = fs::read_to_string(recorded)
        .map_err(|e| format!("cannot read {}: {e}", recorded.display()))?;
    let old = judge_all(&parse_console(&text))?;
    let (now, then) = (summary(verdicts), summary(&old));
    if now == then {
        println!("same verdicts as {}", recorded.display());
        return Ok(true);
    }
    println!("the verdicts differ from {}:", recorded.display());
    for l in then.iter().filter(|l| !now.contains(l)) {
        println!("  - {l}");
    }
    for l in now.iter().filter(|l| !then.contains(l)) {
        println!("  + {l}");
    }
    Ok(false)
}

fn judge_console(text: &str, out: &std::path::Path) -> Result<bool, String> {
    judge_console_with(text, out, None)
}

fn judge_console_with(
    text: &str,
    out: &std::path::Path,
    recorded: Option<&std::path::Path>,
) -> Result<bool, String> {
    let console = parse_console(text);
    if !console.complete {
        let panic = text
            .lines()
            .find(|l| l.contains("Kernel panic"))
            .map(|l| format!(" ({})", l.trim()))
            .unwrap_or_default();
        return Err(format!(
            "the console has no complete trace dump (the guest stopped early{panic}); see {}",
            out.join("console.log").display()
        ));
    }
    for l in &console.guest {
        if l.starts_with("FAILED") || l.contains("cannot place") {
            eprintln!("guest: {l}");
        }
    }
    let verdicts = judge_all(&console)?;
    write_results(&verdicts, out)?;
    let ok = report(&verdicts);
    println!("traces and verdicts: {}", out.display());
    let same = match recorded {
        Some(r) => compare_recorded(&verdicts, r)?,
        None => true,
    };
    Ok(ok && same)
}

fn run(
    dir: PathBuf,
    jobs: u32,
    timeout: u64,
    check_recorded: Option<PathBuf>,
) -> Result<bool, String> {
    let p = Paths::new(dir);
    let out = p.out();
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let setup_log = out.join("setup.log");
    let build_log = out.join("build.log");
    let _ = fs::remove_file(&build_log);
    setup::host_tools()?;
    let t = Instant::now();
    setup::fetch_source(&p, &setup_log)?;
    eprintln!(
        "real-drivers: source ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    match setup::build_kernel(&p, &build_log, jobs)? {
        Some(d) => eprintln!("real-drivers: kernel built in {:.0} s", d.as_secs_f64()),
        None => eprintln!("real-drivers: kernel cached ({})", p.bzimage().display()),
    }
    setup::build_initramfs(&p, &build_log)?;
    let console_log = out.join("console.log");
    let (text, took) = setup::boot(&p, &console_log, Duration::from_secs(timeout))?;
    eprintln!(
        "real-drivers: boot and scenario in {:.1} s",
        took.as_secs_f64()
    );
    judge_console_with(&text, &out, check_recorded.as_deref())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::Run {
            dir,
            jobs,
            timeout,
            check_recorded,
        } => run(dir, jobs, timeout, check_recorded),
        Cmd::Judge { console, out } => fs::read_to_string(&console)
            .map_err(|e| format!("cannot read {}: {e}", console.display()))
            .and_then(|t| {
                fs::create_dir_all(&out).map_err(|e| e.to_string())?;
                judge_console(&t, &out)
            }),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("real-drivers: error: {e}");
            ExitCode::from(2)
        }
    }
}
