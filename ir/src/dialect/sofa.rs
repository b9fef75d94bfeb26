//! The `sofa` dialect: one attention layer tiled and scheduled, with its SRAM buffers and loops
//! explicit (design level 3, between `attn.*` and the ISA).
//!
//! `lower-to-sofa` replaces each planned `attn.mha` / `attn.sparse_mha` by a `sofa.kernel`
//! whose body lists the buffers of the segment's SRAM layout and the loop nest of steps that
//! `lower-to-isa` expands into instructions. Step ops carry no SSA values: they name buffers by
//! their `sofa.buffer` name, so the body reads like the dataflow diagram and round-trips in the
//! generic syntax. Loop bounds are the real numbers (batch, heads, `Sq` step the query block,
//! `Sk` step `Bc`); the last block or tile of a loop may be shorter than `step`.
//!
//! ## Ops (generic syntax examples)
//!
//! - `sofa.kernel` — one scheduled attention layer; operands, result and attributes of the op
//!   it replaces plus `sofa.from`:
//!   `%o = "sofa.kernel"(%q, %k, %v) ({ ... }) {heads = 2 : i64, ..., sofa.from = "attn.mha"}
//!   : (...) -> tensor<...>`
//! - `sofa.buffer` — an SRAM buffer, `bytes` per ring entry (the aligned stride), `ring`
//!   entries from `offset`; only at the top of a kernel body:
//!   `"sofa.buffer"() {name = "q", space = "token", offset = 0 : i64, bytes = 8192 : i64,
//!   ring = 1 : i64} : () -> ()`
//! - `sofa.for` — a loop over `dim` from `lower` to `upper` by `step`; with `causal = true`
//!   (only on `k_tile`) the upper bound of a query block starting at `q0` with `rows` rows is
//!   `min(upper, q0 + rows)`: tiles in the block's future are skipped; with `window = W` as
//!   well the lower bound is `q0 + 1 − W` rounded down to a step (tiles behind every query's
//!   window are skipped):
//!   `"sofa.for"() ({ ... }) {dim = "k_tile", lower = 0 : i64, upper = 300 : i64,
//!   step = 100 : i64, causal = true} : () -> ()`. `dim = "row_block"` runs over the query
//!   rows of every (batch, head), one head's after the other, so that a block may hold the
//!   last positions of one head and the first of the next (packed blocks).
//! - `sofa.dma_load` — DRAM → SRAM, `rows` rows of `bytes` bytes (a full step's):
//!   `"sofa.dma_load"() {dst = "k_tile", from = "k", rows = 100 : i64, bytes = 64 : i64}`
//! - `sofa.dma_store` — SRAM → DRAM: `{src = "out", to = "out", rows = ..., bytes = ...}`
//! - `sofa.scale_q` — Q times the op's scale: `{src = "q", dst = "q_scaled", scale = 0.125}`
//! - `sofa.predict_k` — on-demand K̂ = X·LZ(Ŵk) of a key tile's token rows:
//!   `{src = "x_tile", dst = "k_tile", weight = "wk"}`
//! - `sofa.predict_scores` — Â = LZ(Q)·K̂ᵀ; `engine = "dlzs"`, or `"kvpe"` (the dlzs
//!   ablation's GEMM): `{dst = "a_hat", q = "q_scaled", khat = "k_tile", engine = "dlzs"}`
//! - `sofa.mask_add` — add a mask tile onto scores; `kind = "causal"` (only on tiles reaching
//!   into some row's future) or `"mask"` (the op's mask):
//!   `{dst = "a_hat", mask = "mask", kind = "causal"}`
//! - `sofa.sads` — top-`sel` per row of a score tile (`whole_row`: one selection over the
//!   visible row), optional `radius`: `{src = "a_hat", idx = "idx", top = "top",
//!   sel = 26 : i64, whole_row = false}`
//! - `sofa.rass` — issue order and slots of the selected keys (`reuse = false`: in order,
//!   duplicates kept): `{idx = "idx", order = "order", slot = "slot", reuse = true}`
//! - `sofa.gather` — rows by the order list from `k`, `v` or the token rows `x`:
//!   `{dst = "g_k", idx = "order", from = "k", rows = 100 : i64}`
//! - `sofa.kvgen` — on-demand K or V rows from gathered token rows:
//!   `{dst = "g_k", src = "g_x", weight = "wk"}`
//! - `sofa.sufa_tile` — one tile's SU-FA partials; `mode = "sorted"` or `"fa2"`. Inside a
//!   `k_tile` loop the first iteration writes `dst` and every later one merges into it (the
//!   block's running partials):
//!   `{dst = "part", q = "q_scaled", k = "g_k", v = "g_v", slot = "slot", mode = "sorted"}`
//! - `sofa.sufa_bias` — the op's score bias of the selected keys, for the next `sufa_tile`
//!   (a biased mask): `{bias = "u_mask", idx = "idx"}`
//! - `sofa.sufa_sync` — divide the partials into output rows: `{dst = "out", part = "part"}`
//!
//! ## Invariants checked here
//!
//! Attribute schemas and enum values; `sofa.buffer` only directly in a kernel body, before
//! every other op; loops and steps only inside a kernel; `step > 0` and `lower < upper`;
//! buffer names unique per kernel and every name a step references declared by the enclosing
//! kernel; no two buffers of one space overlap. Capacities need a `HwConfig` and are checked
//! by the compiler pass.

use std::collections::BTreeMap;

use super::attn::plan::{concat_attrs, PLAN_ATTRS};
use super::attn::{verify_plan, MhaAttrs, SparseMhaAttrs, MHA, MHA_ATTRS, SPARSE_MHA};
use super::{Arity, AttrDef, AttrKind, Dialect, OpDef, Trait};
use crate::attr::Attribute;
use crate::module::{Module, Op};

pub const KERNEL: &str = "sofa.kernel";
pub const BUFFER: &str = "sofa.buffer";
pub const FOR: &str = "sofa.for";
pub const DMA_LOAD: &str = "sofa.dma_load";
pub const DMA_STORE: &str = "sofa.dma_store";
pub const SCALE_Q: &str = "sofa.scale_q";
pub const PREDICT_K: &str = "sofa.predict_k";
pub const PREDICT_SCORES: &str = "sofa.predict_scores";
pub const MASK_ADD: &str = "sofa.mask_add";
pub const SADS: &str = "sofa.sads";
pub const RASS: &str = "sofa.rass";
pub const GATHER: &str = "sofa.gather";
pub const KVGEN: &str = "sofa.kvgen";
pub const SUFA_TILE: &str = "sofa.sufa_tile";
pub const SUFA_SYNC: &str = "sofa.sufa_sync";
pub const SUFA_BIAS: &str = "sofa.sufa_bias";

/// SRAM spaces a buffer may live in.
pub const SPACES: &[&str] = &["token", "weight", "temp"];
/// Loop dimensions.
pub const DIMS: &[&str] = &[
    "batch",
    "head",
    "q_block",
    "row_block",
    "k_tile",
    "row_chunk",
    "list",
];
/// DRAM sources of `sofa.dma_load` (`slot_table`: the dense schedule's constant slot lists).
pub const LOAD_FROM: &[&str] = &[
    "q",
    "k",
    "v",
    "mask",
    "causal_table",
    "slot_table",
    "ahat_spill",
    "a_spill",
    "parts_spill",
    "x",
    "wk",
    "wv",
    "bk",
    "bv",
];
/// DRAM destinations of `sofa.dma_store`.
pub const STORE_TO: &[&str] = &["out", "ahat_spill", "a_spill", "parts_spill"];

const S: AttrKind = AttrKind::String;
const I: AttrKind = AttrKind::Int;
const B: AttrKind = AttrKind::Bool;

const fn req(name: &'static str, kind: AttrKind) -> AttrDef {
    AttrDef::required(name, kind)
}

/// A step op: no operands, results or regions; verified by [`verify_step`].
const fn step(name: &'static str, summary: &'static str, attrs: &'static [AttrDef]) -> OpDef {
    OpDef {
        name,
        summary,
        operands: Arity::Exact(0),
        results: Arity::Exact(0),
        regions: 0,
        attrs,
        props: &[],
        traits: &[],
        verify: Some(verify_step),
        fold: None,
        infer: None,
    }
}

/// Per step op: the attributes that name buffers.
const BUF_ATTRS: &[(&str, &[&str])] = &[
    (DMA_LOAD, &["dst"]),
    (DMA_STORE, &["src"]),
    (SCALE_Q, &["src", "dst"]),
    (PREDICT_K, &["src", "dst"]),
    (PREDICT_SCORES, &["dst", "q", "khat"]),
    (MASK_ADD, &["dst", "mask"]),
    (SADS, &["src", "idx", "top"]),
    (RASS, &["idx", "order", "slot"]),
    (GATHER, &["dst", "idx"]),
    (KVGEN, &["dst", "src"]),
    (SUFA_TILE, &["dst", "q", "k", "v", "slot"]),
    (SUFA_SYNC, &["dst", "part"]),
    (SUFA_BIAS, &["bias", "idx"]),
];

/// Per op: string attributes restricted to a set of values.
const ENUMS: &[(&str, &str, &[&str])] = &[
    (BUFFER, "space", SPACES),
    (FOR, "dim", DIMS),
    (DMA_LOAD, "from", LOAD_FROM),
    (DMA_STORE, "to", STORE_TO),
    (PREDICT_SCORES, "engine", &["dlzs", "kvpe"]),
    (MASK_ADD, "kind", &["causal", "mask"]),
    (GATHER, "from", &["k", "v", "x"]),
    (KVGEN, "weight", &["wk", "wv"]),
    (SUFA_TILE, "mode", &["sorted", "fa2"]),
    (KERNEL, "sofa.from", &[MHA, SPARSE_MHA]),
];

/// The buffer-naming attributes of step op `name` (empty for other ops).
pub fn buffer_attrs(name: &str) -> &'static [&'static str] {
    BUF_ATTRS
        .iter()
        .find(|(op, _)| *op == name)
        .map_or(&[], |(_, attrs)| attrs)
}

/// A kernel's own attributes: those of a replaced `attn.sparse_mha` (absent when it replaced an
/// `attn.mha`) and the kind it replaced.
const KERNEL_OWN: [AttrDef; 6] = [
    AttrDef::optional("keep_ratio", AttrKind::Float),
    AttrDef::optional("tiles", I),
    AttrDef::optional("radius", AttrKind::Float),
    AttrDef::optional("rounding", S),
    AttrDef::optional("pred_bits", I),
    req("sofa.from", S),
];
/// The replaced op's attributes, its plan and `sofa.from`.
static KERNEL_ATTRS: [AttrDef; 20] =
    concat_attrs(concat_attrs::<6, 6, 12>(MHA_ATTRS, KERNEL_OWN), PLAN_ATTRS);

pub static SOFA: Dialect = Dialect {
    name: "sofa",
    summary: "Tiled and scheduled attention: SRAM buffers, loop nests and dataflow steps.",
    ops: &[
        OpDef {
            name: KERNEL,
            summary: "One scheduled attention layer: the replaced attn op's operands, result and \
                      attributes (plus sofa.from), its body the buffers then the loop nest.",
            operands: Arity::Between(3, 4),
            results: Arity::Exact(1),
            regions: 1,
            attrs: &KERNEL_ATTRS,
            props: &[],
            traits: &[Trait::IsolatedFromAbove],
            verify: Some(verify_kernel),
            fold: None,
            infer: None,
        },
        OpDef {
            name: BUFFER,
            summary: "An SRAM buffer of the kernel: ring entries of bytes each from offset in a \
                      space (token, weight, temp).",
            operands: Arity::Exact(0),
            results: Arity::Exact(0),
            regions: 0,
            attrs: &[
                req("name", S),
                req("space", S),
                req("offset", I),
                req("bytes", I),
                req("ring", I),
            ],
            props: &[],
            traits: &[],
            verify: Some(verify_buffer),
            fold: None,
            infer: None,
        },
        OpDef {
            name: FOR,
            summary: "Loop over dim from lower to upper by step (causal k_tile loops stop at the \
                      query block's last row).",
            operands: Arity::Exact(0),
            results: Arity::Exact(0),
            regions: 1,
            attrs: &[
                req("dim", S),
                req("lower", I),
                req("upper", I),
                req("step", I),
                AttrDef::optional("causal", B),
                AttrDef::optional("window", I),
            ],
            props: &[],
            traits: &[],
            verify: Some(verify_for),
            fold: None,
            infer: None,
        },
        step(
            DMA_LOAD,
            "DRAM to SRAM: rows of bytes from a tensor or spill into dst.",
            &[
                req("dst", S),
                req("from", S),
                req("rows", I),
                req("bytes", I),
            ],
        ),
        step(
            DMA_STORE,
            "SRAM to DRAM: rows of bytes from src to the output or a spill.",
            &[req("src", S), req("to", S), req("rows", I), req("bytes", I)],
        ),
        step(
            SCALE_Q,
            "Q block times the op's scale (read by prediction and SU-FA).",
            &[req("src", S), req("dst", S), req("scale", AttrKind::Float)],
        ),
        step(
            PREDICT_K,
            "On-demand K̂ = X·LZ(Ŵk) of a key tile's token rows.",
            &[req("src", S), req("dst", S)],
        ),
        step(
            PREDICT_SCORES,
            "Predicted scores Â = LZ(Q)·K̂ᵀ of a key tile, on DLZS or (ablation) KVPE GEMM.",
            &[req("dst", S), req("q", S), req("khat", S), req("engine", S)],
        ),
        step(
            MASK_ADD,
            "Add a mask tile (causal table or the op's mask) onto a score tile.",
            &[req("dst", S), req("mask", S), req("kind", S)],
        ),
        step(
            SADS,
            "Per-row top-sel of a score tile (or the whole visible row), optional radius clip.",
            &[
                req("src", S),
                req("idx", S),
                req("top", S),
                req("sel", I),
                AttrDef::optional("radius", AttrKind::Float),
                req("whole_row", B),
            ],
        ),
        step(
            RASS,
            "Issue order and slots of the selected keys (reuse: each key once).",
            &[
                req("idx", S),
                req("order", S),
                req("slot", S),
                req("reuse", B),
            ],
        ),
        step(
            GATHER,
            "Rows listed by an order buffer, from k, v or the token rows x.",
            &[req("dst", S), req("idx", S), req("from", S), req("rows", I)],
        ),
        step(
            KVGEN,
            "On-demand K or V rows: gathered token rows times Wk or Wv.",
            &[req("dst", S), req("src", S), req("weight", S)],
        ),
        step(
            SUFA_TILE,
            "One tile's SU-FA partials over the selected keys (sorted or FA-2 update).",
            &[
                req("dst", S),
                req("q", S),
                req("k", S),
                req("v", S),
                req("slot", S),
                req("mode", S),
            ],
        ),
        step(
            SUFA_SYNC,
            "Merge a block's tile partials into output rows.",
            &[req("dst", S), req("part", S)],
        ),
        step(
            SUFA_BIAS,
            "The score bias of the selected keys, added by the next sufa_tile.",
            &[req("bias", S), req("idx", S)],
        ),
    ],
};

/// Push an error per enum-typed attribute of `op` holding a value outside its set.
fn check_enums(m: &Module, op: Op, errors: &mut Vec<String>) {
    let data = m.op(op);
    for (name, attr, allowed) in ENUMS.iter().filter(|e| e.0 == data.name) {
        if let Some(v) = data.attrs.get(*attr).and_then(Attribute::as_str) {
            if !allowed.contains(&v) {
                errors.push(format!(
                    "{attr} = \"{v}\" is not one of {} ({name})",
                    allowed.join(", ")
                ));
            }
        }
    }
}

fn int(m: &Module, op: Op, key: &str) -> Option<i64> {
    m.op(op).attrs.get(key).and_then(Attribute::as_int)
}

/// The attention op an op stands for: its own name for `attn.mha` / `attn.sparse_mha`, the
/// `sofa.from` of a `sofa.kernel`; `None` for anything else.
pub fn attention_kind(m: &Module, op: Op) -> Option<&str> {
    let d = m.op(op);
    match d.name.as_str() {
        MHA | SPARSE_MHA => Some(d.name.as_str()),
        KERNEL => d
            .attrs
            .get("sofa.from")
            .and_then(|a| a.as_str())
            .filter(|k| matches!(*k, MHA | SPARSE_MHA)),
        _ => None,
    }
}

/// The nearest enclosing `sofa.kernel` of `op`.
pub fn enclosing_kernel(m: &Module, op: Op) -> Option<Op> {
    let mut at = m.parent_op(op);
    while let Some(p) = at {
        if m.op(p).name == KERNEL {
            return Some(p);
        }
        at = m.parent_op(p);
    }
    None
}

fn verify_step(m: &Module, op: Op, errors: &mut Vec<String>) {
    check_enums(m, op, errors);
    if enclosing_kernel(m, op).is_none() {
        errors.push("must be inside a sofa.kernel".into());
    }
    let data = m.op(op);
    for key in ["rows", "bytes", "sel"] {
        if int(m, op, key).is_some_and(|v| v <= 0) {
            errors.push(format!("{key} must be positive"));
        }
    }
    if let Some(r) = data.attrs.get("radius").and_then(Attribute::as_float) {
        if !(r > 0.0 && r.is_finite()) {
            errors.push(format!("radius must be a positive finite float, got {r}"));
        }
    }
}

fn verify_buffer(m: &Module, op: Op, errors: &mut Vec<String>) {
    check_enums(m, op, errors);
    let in_kernel_body = m.parent_op(op).is_some_and(|p| m.op(p).name == KERNEL);
    if !in_kernel_body {
        errors.push("must be directly in a sofa.kernel body".into());
    }
    if int(m, op, "offset").is_some_and(|v| v < 0) {
        errors.push("offset must not be negative".into());
    }
    for key in ["bytes", "ring"] {
        if int(m, op, key).is_some_and(|v| v <= 0) {
            errors.push(format!("{key} must be positive"));
        }
    }
}

fn verify_for(m: &Module, op: Op, errors: &mut Vec<String>) {
    check_enums(m, op, errors);
    if enclosing_kernel(m, op).is_none() {
        errors.push("must be inside a sofa.kernel".into());
    }
    let (lower, upper, step) = (int(m, op, "lower"), int(m, op, "upper"), int(m, op, "step"));
    if step.is_some_and(|s| s <= 0) {
        errors.push(format!("step must be positive, got {}", step.unwrap_or(0)));
    }
    if let (Some(lo), Some(hi)) = (lower, upper) {
        if lo >= hi {
            errors.push(format!("lower ({lo}) must be below upper ({hi})"));
        }
    }
    let causal = m.op(op).attrs.get("causal").and_then(Attribute::as_bool);
    let dim = m.op(op).attrs.get("dim").and_then(Attribute::as_str);
    if causal == Some(true) && dim != Some("k_tile") {
        errors.push("causal = true is only meaningful on a k_tile loop".into());
    }
    match int(m, op, "window") {
        Some(w) if w < 1 => errors.push(format!("window must be at least 1, got {w}")),
        Some(_) if causal != Some(true) => errors.push("window needs causal = true".into()),
        _ => {}
    }
    if m.op(op).regions.first().map(|&r| m.regions[r].blocks.len()) != Some(1) {
        errors.push("the loop region must hold exactly one block".into());
    }
}

/// One declared buffer: space, start and end (exclusive) in bytes.
struct Extent {
    space: String,
    start: i64,
    end: i64,
}

/// The kernel's buffers by name; errors for misplaced, duplicate or overlapping ones.
fn kernel_buffers(m: &Module, body: &[Op], errors: &mut Vec<String>) -> BTreeMap<String, Extent> {
    let mut bufs: BTreeMap<String, Extent> = BTreeMap::new();
    let mut past_prefix = false;
    for &op in body {
        if m.op(op).name != BUFFER {
            past_prefix = true;
            continue;
        }
        let a = &m.op(op).attrs;
        let Some(name) = a.get("name").and_then(Attribute::as_str) else {
            continue; // the schema check reports it
        };
        if past_prefix {
            errors.push(format!(
                "buffer '{name}' must come before the kernel's other ops"
            ));
        }
        let get = |k: &str| a.get(k).and_then(Attribute::as_int).unwrap_or(0);
        let ext = Extent {
            space: a
                .get("space")
                .and_then(Attribute::as_str)
                .unwrap_or("")
                .to_string(),
            start: get("offset"),
            end: get("offset").saturating_add(get("bytes").saturating_mul(get("ring"))),
        };
        if let Some((other, _)) = bufs
            .iter()
            .find(|(_, e)| e.space == ext.space && e.start < ext.end && ext.start < e.end)
        {
            errors.push(format!(
                "buffer '{name}' [{}, {}) overlaps buffer '{other}' in {} SRAM",
                ext.start, ext.end, ext.space
            ));
        }
        if bufs.insert(name.to_string(), ext).is_some() {
            errors.push(format!("buffer '{name}' is declared twice"));
        }
    }
    bufs
}

fn verify_kernel(m: &Module, op: Op, errors: &mut Vec<String>) {
    check_enums(m, op, errors);
    verify_plan(m, op, errors);
    let data = m.op(op);
    if MhaAttrs::from_dict(&data.attrs).is_none() {
        return; // the schema check reports missing or mistyped attributes
    }
    if data.attrs.get("sofa.from").and_then(Attribute::as_str) == Some(SPARSE_MHA) {
        if let Err(e) = SparseMhaAttrs::from_dict(&data.attrs) {
            errors.push(e.to_string());
        }
    }
    let Some(&region) = data.regions.first() else {
        return;
    };
    let [block] = m.regions[region].blocks[..] else {
        errors.push("the kernel region must hold exactly one block".into());
        return;
    };
    let bufs = kernel_buffers(m, &m.blocks[block].ops, errors);
    for &child in &m.blocks[block].ops {
        m.walk_op(child, &mut |o| {
            let d = m.op(o);
            for key in buffer_attrs(&d.name) {
                match d.attrs.get(*key).and_then(Attribute::as_str) {
                    Some(b) if !bufs.contains_key(b) => errors.push(format!(
                        "{} refers to undeclared buffer '{b}' ({key})",
                        d.name
                    )),
                    _ => {}
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
