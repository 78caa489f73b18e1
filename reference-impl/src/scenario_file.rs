//! The portable scenario file: steps (with the thread each runs on), an optional schedule
//! (where another thread's step ran inside a step), and the seed that generated it. Any
//! producer of traces runs it (`revoke-conformance replay FILE`); the explorer and the
//! generator write it; a case can be promoted from it.

use std::fmt;

use crate::Step;

/// The version of the file format this suite writes and reads.
pub const SCENARIO_FORMAT: u32 = 1;

/// The thread a step runs on. Steps without one run on [`Thread::main`]. Names are
/// lower-case letters, digits and `-`: `reset` (an exporter's reset path), `submit` (importer
/// submission), `unmap-worker`, `fence` (fence completion), `importer2`...
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Thread(String);

impl Thread {
    /// A thread named `name`, or why the name is not one.
    pub fn new(name: &str) -> Result<Thread, String> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Thread(name.to_string()))
        } else {
            Err(format!(
                "`{name}` is not a thread name: 1 to 32 lower-case letters, digits or `-`"
            ))
        }
    }

    /// The thread of steps that name none.
    pub fn main() -> Thread {
        Thread("main".to_string())
    }

    /// The kernel's worker thread, which runs the work items drivers queue (`queue_work()`)
    /// and has no steps of its own: a schedule runs the next stage of the oldest queued item
    /// where it names `kworker`.
    pub fn kworker() -> Thread {
        Thread("kworker".to_string())
    }

    /// Whether this is [`Thread::kworker`].
    pub fn is_kworker(&self) -> bool {
        self.0 == "kworker"
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Thread {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Thread::new(&s)
    }
}

impl From<Thread> for String {
    fn from(t: Thread) -> String {
        t.0
    }
}

impl fmt::Display for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One step of a scenario file: the step, and the thread it runs on.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct FileStep {
    /// The step (its `op` and arguments).
    #[serde(flatten)]
    pub step: Step,
    /// The thread it runs on; `main` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<Thread>,
}

impl FileStep {
    /// The thread the step runs on.
    pub fn thread(&self) -> Thread {
        self.thread.clone().unwrap_or_else(Thread::main)
    }
}

/// A kind of scheduling point: where the core lets another thread run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    /// Before the step starts: the other thread's step runs entirely before it.
    Start,
    /// Before `dma_resv_lock()` takes the lock.
    Lock,
    /// After `dma_resv_unlock()` dropped the lock.
    Unlock,
    /// After an attachment was linked into its buffer's list.
    Linked,
    /// Before a wait for fences (`dma_resv_wait_timeout()`).
    FenceWait,
    /// After a fence signalled.
    FenceSignal,
    /// Before an exporter waits for importers to unmap.
    UnmapWait,
    /// Before the core calls an importer's `invalidate_mappings`.
    CallbackEntry,
    /// After an importer's `invalidate_mappings` returned.
    CallbackExit,
}

impl fmt::Display for PointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PointKind::Start => "start",
            PointKind::Lock => "dma_resv_lock",
            PointKind::Unlock => "dma_resv_unlock",
            PointKind::Linked => "attachment linked",
            PointKind::FenceWait => "fence wait",
            PointKind::FenceSignal => "fence signalled",
            PointKind::UnmapWait => "unmap wait",
            PointKind::CallbackEntry => "invalidate_mappings entry",
            PointKind::CallbackExit => "invalidate_mappings exit",
        })
    }
}

/// One choice of a schedule: when step `step` reaches its `nth` scheduling point of kind
/// `point` (counted from 1), thread `run` runs its next step there, to completion, before
/// step `step` goes on. Every other point lets the running step go on; between steps, the
/// earliest step of the file not yet run comes next.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct Preemption {
    /// The step being interrupted (its position in the file, from 0).
    pub step: usize,
    /// The kind of scheduling point.
    pub point: PointKind,
    /// Which point of that kind in that step, from 1 (`start` has only 1).
    #[serde(default = "one")]
    pub nth: u32,
    /// The thread whose next step runs there.
    pub run: Thread,
}

fn one() -> u32 {
    1
}

impl fmt::Display for Preemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.point == PointKind::Start {
            write!(
                f,
                "thread {} runs before step {} starts",
                self.run, self.step
            )
        } else {
            write!(
                f,
                "thread {} runs inside step {} at its {} {}",
                self.run,
                self.step,
                ordinal(self.nth),
                self.point
            )
        }
    }
}

fn ordinal(n: u32) -> String {
    match n {
        1 => "first".into(),
        2 => "second".into(),
        3 => "third".into(),
        n => format!("{n}th"),
    }
}

/// A portable scenario: what `replay` runs and `explore` writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The file format's version ([`SCENARIO_FORMAT`]).
    pub format: u32,
    /// What the scenario shows, in one line (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The case (`name` or `name[variant]`) it was written from, whose checks then apply too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// The seed of the generator that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The steps, in the order a sequential run takes them.
    pub steps: Vec<FileStep>,
    /// Where other threads' steps ran inside a step; empty: in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<Preemption>,
}

impl ScenarioFile {
    /// A sequential scenario of `steps`, all on the main thread.
    pub fn sequential(steps: &[Step]) -> ScenarioFile {
        ScenarioFile {
            format: SCENARIO_FORMAT,
            title: None,
            case: None,
            seed: None,
            steps: steps
                .iter()
                .map(|s| FileStep {
                    step: s.clone(),
                    thread: None,
                })
                .collect(),
            schedule: Vec::new(),
        }
    }

    /// Reads a file's text, checking its version and its schedule.
    pub fn from_json(text: &str) -> Result<ScenarioFile, String> {
        let file: ScenarioFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.format != SCENARIO_FORMAT {
            return Err(format!(
                "scenario format {} is not the one this suite reads ({SCENARIO_FORMAT})",
                file.format
            ));
        }
        file.validate()?;
        Ok(file)
    }

    /// The file as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a scenario file serialises") + "\n"
    }

    /// The plain steps.
    pub fn plain_steps(&self) -> Vec<Step> {
        self.steps.iter().map(|s| s.step.clone()).collect()
    }

    /// The thread of every step.
    pub fn threads(&self) -> Vec<Thread> {
        self.steps.iter().map(FileStep::thread).collect()
    }

    /// Whether any step runs on a thread other than `main`.
    pub fn is_concurrent(&self) -> bool {
        self.steps.iter().any(|s| s.thread() != Thread::main())
    }

    /// Checks that every preemption names a step of the file and a thread that has steps
    /// (or the kernel's worker, [`Thread::kworker`], which has none), and that no step runs
    /// on the kernel's worker.
    pub fn validate(&self) -> Result<(), String> {
        let threads = self.threads();
        if let Some(i) = threads.iter().position(Thread::is_kworker) {
            return Err(format!(
                "step {i} runs on thread `kworker`, the kernel's worker: it runs the work \
                 items drivers queue, not steps"
            ));
        }
        for p in &self.schedule {
            if p.step >= self.steps.len() {
                return Err(format!(
                    "schedule: step {} does not exist (the file has {} steps)",
                    p.step,
                    self.steps.len()
                ));
            }
            if !threads.contains(&p.run) && !p.run.is_kworker() {
                return Err(format!("schedule: no step runs on thread `{}`", p.run));
            }
            if p.nth == 0 {
                return Err("schedule: points are counted from 1".to_string());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file round-trips through JSON; a step without a thread is on `main`.
    #[test]
    fn a_file_reads_back_what_it_wrote() {
        let text = r#"{"format": 1, "steps": [
            {"op": "export", "buf": 0, "exporter": "vfio"},
            {"op": "revoke", "buf": 0, "thread": "reset"}],
            "schedule": [{"step": 0, "point": "unlock", "run": "reset"}]}"#;
        let f = ScenarioFile::from_json(text).expect("a scenario file");
        assert_eq!(f.threads(), [Thread::main(), Thread::new("reset").unwrap()]);
        assert_eq!(f.schedule[0].nth, 1);
        assert!(f.is_concurrent());
        assert_eq!(ScenarioFile::from_json(&f.to_json()), Ok(f));
    }

    /// Bad files get an error that says what is wrong.
    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let err = |text: &str| ScenarioFile::from_json(text).expect_err("refused");
        assert!(err(r#"{"format": 2, "steps": []}"#).contains("format 2"));
        assert!(
            err(r#"{"format": 1, "steps": [{"op": "revoke", "buf": 0, "thread": "Reset"}]}"#)
                .contains("not a thread name")
        );
        assert!(err(r#"{"format": 1, "steps": [], "schedule": [{"step": 0, "point": "lock", "run": "x"}]}"#)
            .contains("step 0 does not exist"));
        assert!(err(r#"{"format": 1, "steps": [{"op": "complete"}], "schedule": [{"step": 0, "point": "lock", "run": "x"}]}"#)
            .contains("no step runs on thread `x`"));
        assert!(
            err(r#"{"format": 1, "steps": [{"op": "complete", "thread": "kworker"}]}"#)
                .contains("the kernel's worker")
        );
        assert!(ScenarioFile::from_json(r#"{"format": 1, "steps": [{"op": "complete"}], "schedule": [{"step": 0, "point": "lock", "run": "kworker"}]}"#).is_ok());
        assert!(err(r#"{"format": 1, "stepz": []}"#).contains("unknown field"));
    }
}
