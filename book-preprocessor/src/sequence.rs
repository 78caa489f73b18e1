//! Sequence diagrams of the cases, drawn from their blessed snapshots.
//!
//! After every `rust,case` block, [`diagrams`] writes one collapsible
//! `<details class="sequence">` per case variant, holding a mermaid `sequenceDiagram` of the
//! variant's blessed trace and the list of its check results. The only input is the snapshot
//! file `conformance/tests/snapshots/NAME.snap` (or `NAME__VARIANT.snap`): the diagrams show
//! exactly what was blessed, never a trace computed anew. A case without a snapshot gets a
//! visible "no blessed trace yet" note instead.
//!
//! The conversion is a pure function of the snapshot's text: [`Snapshot::parse`] reads its
//! `trace:` and `checks:` sections, [`mermaid`] turns the trace into diagram source and
//! [`checks_html`] lists the checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use spec_chapters::CaseInfo;
pub use spec_chapters::mermaid::mermaid_text;

use crate::Page;
use crate::markdown::escape;

/// The folder of the blessed snapshots, relative to the workspace root.
pub const SNAPSHOT_DIR: &str = "conformance/tests/snapshots";

/// A trace with more calls than this numbers its arrows with the trace's own `#N`, so a long
/// diagram can be followed and read against the snapshot. (Mermaid's `autonumber` cannot
/// start at 0, where the trace starts.)
pub const NUMBER_ABOVE: usize = 40;

/// A message label is wrapped onto lines of about this many characters.
const WRAP: usize = 30;

/// The diagram's configuration (mermaid front matter): smaller text and actor boxes than
/// mermaid's defaults, so that a diagram of six actors still fits the page legibly.
const CONFIG: &str = "\
---
config:
  sequence:
    messageFontSize: 13
    noteFontSize: 13
    actorFontSize: 13
    width: 110
    actorMargin: 24
    boxMargin: 6
    messageMargin: 30
---
";
/// A message label longer than this many characters is shortened in the middle of its
/// arguments (no label of the current traces is anywhere near it).
const MAX_LABEL: usize = 160;

/// Where the blessed snapshots are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshots {
    /// A folder holding `NAME.snap` and `NAME__VARIANT.snap` files.
    Dir(PathBuf),
    /// Snapshot texts by file stem (`NAME` or `NAME__VARIANT`), for tests.
    Memory(BTreeMap<String, String>),
}

impl Snapshots {
    /// The text of the blessed snapshot `STEM.snap`, if there is one. Pending snapshots
    /// (`.snap.new`) are never read.
    pub fn read(&self, stem: &str) -> Option<String> {
        match self {
            Snapshots::Dir(dir) => std::fs::read_to_string(dir.join(format!("{stem}.snap"))).ok(),
            Snapshots::Memory(files) => files.get(stem).cloned(),
        }
    }
}

/// The file stem of a variant's snapshot: `NAME`, or `NAME__VARIANT` for a variant of a
/// parameterized case (as the conformance tests name them).
pub fn snapshot_stem(case: &str, variant: &str) -> String {
    if variant.is_empty() {
        case.to_string()
    } else {
        format!("{case}__{variant}")
    }
}

/// The name of a variant as the book shows it: `NAME` or `NAME[VARIANT]`.
pub fn display_name(case: &str, variant: &str) -> String {
    if variant.is_empty() {
        case.to_string()
    } else {
        format!("{case}[{variant}]")
    }
}

/// The `trace:` and `checks:` sections of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Whether the snapshot has a `trace:` section at all.
    pub has_trace: bool,
    /// The trace's lines in order.
    pub trace: Vec<TraceLine>,
    /// The check results in order.
    pub checks: Vec<CheckLine>,
}

/// One line of a snapshot's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLine {
    /// `step N: title`.
    Step {
        /// The step's index.
        index: usize,
        /// The step's title.
        title: String,
    },
    /// `#N  from -> to: call [locked] = ret`.
    Call(TraceCall),
    /// A step in which no call crosses a role boundary.
    Quiet,
    /// `scenario stopped: ...`: the text after the colon.
    Stopped(String),
    /// `(not run: ...)`: the scenario could not be run; the reason.
    NotRun(String),
}

/// One call of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceCall {
    /// The `#N` of the call.
    pub index: usize,
    /// The caller (`core`, `exporter.buf0`, ...).
    pub from: String,
    /// The callee.
    pub to: String,
    /// The call as the trace spells it (`ops.map_dma_buf(att0)`).
    pub call: String,
    /// Whether the reservation lock was held (`[locked]`).
    pub locked: bool,
    /// What the call returned, if the trace shows a value (`sgt1`, `HANG (never returns)`).
    pub ret: Option<String>,
}

impl TraceCall {
    /// True if the call never returns.
    pub fn hangs(&self) -> bool {
        self.ret.as_deref().is_some_and(|r| r.starts_with("HANG"))
    }
}

/// One check result of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// `pass` (true) or `FAIL` (false).
    pub passed: bool,
    /// The rule the check belongs to.
    pub rule: String,
    /// What was checked.
    pub describe: String,
    /// The failure's explanation (the indented lines under a `FAIL`, one a line), else
    /// empty.
    pub detail: String,
}

impl Snapshot {
    /// Reads the `trace:` and `checks:` sections of a snapshot file's text (its insta header
    /// and other sections are skipped). Lines it does not recognise are ignored.
    pub fn parse(text: &str) -> Snapshot {
        #[derive(PartialEq)]
        enum Section {
            Other,
            Trace,
            Checks,
        }
        let mut out = Snapshot::default();
        let mut section = Section::Other;
        let mut lines = text.lines().peekable();
        // The insta header: `---`, metadata, `---`.
        if lines.peek().is_some_and(|l| l.trim_end() == "---") {
            lines.next();
            for line in lines.by_ref() {
                if line.trim_end() == "---" {
                    break;
                }
            }
        }
        for line in lines {
            let line = line.trim_end();
            if !line.starts_with([' ', '#']) && !line.is_empty() {
                // A top-level key, or a top-level line of the trace.
                match line {
                    "trace:" => {
                        out.has_trace = true;
                        section = Section::Trace;
                        continue;
                    }
                    "checks:" => {
                        section = Section::Checks;
                        continue;
                    }
                    _ if section == Section::Trace => {}
                    _ => {
                        section = Section::Other;
                        continue;
                    }
                }
            }
            match section {
                Section::Trace => out.trace.extend(parse_trace_line(line)),
                Section::Checks => out.parse_check_line(line),
                Section::Other => {}
            }
        }
        out
    }

    fn parse_check_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("  ") else {
            return;
        };
        let (passed, rest) = match (rest.strip_prefix("pass "), rest.strip_prefix("FAIL ")) {
            (Some(rest), _) => (true, rest),
            (_, Some(rest)) => (false, rest),
            _ => {
                // An indented continuation: the explanation of the last failure.
                if let Some(last) = self.checks.last_mut()
                    && !rest.trim().is_empty()
                {
                    if !last.detail.is_empty() {
                        last.detail.push('\n');
                    }
                    last.detail.push_str(rest.trim());
                }
                return;
            }
        };
        let (rule, describe) = rest.split_once(": ").unwrap_or((rest, ""));
        self.checks.push(CheckLine {
            passed,
            rule: rule.to_string(),
            describe: describe.to_string(),
            detail: String::new(),
        });
    }

    /// The calls of the trace, in order.
    pub fn calls(&self) -> impl Iterator<Item = &TraceCall> {
        self.trace.iter().filter_map(|l| match l {
            TraceLine::Call(c) => Some(c),
            _ => None,
        })
    }
}

fn parse_trace_line(line: &str) -> Option<TraceLine> {
    if let Some(rest) = line.strip_prefix("step ") {
        let (index, title) = rest.split_once(": ")?;
        return Some(TraceLine::Step {
            index: index.parse().ok()?,
            title: title.to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("scenario stopped: ") {
        return Some(TraceLine::Stopped(rest.to_string()));
    }
    if let Some(rest) = line.strip_prefix('#') {
        return parse_call(rest).map(TraceLine::Call);
    }
    let trimmed = line.trim();
    if trimmed == "(no call crosses a role boundary)" {
        return Some(TraceLine::Quiet);
    }
    if let Some(reason) = trimmed
        .strip_prefix("(not run: ")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some(TraceLine::NotRun(reason.to_string()));
    }
    None
}

/// `12     core -> exporter.buf0: ops.map_dma_buf(att0) [locked] = sgt1` (after the `#`).
fn parse_call(rest: &str) -> Option<TraceCall> {
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let index = rest[..digits].parse().ok()?;
    let rest = rest[digits..].trim_start();
    let (from, rest) = rest.split_once(" -> ")?;
    let (to, rest) = rest.split_once(": ")?;
    if from.contains(char::is_whitespace) || to.contains(char::is_whitespace) {
        return None;
    }
    // `[locked]` sits between the call and ` = ret`; a call's own text never holds it.
    let (call, locked, ret) = match rest.rfind(" [locked]") {
        Some(i) if rest[i + 9..].is_empty() || rest[i + 9..].starts_with(" = ") => {
            let ret = rest[i + 9..].strip_prefix(" = ");
            (&rest[..i], true, ret)
        }
        _ => match rest.rfind(" = ") {
            Some(i) => (&rest[..i], false, Some(&rest[i + 3..])),
            None => (rest, false, None),
        },
    };
    Some(TraceCall {
        index,
        from: from.to_string(),
        to: to.to_string(),
        call: call.to_string(),
        locked,
        ret: ret.map(str::to_string),
    })
}

/// A participant of the diagram: a trace actor with a mermaid ID and a readable alias.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Participant {
    actor: String,
    id: String,
    alias: String,
}

/// The actors of the trace in order of first appearance, with their mermaid IDs and aliases.
/// The driver kind a step title gives an actor (`step 0: exporter.buf0 (Vfio): export`) is
/// added to its alias.
fn participants(snapshot: &Snapshot) -> Vec<Participant> {
    let mut kinds: BTreeMap<&str, &str> = BTreeMap::new();
    for line in &snapshot.trace {
        if let TraceLine::Step { title, .. } = line
            && let Some((actor, rest)) = title.split_once(" (")
            && let Some((kind, _)) = rest.split_once("):")
            && !actor.contains(' ')
        {
            kinds.entry(actor).or_insert(kind);
        }
    }
    let mut out: Vec<Participant> = Vec::new();
    for call in snapshot.calls() {
        for actor in [&call.from, &call.to] {
            if out.iter().any(|p| &p.actor == actor) {
                continue;
            }
            let mut id: String = actor
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
                id.insert(0, 'p');
            }
            while out.iter().any(|p| p.id == id) {
                id.push('_');
            }
            let mut alias = mermaid_text(&actor.replacen('.', " ", 1));
            if let Some(kind) = kinds.get(actor.as_str()) {
                alias.push_str("<br/>");
                alias.push_str(&mermaid_text(kind));
            }
            out.push(Participant {
                actor: actor.clone(),
                id,
                alias,
            });
        }
    }
    out
}

/// A label shortened to `max` characters by cutting the middle of its first argument list
/// (`f(a, b, …) -> x = 0` keeps the function's name, what follows the arguments and the
/// return value), or its end if it has none.
pub fn shorten(label: &str, max: usize) -> String {
    let len = label.chars().count();
    if len <= max {
        return label.to_string();
    }
    let excess = len - max + 1; // One more for the ellipsis.
    if let (Some(open), Some(close)) = (label.find('('), closing_paren(label)) {
        let args = &label[open + 1..close];
        let keep = args.chars().count().saturating_sub(excess);
        if keep > 0 {
            let kept: String = args.chars().take(keep).collect();
            return format!("{}{kept}…{}", &label[..=open], &label[close..]);
        }
    }
    let kept: String = label.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The byte index of the `)` matching the first `(` of `text`.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `label` escaped for mermaid and wrapped onto lines of about `width` characters
/// (joined with `<br/>`), breaking after `, ` and before ` = `, ` -> ` and ` (locked)`; a
/// piece longer than `width` gets a line of its own.
fn wrap(label: &str, width: usize) -> String {
    // Split into pieces that may not be broken.
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut rest = label;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(", ") {
            current.push(',');
            pieces.push(std::mem::take(&mut current));
            rest = after;
            continue;
        }
        if let Some(sep) = [" = ", " -> ", " (locked)"]
            .into_iter()
            .find(|s| rest.starts_with(s))
        {
            pieces.push(std::mem::take(&mut current));
            current.push_str(sep.trim_start());
            rest = &rest[sep.len()..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    pieces.push(current);
    // Fill lines greedily, pieces joined by a space.
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
        if line.is_empty() {
            line = piece;
        } else if line.chars().count() + 1 + piece.chars().count() <= width {
            line.push(' ');
            line.push_str(&piece);
        } else {
            lines.push(std::mem::replace(&mut line, piece));
        }
    }
    lines.push(line);
    lines
        .iter()
        .map(|l| mermaid_text(l))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// The message of a call: `call (locked) = ret`, shortened and wrapped, after `#N` if
/// `numbered`; `(locked)` only where the lock is not `shaded` already. A hanging call's return
/// value is the single word `HANG` (a note explains it).
fn message(call: &TraceCall, numbered: bool, shaded: bool) -> String {
    let mut label = call.call.clone();
    if call.locked && !shaded {
        label.push_str(" (locked)");
    }
    match &call.ret {
        Some(_) if call.hangs() => label.push_str(" = HANG"),
        Some(ret) => {
            label.push_str(" = ");
            label.push_str(ret);
        }
        None => {}
    }
    let label = shorten(&label, MAX_LABEL);
    if numbered {
        format!("#35;{} {}", call.index, wrap(&label, WRAP))
    } else {
        wrap(&label, WRAP)
    }
}

/// The background of a step: steps alternate between two light tints.
const STEP_FILL: [&str; 2] = ["rgba(127, 127, 127, 0.10)", "rgba(127, 127, 127, 0.03)"];
/// The background of a hanging call and of the scenario's stop.
const HANG_FILL: &str = "rgba(220, 38, 38, 0.18)";
/// The background of the calls made while the reservation lock is held, from
/// `dma_resv_lock()` to `dma_resv_unlock()`.
pub const LOCK_FILL: &str = "rgba(230, 140, 0, 0.16)";

/// The key to a case's sequence diagram, under it.
pub const LEGEND: &str = r#"<p class="sequence-legend">Grey bands: the scenario's steps. Orange: the reservation lock held. Red: a call that never returns.</p>"#;

/// The function a call names: `dma_resv_lock` of `dma_resv_lock(buf0.resv)`.
fn function(call: &TraceCall) -> &str {
    call.call.split('(').next().unwrap_or(&call.call)
}

/// The mermaid source of a snapshot's trace, or `None` if the trace has no call to draw.
///
/// Participants are the actors in order of first appearance; each step is a shaded `rect`
/// headed by a note across the whole diagram, each call an arrow `from->>to: call = ret`.
/// The calls from a `dma_resv_lock()` to its `dma_resv_unlock()` sit in an orange `rect`
/// ([`LOCK_FILL`]); a call made with the lock held outside it (taken out of sight) says
/// `(locked)`. An exporter's `wait_for_unmap` (its own wait, not a core function) is drawn on
/// the exporter's own line. A call that never returns is a crossed arrow `-x` on a red
/// background with a `HANG` note, and `scenario stopped` closes the diagram in red. Traces of
/// more than [`NUMBER_ABOVE`] calls number their arrows `#N`.
pub fn mermaid(snapshot: &Snapshot) -> Option<String> {
    let participants = participants(snapshot);
    let first = participants.first()?;
    let last = participants.last().unwrap_or(first);
    let across = if first.id == last.id {
        first.id.clone()
    } else {
        format!("{},{}", first.id, last.id)
    };
    let id_of = |actor: &str| {
        participants
            .iter()
            .find(|p| p.actor == actor)
            .map_or("", |p| p.id.as_str())
    };
    let numbered = snapshot.calls().count() > NUMBER_ABOVE;
    let mut out = String::from(CONFIG);
    out.push_str("sequenceDiagram\n");
    for p in &participants {
        let _ = writeln!(out, "    participant {} as {}", p.id, p.alias);
    }
    let mut in_step = false;
    let mut steps = 0usize;
    // Whether the lock's `rect` is open, and whether a step ended with it held.
    let (mut shaded, mut carried) = (false, false);
    for line in &snapshot.trace {
        match line {
            TraceLine::Step { index, title } => {
                if shaded {
                    out.push_str("    end\n");
                    (shaded, carried) = (false, true);
                }
                if in_step {
                    out.push_str("    end\n");
                }
                let _ = writeln!(out, "    rect {}", STEP_FILL[steps % 2]);
                let _ = writeln!(
                    out,
                    "    Note over {across}: {}",
                    mermaid_text(&format!("step {index}: {title}"))
                );
                if carried {
                    let _ = writeln!(out, "    rect {LOCK_FILL}");
                    (shaded, carried) = (true, false);
                }
                in_step = true;
                steps += 1;
            }
            TraceLine::Call(call) => {
                let from = id_of(&call.from);
                let to = if function(call) == "wait_for_unmap" && call.from.starts_with("exporter")
                {
                    from
                } else {
                    id_of(&call.to)
                };
                let locks = function(call) == "dma_resv_lock" && !call.hangs() && !shaded;
                let unlocks = function(call) == "dma_resv_unlock" && shaded;
                if locks {
                    let _ = writeln!(out, "    rect {LOCK_FILL}");
                    shaded = true;
                }
                if call.hangs() {
                    let pair = if from == to {
                        from.to_string()
                    } else {
                        format!("{from},{to}")
                    };
                    let _ = writeln!(out, "    rect {HANG_FILL}");
                    let _ = writeln!(out, "    {from}-x{to}: {}", message(call, numbered, shaded));
                    let _ = writeln!(out, "    Note over {pair}: HANG: the call never returns");
                    out.push_str("    end\n");
                } else {
                    let _ = writeln!(
                        out,
                        "    {from}->>{to}: {}",
                        message(call, numbered, shaded)
                    );
                }
                if unlocks {
                    out.push_str("    end\n");
                    shaded = false;
                }
            }
            TraceLine::Quiet => {
                let _ = writeln!(
                    out,
                    "    Note over {across}: no call crosses a role boundary"
                );
            }
            TraceLine::Stopped(reason) => {
                if shaded {
                    out.push_str("    end\n");
                    shaded = false;
                }
                if in_step {
                    out.push_str("    end\n");
                    in_step = false;
                }
                let _ = writeln!(out, "    rect {HANG_FILL}");
                let _ = writeln!(
                    out,
                    "    Note over {across}: {}",
                    mermaid_text(&format!("scenario stopped: {reason}"))
                );
                out.push_str("    end\n");
            }
            TraceLine::NotRun(reason) => {
                let _ = writeln!(
                    out,
                    "    Note over {across}: {}",
                    mermaid_text(&format!("not run: {reason}"))
                );
            }
        }
    }
    if shaded {
        out.push_str("    end\n");
    }
    if in_step {
        out.push_str("    end\n");
    }
    Some(out)
}

/// The mermaid source of a snapshot file's text (see [`mermaid`]).
pub fn to_mermaid(snapshot_text: &str) -> Option<String> {
    mermaid(&Snapshot::parse(snapshot_text))
}

/// The check results as a list: `pass`/`FAIL`, the rule (linked to its anchor) and what was
/// checked, with a failure's explanation below it.
pub fn checks_html(page: &Page<'_>, snapshot: &Snapshot) -> String {
    if snapshot.checks.is_empty() {
        return r#"<p class="sequence-checks-empty">The snapshot records no check.</p>"#
            .to_string();
    }
    let mut out = String::from(r#"<ul class="sequence-checks">"#);
    for check in &snapshot.checks {
        let (class, word) = if check.passed {
            ("check-pass", "pass")
        } else {
            ("check-fail", "FAIL")
        };
        let _ = write!(
            out,
            r#"<li class="{class}"><span class="check-result">{word}</span> <a class="rule-ref" href="{}">{}</a>: {}"#,
            page.rule_href(&check.rule),
            escape(&check.rule),
            code_spans(&check.describe),
        );
        if !check.detail.is_empty() {
            let detail: Vec<String> = check.detail.lines().map(escape).collect();
            let _ = write!(
                out,
                r#"<div class="check-detail">{}</div>"#,
                detail.join("<br>")
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

/// Escaped text with its `` `code` `` spans as `<code>` (an unpaired backtick stays).
fn code_spans(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if i % 2 == 1 && !last {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// The HTML id of a variant's diagram: `seq-NAME` or `seq-NAME-VARIANT`.
pub fn diagram_id(case: &str, variant: &str) -> String {
    if variant.is_empty() {
        format!("seq-{}", escape(case))
    } else {
        format!("seq-{}-{}", escape(case), escape(variant))
    }
}

/// The lines inserted after a case block: for each variant of each case, a collapsed
/// `<details>` with the diagram of its blessed snapshot and its checks, or a visible note if
/// it has no snapshot yet. Empty if the page has no snapshots configured.
pub fn diagrams(page: &Page<'_>, cases: &[&CaseInfo], indent: &str) -> Vec<String> {
    let Some(snapshots) = page.snapshots else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for case in cases {
        for (variant, _) in case.variants() {
            let name = display_name(&case.name, &variant);
            let stem = snapshot_stem(&case.name, &variant);
            let id = diagram_id(&case.name, &variant);
            lines.push(String::new());
            let Some(text) = snapshots.read(&stem) else {
                lines.push(format!(
                    r#"{indent}<div class="sequence-missing" id="{id}">Sequence diagram: <code>{}</code>: no blessed trace yet (<code>{SNAPSHOT_DIR}/{}.snap</code> does not exist).</div>"#,
                    escape(&name),
                    escape(&stem),
                ));
                continue;
            };
            let snapshot = Snapshot::parse(&text);
            let calls = snapshot.calls().count();
            let hang = snapshot.calls().any(TraceCall::hangs);
            let failed = snapshot.checks.iter().filter(|c| !c.passed).count();
            let mut meta = vec![format!("{calls} call{}", if calls == 1 { "" } else { "s" })];
            if hang {
                meta.push("stops: a call never returns".to_string());
            }
            meta.push(if failed > 0 {
                format!("{failed} of {} checks FAIL", snapshot.checks.len())
            } else {
                format!(
                    "{} check{} pass",
                    snapshot.checks.len(),
                    if snapshot.checks.len() == 1 { "" } else { "s" }
                )
            });
            lines.push(format!(
                r#"{indent}<details class="sequence" id="{id}"><summary>Sequence diagram: <code>{}</code> <span class="sequence-meta">{}</span></summary>"#,
                escape(&name),
                escape(&meta.join(" · ")),
            ));
            lines.push(String::new());
            match mermaid(&snapshot) {
                Some(diagram) => {
                    lines.push(format!("{indent}```mermaid"));
                    lines.extend(diagram.lines().map(|l| format!("{indent}{l}")));
                    lines.push(format!("{indent}```"));
                    lines.push(String::new());
                    lines.push(format!("{indent}{LEGEND}"));
                }
                None => lines.push(format!(
                    r#"{indent}<p class="sequence-missing">{}</p>"#,
                    if snapshot.has_trace {
                        "The blessed trace has no call to draw."
                    } else {
                        "The blessed snapshot has no <code>trace:</code> section."
                    }
                )),
            }
            lines.push(String::new());
            lines.push(format!("{indent}{}", checks_html(page, &snapshot)));
            lines.push(String::new());
            lines.push(format!("{indent}</details>"));
        }
    }
    if !lines.is_empty() {
        // What follows the block starts a new Markdown block.
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUCK: &str = r#"---
source: conformance/tests/cases.rs
description: "A stuck fence. (revocation.md)"
---
case: stuck
title: A stuck fence.
chapter: revocation.md
rules:
  revoke.exporter.unbounded-wait MUST #562434a4
steps:
  0: exporter.buf0 (Vfio): export
  1: importer.att0 (Iommufd): attach to buf0
  2: exporter.buf0: revoke
  3: exporter.buf0: reclaim memory
trace:
step 0: exporter.buf0 (Vfio): export
#0    exporter.buf0 -> core: dma_buf_export(buf0) = 0
step 1: importer.att0 (Iommufd): attach to buf0
#1    importer.att0 -> core: dma_buf_dynamic_attach(buf0, { allow_peer2peer: true, invalidate_mappings: set }) -> att0 = 0
#2      core -> exporter.buf0: ops.attach(att0) = 0
#3      core -> core: dma_resv_unlock(buf0.resv) [locked]
step 2: exporter.buf0: revoke
#4    exporter.buf0 -> core: dma_buf_invalidate_mappings(buf0) [locked]
#5      core -> importer.att0: importer_ops.invalidate_mappings(att0) [locked]
#6    exporter.buf0 -> core: dma_resv_wait_timeout(buf0.resv, BOOKKEEP, intr=false, MAX_SCHEDULE_TIMEOUT) [locked] = HANG (never returns)
scenario stopped: a call in step 2 never returns; later steps did not run
checks:
  pass revoke.exporter.unbounded-wait: step 2: an unbounded `dma_resv_wait_timeout` never returns
  FAIL revoke.exporter.unbounded-wait: no device access finds <RECLAIMED>
       expected no access, found one
       at #9
"#;

    #[test]
    fn parses_trace_and_checks() {
        let s = Snapshot::parse(STUCK);
        assert!(s.has_trace);
        assert_eq!(s.calls().count(), 7);
        assert_eq!(
            s.trace[0],
            TraceLine::Step {
                index: 0,
                title: "exporter.buf0 (Vfio): export".into()
            }
        );
        let hang = s.calls().last().unwrap();
        assert_eq!(hang.index, 6);
        assert!(hang.locked && hang.hangs());
        assert_eq!(
            hang.call,
            "dma_resv_wait_timeout(buf0.resv, BOOKKEEP, intr=false, MAX_SCHEDULE_TIMEOUT)"
        );
        let unlock = s.calls().nth(3).unwrap();
        assert_eq!(
            (
                unlock.from.as_str(),
                unlock.to.as_str(),
                unlock.locked,
                &unlock.ret
            ),
            ("core", "core", true, &None)
        );
        let attach = s.calls().nth(1).unwrap();
        assert_eq!(
            attach.call,
            "dma_buf_dynamic_attach(buf0, { allow_peer2peer: true, invalidate_mappings: set }) -> att0"
        );
        assert_eq!((attach.locked, attach.ret.as_deref()), (false, Some("0")));
        assert_eq!(
            s.trace.last(),
            Some(&TraceLine::Stopped(
                "a call in step 2 never returns; later steps did not run".into()
            ))
        );
        assert_eq!(s.checks.len(), 2);
        assert!(s.checks[0].passed);
        assert_eq!(s.checks[0].rule, "revoke.exporter.unbounded-wait");
        assert!(!s.checks[1].passed);
        assert_eq!(s.checks[1].detail, "expected no access, found one\nat #9");
    }

    #[test]
    fn diagram_of_a_hanging_trace() {
        let expected = "\
sequenceDiagram
    participant exporter_buf0 as exporter buf0<br/>Vfio
    participant core as core
    participant importer_att0 as importer att0<br/>Iommufd
    rect rgba(127, 127, 127, 0.10)
    Note over exporter_buf0,importer_att0: step 0: exporter.buf0 (Vfio): export
    exporter_buf0->>core: dma_buf_export(buf0) = 0
    end
    rect rgba(127, 127, 127, 0.03)
    Note over exporter_buf0,importer_att0: step 1: importer.att0 (Iommufd): attach to buf0
    importer_att0->>core: dma_buf_dynamic_attach(buf0,<br/>#123; allow_peer2peer: true,<br/>invalidate_mappings: set #125;)<br/>-#62; att0 = 0
    core->>exporter_buf0: ops.attach(att0) = 0
    core->>core: dma_resv_unlock(buf0.resv)<br/>(locked)
    end
    rect rgba(127, 127, 127, 0.10)
    Note over exporter_buf0,importer_att0: step 2: exporter.buf0: revoke
    exporter_buf0->>core: dma_buf_invalidate_mappings(buf0)<br/>(locked)
    core->>importer_att0: importer_ops.invalidate_mappings(att0)<br/>(locked)
    rect rgba(220, 38, 38, 0.18)
    exporter_buf0-xcore: dma_resv_wait_timeout(buf0.resv,<br/>BOOKKEEP, intr=false,<br/>MAX_SCHEDULE_TIMEOUT) (locked)<br/>= HANG
    Note over exporter_buf0,core: HANG: the call never returns
    end
    end
    rect rgba(220, 38, 38, 0.18)
    Note over exporter_buf0,importer_att0: scenario stopped: a call in step 2 never returns#59; later steps did not run
    end
";
        let out = to_mermaid(STUCK).unwrap();
        assert_eq!(out.strip_prefix(CONFIG), Some(expected), "{out}");
    }

    #[test]
    fn the_lock_held_is_shaded_and_wait_for_unmap_is_the_exporters_own() {
        let snapshot = "\
trace:
step 0: exporter.buf0: revoke
#0    exporter.buf0 -> core: dma_resv_lock(buf0.resv)
#1    exporter.buf0 -> core: dma_buf_invalidate_mappings(buf0) [locked]
step 1: exporter.buf0: finish
#2    exporter.buf0 -> core: dma_resv_unlock(buf0.resv) [locked]
#3    exporter.buf0 -> core: wait_for_unmap(buf0)
checks:
";
        let out = to_mermaid(snapshot).unwrap();
        let body = out.split_once("sequenceDiagram\n").unwrap().1;
        assert_eq!(
            body,
            "    participant exporter_buf0 as exporter buf0
    participant core as core
    rect rgba(127, 127, 127, 0.10)
    Note over exporter_buf0,core: step 0: exporter.buf0: revoke
    rect rgba(230, 140, 0, 0.16)
    exporter_buf0->>core: dma_resv_lock(buf0.resv)
    exporter_buf0->>core: dma_buf_invalidate_mappings(buf0)
    end
    end
    rect rgba(127, 127, 127, 0.03)
    Note over exporter_buf0,core: step 1: exporter.buf0: finish
    rect rgba(230, 140, 0, 0.16)
    exporter_buf0->>core: dma_resv_unlock(buf0.resv)
    end
    exporter_buf0->>exporter_buf0: wait_for_unmap(buf0)
    end
"
        );
    }

    #[test]
    fn escaping_covers_mermaid_syntax() {
        assert_eq!(
            mermaid_text(r#"a;b#c{d}<e>"f'g`h"#),
            "a#59;b#35;c#123;d#125;#60;e#62;#34;f#39;g#96;h"
        );
        assert_eq!(mermaid_text("two\nlines"), "two lines");
        // An event whose text is full of syntax still yields one arrow line.
        let text =
            "trace:\nstep 0: harness: go\n#0  harness -> core: WARN: x; y # {z} <w> \"q\" = 1\n";
        let out = to_mermaid(text).unwrap();
        let arrow = out.lines().find(|l| l.contains("->>")).unwrap();
        assert_eq!(
            arrow,
            "    harness->>core: WARN: x#59; y #35; #123;z#125; #60;w#62; #34;q#34; = 1"
        );
        // Outside entity codes and line breaks, no message or note holds a syntax character.
        for line in out.lines() {
            let body = line.split_once(": ").map_or("", |(_, b)| b);
            let mut bare = body.replace("<br/>", " ");
            while let Some(i) = bare.find('#') {
                let end = bare[i..].find(';').map_or(bare.len(), |e| i + e + 1);
                assert!(
                    bare[i + 1..end - 1].chars().all(|c| c.is_ascii_digit()),
                    "{line}"
                );
                bare.replace_range(i..end, "");
            }
            assert!(!bare.contains([';', '{', '}', '"', '<', '>']), "{line}");
        }
    }

    #[test]
    fn long_labels_are_shortened_in_their_arguments() {
        let label = format!("f({}) -> att0 = 0", "x, ".repeat(40));
        let short = shorten(&label, 40);
        assert_eq!(short.chars().count(), 40);
        assert!(short.starts_with("f(x, x,"), "{short}");
        assert!(short.ends_with("…) -> att0 = 0"), "{short}");
        assert_eq!(shorten("short", 40), "short");
        assert_eq!(shorten(&"y".repeat(50), 10), format!("{}…", "y".repeat(9)));
    }

    #[test]
    fn quiet_steps_and_numbering() {
        let mut text = String::from("trace:\nstep 0: exporter.buf0 (Gpu): export\n");
        for i in 0..=NUMBER_ABOVE {
            text.push_str(&format!(
                "#{i:<3}  exporter.buf0 -> core: dma_buf_export(buf0)\n"
            ));
        }
        text.push_str("step 1: importer.att0: map\n      (no call crosses a role boundary)\n");
        let out = to_mermaid(&text).unwrap();
        assert!(
            out.contains("    exporter_buf0->>core: #35;0 dma_buf_export(buf0)\n"),
            "{out}"
        );
        assert!(
            out.contains("    exporter_buf0->>core: #35;40 dma_buf_export(buf0)\n"),
            "{out}"
        );
        assert!(out.contains(
            "    Note over exporter_buf0,core: step 1: importer.att0: map\n    Note over exporter_buf0,core: no call crosses a role boundary\n    end\n"
        ));
        // A short trace is not numbered.
        assert!(!to_mermaid(STUCK).unwrap().contains("->>core: #35;"));
    }

    #[test]
    fn a_trace_without_calls_has_no_diagram() {
        assert_eq!(to_mermaid("trace:\n  (not run: bad step)\nchecks:\n"), None);
        let s = Snapshot::parse("trace:\n  (not run: bad step)\nchecks:\n");
        assert_eq!(s.trace, vec![TraceLine::NotRun("bad step".into())]);
        assert!(!Snapshot::parse("case: x\n").has_trace);
    }

    #[test]
    fn checks_become_a_list_linking_rules() {
        let spec = crate::tests::spec(&[(
            "revocation.md",
            "r[revoke.exporter.unbounded-wait]\nIt MUST wait.\n",
        )]);
        let book = crate::tests::book(&spec);
        let page = Page::new(&spec, &book, "revocation.md");
        let html = checks_html(&page, &Snapshot::parse(STUCK));
        assert_eq!(
            html,
            r##"<ul class="sequence-checks"><li class="check-pass"><span class="check-result">pass</span> <a class="rule-ref" href="#r-revoke.exporter.unbounded-wait">revoke.exporter.unbounded-wait</a>: step 2: an unbounded <code>dma_resv_wait_timeout</code> never returns</li><li class="check-fail"><span class="check-result">FAIL</span> <a class="rule-ref" href="#r-revoke.exporter.unbounded-wait">revoke.exporter.unbounded-wait</a>: no device access finds &lt;RECLAIMED&gt;<div class="check-detail">expected no access, found one<br>at #9</div></li></ul>"##
        );
        assert_eq!(code_spans("a `b` c `d"), "a <code>b</code> c `d");
    }
}
