//! The kernel API on the wire: the message [`KernelCall`], the harness's half of a call
//! ([`execute`], and [`unknown_object`] before it), and the shim's half ([`Typed`]), all
//! generated from the one list of the kernel API, `reference_impl::kernel_api!`. Return
//! values are encoded and decoded by their type ([`WireRet`]), never with a default.

pub use reference_impl::KernelApi;
use reference_impl::{
    AccessOutcome, AttId, Attachment, BufId, DmaResvUsage, Errno, FenceId, Kernel, SgtId, Timeout,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::messages::WireTimeout;

/// An `int` return: `0` or a negative errno.
pub fn int_value(r: Result<(), Errno>) -> Value {
    match r {
        Ok(()) => json!(0),
        Err(e) => json!(e.to_kernel()),
    }
}

/// A mapping return: the table's id or a negative errno.
pub fn sgt_value(r: Result<SgtId, Errno>) -> Value {
    match r {
        Ok(s) => json!(s.0),
        Err(e) => json!(e.to_kernel()),
    }
}

/// A return value on the wire that is not of the function's type: what the shim side and the
/// harness report as a protocol error (`` `map_dma_buf` returned a bad value: ... ``).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// A negative number outside the errno range (-1 to -4095).
    #[error("{0} is not an errno (-1 to -4095)")]
    UnknownErrno(i64),
    /// A positive number too large for a table id.
    #[error("{0} is not a table id")]
    NotATableId(i64),
    /// A table id the harness never handed out.
    #[error("{0} was never handed out by new_sg_table")]
    UnknownTable(SgtId),
    /// A value of another type: what was expected, and what came.
    #[error("expected {expected}, got {got}")]
    Expected {
        /// What the function returns (`0 or a negative errno`).
        expected: String,
        /// The value received.
        got: Value,
    },
    /// A value serde could not decode as the type, with serde's reason.
    #[error("expected {expected}, got {got} ({reason})")]
    Malformed {
        /// What the function returns (`a fence`).
        expected: String,
        /// The value received.
        got: Value,
        /// Why it does not decode.
        reason: String,
    },
    /// An object without a field the type needs.
    #[error("no \"{field}\" in {got}")]
    MissingField {
        /// The field.
        field: String,
        /// The object received.
        got: Value,
    },
}

fn expected(what: &str, got: &Value) -> DecodeError {
    DecodeError::Expected {
        expected: what.to_string(),
        got: got.clone(),
    }
}

/// Decodes an `int` return.
pub fn int_of(v: &Value) -> Result<Result<(), Errno>, DecodeError> {
    match v.as_i64() {
        Some(0) => Ok(Ok(())),
        Some(n) if n < 0 => Errno::from_kernel(n)
            .map(Err)
            .ok_or(DecodeError::UnknownErrno(n)),
        _ => Err(expected("0 or a negative errno", v)),
    }
}

/// Decodes a mapping return: a table id (checked with `known`) or a negative errno.
pub fn sgt_of(
    v: &Value,
    known: impl Fn(SgtId) -> bool,
) -> Result<Result<SgtId, Errno>, DecodeError> {
    match v.as_i64() {
        Some(n) if n < 0 => Errno::from_kernel(n)
            .map(Err)
            .ok_or(DecodeError::UnknownErrno(n)),
        Some(n) => {
            let sgt = u32::try_from(n)
                .map(SgtId)
                .map_err(|_| DecodeError::NotATableId(n))?;
            if known(sgt) {
                Ok(Ok(sgt))
            } else {
                Err(DecodeError::UnknownTable(sgt))
            }
        }
        None => Err(expected("a table id or a negative errno", v)),
    }
}

/// Decodes a `bool` return.
pub fn bool_of(v: &Value) -> Result<bool, DecodeError> {
    v.as_bool().ok_or_else(|| expected("true or false", v))
}

/// Decodes a `void` return.
pub fn void_of(v: &Value) -> Result<(), DecodeError> {
    if v.is_null() {
        Ok(())
    } else {
        Err(expected("null (a void function)", v))
    }
}

/// A value a kernel call returns, as it travels in a `kret`.
pub trait WireRet: Sized {
    /// What the value is, for messages (`a fence`).
    const WHAT: &'static str;
    /// The harness's encoding.
    fn to_wire(&self) -> Value;
    /// The shim's decoding; an error says what was expected and what came.
    fn from_wire(v: &Value) -> Result<Self, DecodeError>;
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, DecodeError> {
    serde_json::from_value(v.clone()).map_err(|e| DecodeError::Malformed {
        expected: what.to_string(),
        got: v.clone(),
        reason: e.to_string(),
    })
}

macro_rules! wire_ret_serde {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl WireRet for $t {
            const WHAT: &'static str = $what;
            fn to_wire(&self) -> Value {
                json!(self)
            }
            fn from_wire(v: &Value) -> Result<Self, DecodeError> {
                typed(v, $what)
            }
        }
    )*};
}

wire_ret_serde! {
    bool => "a boolean",
    i64 => "a remaining timeout",
    FenceId => "a fence",
    SgtId => "a table",
    AccessOutcome => "an access outcome",
}

impl WireRet for () {
    const WHAT: &'static str = "null";
    fn to_wire(&self) -> Value {
        Value::Null
    }
    fn from_wire(v: &Value) -> Result<Self, DecodeError> {
        void_of(v)
    }
}

impl WireRet for Result<(), Errno> {
    const WHAT: &'static str = "0 or a negative errno";
    fn to_wire(&self) -> Value {
        int_value(*self)
    }
    fn from_wire(v: &Value) -> Result<Self, DecodeError> {
        int_of(v)
    }
}

impl WireRet for Result<SgtId, Errno> {
    const WHAT: &'static str = "a table id or a negative errno";
    fn to_wire(&self) -> Value {
        sgt_value(*self)
    }
    fn from_wire(v: &Value) -> Result<Self, DecodeError> {
        sgt_of(v, |_| true)
    }
}

/// `struct dma_buf_attachment`'s fields on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAttachment {
    buf: BufId,
    dynamic: bool,
    peer2peer: bool,
    invalidate_mappings: bool,
}

impl WireRet for Attachment {
    const WHAT: &'static str =
        r#"{"buf":N,"dynamic":BOOL,"peer2peer":BOOL,"invalidate_mappings":BOOL}"#;
    fn to_wire(&self) -> Value {
        json!(WireAttachment {
            buf: self.buf,
            dynamic: self.dynamic,
            peer2peer: self.peer2peer,
            invalidate_mappings: self.invalidate_mappings,
        })
    }
    fn from_wire(v: &Value) -> Result<Self, DecodeError> {
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        Ok(Attachment {
            buf: typed(&field("buf"), "the attachment's buffer")?,
            dynamic: typed(&field("dynamic"), "the attachment's `dynamic`")?,
            peer2peer: typed(&field("peer2peer"), "the attachment's `peer2peer`")?,
            invalidate_mappings: typed(
                &field("invalidate_mappings"),
                "the attachment's `invalidate_mappings`",
            )?,
        })
    }
}

/// An argument as a kernel call's message carries it (`W`), from the API's type.
pub trait IntoWire<W> {
    /// The argument on the wire.
    fn into_wire(self) -> W;
}

/// An argument as the API takes it, from a kernel call's message.
pub trait FromWire<'a, W: ?Sized> {
    /// The argument for the API.
    fn from_wire(w: &'a W) -> Self;
}

impl<T: Copy> IntoWire<T> for T {
    fn into_wire(self) -> T {
        self
    }
}

impl<T: Copy> FromWire<'_, T> for T {
    fn from_wire(w: &T) -> T {
        *w
    }
}

impl IntoWire<String> for &str {
    fn into_wire(self) -> String {
        self.to_string()
    }
}

impl<'a> FromWire<'a, String> for &'a str {
    fn from_wire(w: &'a String) -> &'a str {
        w
    }
}

impl IntoWire<WireTimeout> for Timeout {
    fn into_wire(self) -> WireTimeout {
        self.into()
    }
}

impl FromWire<'_, WireTimeout> for Timeout {
    fn from_wire(w: &WireTimeout) -> Timeout {
        (*w).into()
    }
}

/// An argument that names an object of the model, which must exist when the call is made.
trait Known {
    /// The object, if the model does not know it.
    fn unknown(&self, k: &Kernel) -> Option<String>;
}

impl Known for BufId {
    fn unknown(&self, k: &Kernel) -> Option<String> {
        (!k.harness().knows_buf(*self)).then(|| self.to_string())
    }
}

impl Known for AttId {
    fn unknown(&self, k: &Kernel) -> Option<String> {
        (!k.harness().knows_att(*self)).then(|| self.to_string())
    }
}

impl Known for SgtId {
    fn unknown(&self, k: &Kernel) -> Option<String> {
        (!k.harness().knows_sgt(*self)).then(|| self.to_string())
    }
}

impl Known for FenceId {
    fn unknown(&self, k: &Kernel) -> Option<String> {
        (!k.harness().knows_fence(*self)).then(|| self.to_string())
    }
}

impl<T: Known> Known for Option<T> {
    fn unknown(&self, k: &Kernel) -> Option<String> {
        self.as_ref().and_then(|t| t.unknown(k))
    }
}

macro_rules! not_an_object {
    ($($t:ty),*) => {$(
        impl Known for $t {
            fn unknown(&self, _: &Kernel) -> Option<String> {
                None
            }
        }
    )*};
}

not_an_object!(bool, DmaResvUsage, WireTimeout, String);

/// One kernel call as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFn {
    /// The API's name (`attachment`).
    pub name: &'static str,
    /// The [`KernelCall`] variant (`DmaBufAttachment`).
    pub variant: &'static str,
    /// What it returns on the wire ([`WireRet::WHAT`]).
    pub returns: &'static str,
}

impl WireFn {
    /// Its `"fn"` on the wire: the variant in snake case (`dma_buf_attachment`).
    pub fn wire_name(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.variant.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// The check of one argument: a `#[fresh]` one names an object the call creates.
macro_rules! unknown_arg {
    ($k:ident, $arg:ident) => {
        Known::unknown($arg, $k)
    };
    ($k:ident, $arg:ident, fresh) => {{
        let _ = $arg;
        None
    }};
}

/// The wire type of an argument: the one after `=>` in the list, else its own.
macro_rules! wire_ty {
    ($ty:ty) => {
        $ty
    };
    ($ty:ty, $wire:ty) => {
        $wire
    };
}

macro_rules! wire_side {
    (
        core { $($core:tt)* }
        machine { $($machine:tt)* }
    ) => {
        wire_side!(@all $($core)* $($machine)*);
    };
    (@all $(
        $(#[doc = $doc:literal])*
        $(#[c = $c:literal])?
        $(#[trace = $t:literal])?
        $(#[untraced = $u:literal])?
        fn $name:ident($($(#[$fresh:ident])? $arg:ident: $ty:ty $(=> $wire:ty)?),*) -> $ret:ty = $variant:ident;
    )*) => {
        /// A kernel function a shim calls, named as in the kernel.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(tag = "fn", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(missing_docs)] // Fields are named after the kernel functions' arguments.
        pub enum KernelCall {
            $( $(#[doc = $doc])* $variant { $($arg: wire_ty!($ty $(, $wire)?)),* }, )*
        }

        /// The harness's half: runs `call` on `k` and encodes what it returned.
        pub fn execute(k: &dyn KernelApi, call: &KernelCall) -> Value {
            match call {
                $( KernelCall::$variant { $($arg),* } => {
                    WireRet::to_wire(&k.$name($(FromWire::from_wire($arg)),*))
                } )*
            }
        }

        /// Where the objects a kernel call names must already exist, the first one that
        /// does not.
        pub fn unknown_object(k: &Kernel, call: &KernelCall) -> Option<String> {
            match call {
                $( KernelCall::$variant { $($arg),* } => {
                    None $( .or_else(|| unknown_arg!(k, $arg $(, $fresh)?)) )*
                } )*
            }
        }

        /// Every kernel call on the wire, in the order of the list.
        pub const WIRE_CALLS: &[WireFn] = &[
            $( WireFn {
                name: stringify!($name),
                variant: stringify!($variant),
                returns: <$ret as WireRet>::WHAT,
            }, )*
        ];

        /// The shim's half: a kernel call whose reply is decoded into the function's
        /// return type. The function sends the call and returns the harness's `kret`
        /// value. A harness that answers with something else has a bug: the shim stops
        /// with the reason rather than go on with a made-up value.
        pub struct Typed<'a>(pub &'a dyn Fn(KernelCall) -> Value);

        impl KernelApi for Typed<'_> {
            $( fn $name(&self, $($arg: $ty),*) -> $ret {
                answer((self.0)(KernelCall::$variant { $($arg: IntoWire::into_wire($arg)),* }))
            } )*
        }
    };
}

reference_impl::kernel_api!(wire_side);

/// The book's table of kernel calls (`book/src/generated/kernel-calls.md`), rendered from the
/// list: each call's wire name, arguments, return value and documentation.
pub fn kernel_calls_table() -> String {
    let mut out = String::from(
        "<!-- Generated from reference_impl::kernel_api! (reference-impl/src/api.rs); \
         regenerate: UPDATE_KERNEL_API=1 cargo test -p shim-protocol kernel_api -->\n\n\
         | `fn` | Arguments | Returns | What it is |\n\
         |------|-----------|---------|------------|\n",
    );
    for (f, w) in reference_impl::KERNEL_API.iter().zip(WIRE_CALLS) {
        let args: Vec<String> = f.args.iter().map(|a| format!("`{a}`")).collect();
        let mut what = f.doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        if let Some(why) = f.untraced {
            what.push_str(&format!(" Not traced as a call: {why}."));
        }
        let returns = if w.returns.starts_with('{') {
            format!("`{}`", w.returns)
        } else {
            w.returns.to_string()
        };
        out.push_str(&format!(
            "| `{}` | {} | {returns} | {what} |\n",
            w.wire_name(),
            args.join(", ")
        ));
    }
    out
}

/// The harness's answer to a kernel call, decoded as its type or the shim stops.
fn answer<T: WireRet>(v: Value) -> T {
    T::from_wire(&v).unwrap_or_else(|e| panic!("the harness answered a kernel call badly: {e}"))
}

impl KernelCall {
    /// The function's name on the wire (`dma_resv_lock`), for messages.
    pub fn name(&self) -> String {
        crate::messages::fn_name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's table of kernel calls is the one the list renders (`UPDATE_KERNEL_API=1`
    /// rewrites it; read the diff).
    #[test]
    fn kernel_api_book_table_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../book/src/generated/kernel-calls.md"
        );
        let want = kernel_calls_table();
        let have = std::fs::read_to_string(path).unwrap_or_default();
        if have != want {
            if std::env::var_os("UPDATE_KERNEL_API").is_some() {
                std::fs::write(path, &want).expect("write the table");
            } else {
                panic!(
                    "{path} is stale: run `UPDATE_KERNEL_API=1 cargo test -p shim-protocol \
                     kernel_api` and read the diff"
                );
            }
        }
    }

    /// The wire name of every call is the one serde gives its message.
    #[test]
    fn wire_names_are_the_messages_fn() {
        let schema = serde_json::to_value(schemars::schema_for!(KernelCall)).expect("a schema");
        let names: Vec<&str> = schema["oneOf"]
            .as_array()
            .expect("one schema per call")
            .iter()
            .map(|v| v["properties"]["fn"]["const"].as_str().expect("a name"))
            .collect();
        let ours: Vec<String> = WIRE_CALLS.iter().map(WireFn::wire_name).collect();
        assert_eq!(names, ours);
        assert_eq!(WIRE_CALLS.len(), reference_impl::KERNEL_API.len());
    }

    fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("a panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    }

    /// A typed answer decodes; a wrong one stops the shim with the reason instead of a made-up
    /// default (these used to decode as fence 0, `false` and a timeout of 0).
    #[test]
    fn wrong_answers_are_not_silently_defaulted() {
        let good = |call: KernelCall| match call {
            KernelCall::DmaFenceCreate { .. } => json!(7),
            KernelCall::DmaResvIsLocked { .. } => json!(true),
            KernelCall::DmaResvWaitTimeout { .. } => json!(5),
            _ => Value::Null,
        };
        let k = Typed(&good);
        assert_eq!(k.dma_fence_create(true), FenceId(7));
        assert!(k.dma_resv_is_locked(BufId(0)));
        assert_eq!(
            k.dma_resv_wait_timeout(BufId(0), DmaResvUsage::Bookkeep, false, Timeout::Max),
            5
        );
        let garbage = |_: KernelCall| json!("garbage");
        let m = panic_of(|| {
            Typed(&garbage).dma_fence_create(true);
        });
        assert!(m.contains("expected a fence, got \"garbage\""), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).dma_resv_is_locked(BufId(0));
        });
        assert!(m.contains("expected a boolean"), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).dma_resv_wait_timeout(
                BufId(0),
                DmaResvUsage::Bookkeep,
                false,
                Timeout::Max,
            );
        });
        assert!(m.contains("expected a remaining timeout"), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).attachment(AttId(0));
        });
        assert!(m.contains("expected the attachment's buffer"), "{m}");
    }
}
