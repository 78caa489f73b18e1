//! Reading what the guest printed: the ftrace buffer (kprobe and kretprobe events, and the
//! guest's `phase` markers), the guest's own report lines, and the kernel log.

use std::collections::BTreeMap;

/// One probe hit from the ftrace buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The pid of the task that made the call.
    pub pid: u32,
    /// `e_KEY` (entry) or `x_KEY` (return) without the prefix.
    pub key: String,
    /// True for a return (kretprobe) event.
    pub ret: bool,
    /// The fetched arguments (`att=0x...`, `ret=0`).
    pub args: BTreeMap<String, String>,
    /// For a return event, the function it returned to (`iopt_map_dmabuf+0x8c/0x1a0`).
    pub caller: Option<String>,
}

/// A line of the trace buffer that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The guest announced a phase through `trace_marker`.
    Phase(String),
    /// A probe fired.
    Hit(Hit),
}

/// Everything one boot produced.
#[derive(Debug, Clone, Default)]
pub struct Console {
    /// The trace buffer, in order.
    pub trace: Vec<Line>,
    /// The guest's own lines (`real-drivers: ...`), without the prefix.
    pub guest: Vec<String>,
    /// The kernel log, as dumped from `/dev/kmsg` at the end.
    pub kmsg: Vec<String>,
    /// Whether the trace dump was complete (both markers seen).
    pub complete: bool,
}

/// Splits a console capture into the trace, the guest's report and the kernel log.
pub fn parse_console(text: &str) -> Console {
    let mut c = Console::default();
    let mut section = "";
    let mut ended = 0;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        match line.trim() {
            "=== TRACE BEGIN" => {
                section = "trace";
                continue;
            }
            "=== KMSG BEGIN" => {
                section = "kmsg";
                continue;
            }
            "=== TRACE END" | "=== KMSG END" => {
                section = "";
                ended += 1;
                continue;
            }
            _ => {}
        }
        match section {
            "trace" => {
                if let Some(l) = parse_trace_line(line) {
                    c.trace.push(l);
                }
            }
            "kmsg" => {
                if !line.trim().is_empty() {
                    // `6,123,4567,-;message`: keep the message.
                    let msg = line.split_once(';').map_or(line, |(_, m)| m);
                    c.kmsg.push(msg.to_string());
                }
            }
            _ => {
                if let Some(rest) = line.split("real-drivers: ").nth(1) {
                    c.guest.push(rest.to_string());
                }
            }
        }
    }
    c.complete = ended == 2;
    c
}

/// Parses one line of `/sys/kernel/tracing/trace`:
/// `  init-1  [000] .....  1.234: e_pin: (dma_buf_pin+0x0/0x50) att=0xffff...`.
pub fn parse_trace_line(line: &str) -> Option<Line> {
    if line.trim_start().starts_with('#') {
        return None;
    }
    let open = line.find(" [")?;
    let task = line[..open].trim();
    let pid = task.rsplit_once('-')?.1.parse().ok()?;
    let after_cpu = &line[open + 2..];
    let close = after_cpu.find("] ")?;
    let mut rest = after_cpu[close + 2..].trim_start();
    // Flags (`.....`) then the timestamp (`1.234:`).
    let flags_end = rest.find(' ')?;
    rest = rest[flags_end..].trim_start();
    let ts_end = rest.find(": ")?;
    rest = &rest[ts_end + 2..];
    let (event, body) = rest.split_once(": ")?;
    if event == "tracing_mark_write" {
        return body
            .trim()
            .strip_prefix("phase ")
            .map(|p| Line::Phase(p.trim().to_string()));
    }
    let (ret, key) = if let Some(k) = event.strip_prefix("e_") {
        (false, k)
    } else if let Some(k) = event.strip_prefix("x_") {
        (true, k)
    } else {
        return None;
    };
    // `(func+0x0/0x50) a=1 b=2` or `(caller+0x8c/0x1a0 <- func) ret=0`.
    let body = body.trim();
    let (site, args_text) = match body.strip_prefix('(') {
        Some(b) => {
            let end = b.find(')')?;
            (Some(&b[..end]), &b[end + 1..])
        }
        None => (None, body),
    };
    let caller = if ret {
        site.and_then(|s| s.split(" <- ").next())
            .map(|s| s.to_string())
    } else {
        None
    };
    let mut args = BTreeMap::new();
    let mut rest = args_text.trim();
    while !rest.is_empty() {
        let Some((name, tail)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(q) = tail.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            match tail.find(' ') {
                Some(sp) => (&tail[..sp], &tail[sp..]),
                None => (tail, ""),
            }
        };
        args.insert(name.trim().to_string(), value.to_string());
        rest = next.trim_start();
    }
    Some(Line::Hit(Hit {
        pid,
        key: key.to_string(),
        ret,
        args,
        caller,
    }))
}

/// A value fetched by a probe, as a signed 64-bit integer (`0x...`, `-19`, `1`).
pub fn value(v: &str) -> Option<i64> {
    if let Some(h) = v.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok().map(|u| u as i64)
    } else {
        v.parse::<i64>()
            .ok()
            .or_else(|| v.parse::<u64>().ok().map(|u| u as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_and_return_lines() {
        let e = parse_trace_line(
            "            init-1       [000] .....     3.123456: e_pin: (dma_buf_pin+0x0/0x60) att=0xffff888004a1c000",
        );
        let Some(Line::Hit(h)) = e else {
            panic!("not a hit: {e:?}")
        };
        assert_eq!((h.pid, h.key.as_str(), h.ret), (1, "pin", false));
        assert_eq!(h.args["att"], "0xffff888004a1c000");
        let x = parse_trace_line(
            "            init-1       [000] .....     3.123460: x_pin: (iopt_map_dmabuf+0x8c/0x1a0 <- dma_buf_pin) ret=-19",
        );
        let Some(Line::Hit(h)) = x else {
            panic!("not a hit: {x:?}")
        };
        assert!(h.ret);
        assert_eq!(h.caller.as_deref(), Some("iopt_map_dmabuf+0x8c/0x1a0"));
        assert_eq!(value(&h.args["ret"]), Some(-19));
    }

    #[test]
    fn markers_strings_and_noise() {
        assert_eq!(
            parse_trace_line(" init-1 [000] ..... 2.5: tracing_mark_write: phase revoke"),
            Some(Line::Phase("revoke".into()))
        );
        let w = parse_trace_line(
            " kworker/0:1-12 [000] d.... 2.6: e_warn: (__warn+0x0/0x100) file=\"drivers/dma-buf/dma-buf.c\" line=1102",
        );
        let Some(Line::Hit(h)) = w else {
            panic!("not a hit: {w:?}")
        };
        assert_eq!(h.pid, 12);
        assert_eq!(h.args["file"], "drivers/dma-buf/dma-buf.c");
        assert_eq!(h.args["line"], "1102");
        assert_eq!(parse_trace_line("# tracer: nop"), None);
        assert_eq!(parse_trace_line("garbage"), None);
    }

    #[test]
    fn console_sections() {
        let c = parse_console(
            "boot\nreal-drivers: phase export\n=== TRACE BEGIN\n init-1 [000] ..... 1.0: tracing_mark_write: phase export\n\n=== TRACE END\n=== KMSG BEGIN\n3,1,2,-;DMAR: fault\n=== KMSG END\n",
        );
        assert!(c.complete);
        assert_eq!(c.guest, vec!["phase export"]);
        assert_eq!(c.trace, vec![Line::Phase("export".into())]);
        assert_eq!(c.kmsg, vec!["DMAR: fault"]);
        assert!(!parse_console("=== TRACE BEGIN\n").complete);
    }
}
