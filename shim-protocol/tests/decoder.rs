//! The decoder against a large set of generated malformed inputs (the same entry point as the
//! `cargo fuzz` target in `fuzz/`): it never panics, rejects every strict prefix of a valid
//! message, accepts only what round-trips, and the line reader never holds more than its limit.

use std::io::BufReader;

use reference_impl::{AttId, BufId, DmaResvUsage, FenceId, SgtId, Timeout};
use serde_json::json;
use shim_protocol::codec::{
    DecodeError, Line, LineReader, decode_from_shim, decode_to_shim, encode, fuzz_decode,
};
use shim_protocol::{ExporterCall, FromShim, ImporterCall, KernelCall, ShimCall, ToShim};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn valid_from_shim() -> Vec<FromShim> {
    let (buf, att) = (BufId(0), AttId(1));
    vec![
        FromShim::Hello {
            version: 1,
            name: "c-vfio".into(),
            role: "exporter".into(),
            plays: vec!["vfio".into()],
            capabilities: vec!["restores".into()],
            description: "a \"quoted\" \u{e9} description".into(),
            shim_version: Some("2.1.0-rc1".into()),
        },
        FromShim::Ready {},
        FromShim::Ret {
            id: 7,
            thread: None,
            ret: json!(["attach", "map_dma_buf"]),
        },
        FromShim::Ret {
            id: 8,
            thread: None,
            ret: json!(-19),
        },
        FromShim::Ret {
            id: 9,
            thread: Some("importer".into()),
            ret: json!({"allow_peer2peer": true, "invalidate_mappings": false}),
        },
        FromShim::Kcall {
            id: 1,
            thread: Some("main".into()),
            call: KernelCall::DmaResvLock { buf },
        },
        FromShim::Kcall {
            id: 2,
            thread: None,
            call: KernelCall::DmaResvWaitTimeout {
                buf,
                usage: DmaResvUsage::Bookkeep,
                intr: false,
                timeout: Timeout::Max.into(),
            },
        },
        FromShim::Kcall {
            id: 3,
            thread: None,
            call: KernelCall::DmaResvWaitTimeout {
                buf,
                usage: DmaResvUsage::Read,
                intr: true,
                timeout: Timeout::Jiffies(10).into(),
            },
        },
        FromShim::Kcall {
            id: 4,
            thread: None,
            call: KernelCall::DeviceAccess {
                att,
                sgt: Some(SgtId(3)),
                write: true,
            },
        },
        FromShim::Kcall {
            id: 5,
            thread: None,
            call: KernelCall::DeviceAccess {
                att,
                sgt: None,
                write: false,
            },
        },
        FromShim::Kcall {
            id: 6,
            thread: None,
            call: KernelCall::DmaResvAddFence {
                buf,
                fence: FenceId(2),
                usage: DmaResvUsage::Kernel,
            },
        },
        FromShim::Kcall {
            id: 7,
            thread: None,
            call: KernelCall::Warn {
                buf,
                what: "lock not held\n".into(),
            },
        },
    ]
}

fn valid_to_shim() -> Vec<ToShim> {
    let (buf, att) = (BufId(0), AttId(1));
    vec![
        ToShim::Hello {
            versions: vec![2, 1],
            suite: "0.1.0".into(),
        },
        ToShim::Case {
            name: "revoke_around_reset[iommufd]".into(),
        },
        ToShim::Call {
            id: 1,
            thread: None,
            call: ShimCall::Exporter(ExporterCall::New { buf }),
        },
        ToShim::Call {
            id: 2,
            thread: None,
            call: ShimCall::Exporter(ExporterCall::UnmapDmaBuf {
                buf,
                att,
                sgt: SgtId(1),
            }),
        },
        ToShim::Call {
            id: 3,
            thread: None,
            call: ShimCall::Importer(ImporterCall::New { att }),
        },
        ToShim::Call {
            id: 4,
            thread: Some("unmap-worker".into()),
            call: ShimCall::Importer(ImporterCall::Access { att, write: true }),
        },
        ToShim::Kret {
            id: 1,
            thread: Some("importer".into()),
            ret: json!(null),
        },
        ToShim::Bye { reason: None },
        ToShim::Bye {
            reason: Some("interrupted".into()),
        },
    ]
}

#[test]
fn every_valid_message_round_trips() {
    for m in valid_from_shim() {
        let line = encode(&m);
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        assert_eq!(decode_from_shim(line.as_bytes()), Ok(m));
    }
    for m in valid_to_shim() {
        assert_eq!(decode_to_shim(encode(&m).as_bytes()), Ok(m));
    }
}

#[test]
fn the_decoder_says_what_is_wrong() {
    let e = |s: &str| decode_from_shim(s.as_bytes()).unwrap_err();
    assert_eq!(
        e("\u{0}\u{1}"),
        DecodeError::NotJson("expected value at line 1 column 1".into())
    );
    assert!(matches!(e("Segmentation fault"), DecodeError::NotJson(_)));
    assert_eq!(e("[1,2]"), DecodeError::NoType);
    assert_eq!(e("{\"type\":3}"), DecodeError::NoType);
    assert_eq!(
        e("{\"type\":\"greetings\"}"),
        DecodeError::UnknownType("greetings".into())
    );
    assert!(matches!(
        e("{\"type\":\"ret\",\"id\":\"7\",\"ret\":null}"),
        DecodeError::WrongShape { .. }
    ));
    // Unknown fields and unknown kernel functions are errors, not silently ignored.
    assert!(matches!(
        e("{\"type\":\"ready\",\"extra\":1}"),
        DecodeError::WrongShape { .. }
    ));
    assert!(matches!(
        e("{\"type\":\"kcall\",\"id\":1,\"call\":{\"fn\":\"dma_buf_move_notify\",\"buf\":0}}"),
        DecodeError::WrongShape { .. }
    ));
    assert!(matches!(
        e("{\"type\":\"kcall\",\"id\":1,\"call\":{\"fn\":\"dma_resv_lock\",\"buf\":0,\"ww\":1}}"),
        DecodeError::WrongShape { .. }
    ));
    assert_eq!(
        decode_from_shim(b"{\"type\":\"ready\"}\xff"),
        Err(DecodeError::NotUtf8)
    );
    // Nesting far deeper than any message is refused, not a stack overflow.
    let deep = format!(
        "{{\"type\":\"ret\",\"id\":1,\"ret\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(decode_from_shim(deep.as_bytes()).is_err());
}

/// Mutations of valid lines: truncation, byte flips, insertions, deletions, splices.
fn mutants(seed: &[u8], rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    const NASTY: &[&[u8]] = &[
        b"\"",
        b"\\",
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"null",
        b"-",
        b"1e999",
        b"\xff",
        b"\xc3",
        b"\\u0000",
        b"\\ud800",
        b"18446744073709551616",
        b"-0",
        b"NaN",
        b"\n",
        b" ",
        b"\"type\"",
        b"\"kcall\"",
        b"\"fn\"",
        b"true",
    ];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let len = m.len();
            match rng.below(5) {
                0 => m.truncate(rng.below(len)),
                1 if len > 0 => {
                    let i = rng.below(len);
                    m[i] ^= 1 << rng.below(8);
                }
                2 => {
                    let i = rng.below(len + 1);
                    let ins = NASTY[rng.below(NASTY.len())];
                    m.splice(i..i, ins.iter().copied());
                }
                3 if len > 0 => {
                    let i = rng.below(len);
                    let j = (i + 1 + rng.below(8)).min(len);
                    m.drain(i..j);
                }
                _ => {
                    let i = rng.below(len + 1);
                    let r: Vec<u8> = (0..rng.below(6)).map(|_| rng.next() as u8).collect();
                    m.splice(i..i, r);
                }
            }
        }
        out.push(m);
    }
    out
}

#[test]
fn a_large_set_of_malformed_inputs_never_panics_and_only_valid_messages_decode() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let seeds: Vec<String> = valid_from_shim().iter().map(encode).collect();
    let mut inputs = 0usize;
    let mut accepted = 0usize;
    for seed in &seeds {
        let bytes = seed.trim_end().as_bytes();
        // Every strict prefix of a message is an error (a truncated line).
        for cut in 0..bytes.len() {
            assert!(
                decode_from_shim(&bytes[..cut]).is_err(),
                "prefix {cut} of {seed} decoded"
            );
            inputs += 1;
        }
        for m in mutants(bytes, &mut rng, 4000) {
            inputs += 1;
            let r = std::panic::catch_unwind(|| decode_from_shim(&m));
            let r = r.unwrap_or_else(|_| {
                panic!("the decoder panicked on {:?}", String::from_utf8_lossy(&m))
            });
            if let Ok(msg) = r {
                // Whatever is accepted is a well-formed message: it round-trips.
                accepted += 1;
                assert_eq!(decode_from_shim(encode(&msg).as_bytes()), Ok(msg));
            }
        }
    }
    // Random byte strings, framed as the harness reads them.
    for _ in 0..20_000 {
        let len = rng.below(300);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = fuzz_decode(&data);
        inputs += 1;
    }
    assert!(inputs > 60_000, "{inputs} inputs");
    // Mutations that only touch whitespace or a digit stay valid: some are accepted.
    assert!(
        accepted > 0 && accepted < inputs / 2,
        "{accepted} of {inputs} accepted"
    );
}

#[test]
fn the_line_reader_never_holds_more_than_its_limit() {
    let read = |data: &[u8], limit: usize| {
        let mut r = LineReader::with_limit(BufReader::with_capacity(7, data), limit);
        let mut lines = Vec::new();
        loop {
            match r.next_line().expect("in-memory reads succeed") {
                Line::Complete(l) => {
                    assert!(l.len() < limit);
                    lines.push(format!("C{}", String::from_utf8_lossy(&l)));
                }
                Line::Truncated(l) => {
                    lines.push(format!("T{}", String::from_utf8_lossy(&l)));
                    break;
                }
                Line::Eof => {
                    lines.push("EOF".into());
                    break;
                }
                Line::Oversized => {
                    lines.push("BIG".into());
                    break;
                }
            }
        }
        lines
    };
    assert_eq!(read(b"ab\ncd\n", 16), ["Cab", "Ccd", "EOF"]);
    assert_eq!(read(b"ab\ncd", 16), ["Cab", "Tcd"]);
    // A line of exactly the limit (newline included) is fine; one byte more is not.
    assert_eq!(read(b"abcdefg\nx\n", 8), ["Cabcdefg", "Cx", "EOF"]);
    assert_eq!(read(b"abcdefgh\nx\n", 8), ["BIG"]);
    assert_eq!(read(&[b'x'; 100_000], 1024), ["BIG"]);
    assert_eq!(read(b"", 8), ["EOF"]);
}
