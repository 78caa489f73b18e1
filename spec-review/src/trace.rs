//! Diffing two blessed traces so that one inserted call is one change.
//!
//! A snapshot numbers its events (`#12`); an inserted call renumbers every later one. Before
//! diffing, each event's number is replaced by `#` padded to the same width, which keeps the
//! nesting (indentation) and makes an event's identity its role, call, arguments and result.

use similar::{ChangeTag, TextDiff};

/// An event line with its number taken out, its indentation kept.
fn normalise_line(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('#') {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            let after = &rest[digits..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            let width = 1 + digits + spaces;
            return format!(
                "#{}{}",
                " ".repeat(width - 1),
                after.trim_start_matches(' ')
            );
        }
    }
    line.to_string()
}

/// The text of a trace with event numbers taken out.
pub(crate) fn normalise(trace: &str) -> String {
    trace
        .lines()
        .map(normalise_line)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The changes from `old` to `new`, as a unified diff with one line of context, and the count
/// of lines removed and added; `None` when the traces are the same once renumbering is
/// ignored.
pub fn diff_trace(old: &str, new: &str) -> Option<(String, usize, usize)> {
    let (old, new) = (normalise(old), normalise(new));
    if old == new {
        return None;
    }
    let diff = TextDiff::from_lines(&old, &new);
    let (mut removed, mut added) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Delete => removed += 1,
            ChangeTag::Insert => added += 1,
            ChangeTag::Equal => {}
        }
    }
    let text = diff
        .unified_diff()
        .context_radius(1)
        .header("old", "new")
        .to_string();
    Some((text, removed, added))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "step 0: export\n#0    exporter.buf0 -> core: dma_buf_export(buf0) = 0\n#1      core -> core: dma_resv_lock(buf0.resv)\n#2      core -> core: dma_resv_unlock(buf0.resv) [locked]\n";

    #[test]
    fn one_inserted_call_is_one_change() {
        let new = "step 0: export\n#0    exporter.buf0 -> core: dma_buf_export(buf0) = 0\n#1      core -> core: dma_resv_lock(buf0.resv)\n#2        core -> exporter.buf0: ops.pin(att0) [locked] = 0\n#3      core -> core: dma_resv_unlock(buf0.resv) [locked]\n";
        let (text, removed, added) = diff_trace(OLD, new).expect("a change");
        assert_eq!((removed, added), (0, 1), "{text}");
        assert!(
            text.contains("+#         core -> exporter.buf0: ops.pin(att0)"),
            "{text}"
        );
    }

    #[test]
    fn renumbering_alone_is_no_change() {
        let shifted = OLD.replace("#2 ", "#9 ");
        assert_eq!(diff_trace(OLD, &shifted), None);
        assert!(diff_trace(OLD, &OLD.replace("= 0", "= -19")).is_some());
    }

    #[test]
    fn indentation_survives_wider_numbers() {
        assert_eq!(
            normalise_line("#9      core -> x"),
            normalise_line("#10     core -> x")
        );
        assert_ne!(
            normalise_line("#9      core -> x"),
            normalise_line("#9    core -> x")
        );
    }
}
