//! Cheap structural checks of `onnx` ops (the `verify` hooks): attribute values against operand
//! ranks. Type inference catches the rest; these run even when an op's types were written by hand.

use super::shape::{int_attr, ints_attr, normalize_axes, normalize_axis, optional_tensor};
use crate::module::{Module, Op};
use crate::types::{Dim, TensorType};

fn rank_of(module: &Module, op: Op, i: usize) -> Option<usize> {
    optional_tensor(module, op, i).map(TensorType::rank)
}

/// `axis` (if set) must be in `[-r, r)` for operand #0 of rank r.
pub fn axis_in_rank(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let (Some(axis), Some(rank)) = (int_attr(module, op, "axis"), rank_of(module, op, 0)) {
        if let Err(e) = normalize_axis(axis, rank) {
            errors.push(format!("'axis': {e}"));
        }
    }
}

pub fn flatten(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let (Some(axis), Some(rank)) = (int_attr(module, op, "axis"), rank_of(module, op, 0)) {
        if let Err(e) = normalize_axis(axis, rank + 1) {
            errors.push(format!("'axis': {e}"));
        }
    }
}

pub fn reduce(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let (Some(axes), Some(rank)) = (ints_attr(module, op, "axes"), rank_of(module, op, 0)) {
        if let Err(e) = normalize_axes(&axes, rank) {
            errors.push(format!("'axes': {e}"));
        }
    }
    for flag in ["keepdims", "noop_with_empty_axes"] {
        if let Some(v) = int_attr(module, op, flag).filter(|v| !(0..=1).contains(v)) {
            errors.push(format!("'{flag}' must be 0 or 1, got {v}"));
        }
    }
}

/// `perm` must be a permutation of `0..rank`.
pub fn transpose(module: &Module, op: Op, errors: &mut Vec<String>) {
    let (Some(perm), Some(rank)) = (ints_attr(module, op, "perm"), rank_of(module, op, 0)) else {
        return;
    };
    if perm.len() != rank {
        errors.push(format!(
            "'perm' has {} entries for an operand of rank {rank}",
            perm.len()
        ));
    } else if perm.iter().any(|&p| p < 0) || normalize_axes(&perm, rank).is_err() {
        errors.push(format!("'perm' {perm:?} is not a permutation of 0..{rank}"));
    }
}

/// Every operand has the same rank, and `axis` is in range.
pub fn concat(module: &Module, op: Op, errors: &mut Vec<String>) {
    let ranks: Vec<Option<usize>> = (0..module.ops[op].operands.len())
        .map(|i| rank_of(module, op, i))
        .collect();
    let Some(Some(r0)) = ranks.first().copied() else {
        return;
    };
    for (i, r) in ranks.iter().enumerate() {
        if let Some(r) = r.filter(|&r| r != r0) {
            errors.push(format!(
                "operand #{i} has rank {r}, operand #0 has rank {r0}"
            ));
        }
    }
    if let Some(axis) = int_attr(module, op, "axis") {
        if let Err(e) = normalize_axis(axis, r0) {
            errors.push(format!("'axis': {e}"));
        }
    }
}

/// Inner dims agree when both are static.
pub fn matmul(module: &Module, op: Op, errors: &mut Vec<String>) {
    let (Some(a), Some(b)) = (
        optional_tensor(module, op, 0),
        optional_tensor(module, op, 1),
    ) else {
        return;
    };
    if a.rank() == 0 || b.rank() == 0 {
        errors.push("operands must have rank >= 1".into());
        return;
    }
    let k_a = &a.dims[a.rank() - 1];
    let k_b = if b.rank() == 1 {
        &b.dims[0]
    } else {
        &b.dims[b.rank() - 2]
    };
    if let (Dim::Static(x), Dim::Static(y)) = (k_a, k_b) {
        if x != y {
            errors.push(format!("inner dims differ: {x} vs {y}"));
        }
    }
}

pub fn gemm(module: &Module, op: Op, errors: &mut Vec<String>) {
    for i in 0..2 {
        if let Some(r) = rank_of(module, op, i).filter(|&r| r != 2) {
            errors.push(format!("operand #{i} must be 2-D, has rank {r}"));
        }
    }
}

pub fn conv(module: &Module, op: Op, errors: &mut Vec<String>) {
    let (Some(x), Some(w)) = (rank_of(module, op, 0), rank_of(module, op, 1)) else {
        return;
    };
    if x < 3 || x != w {
        errors.push(format!(
            "X and W must have equal rank >= 3, got {x} and {w}"
        ));
    }
    if let Some(g) = int_attr(module, op, "group").filter(|&g| g < 1) {
        errors.push(format!("'group' must be >= 1, got {g}"));
    }
}

pub fn gather_elements(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let (Some(d), Some(i)) = (rank_of(module, op, 0), rank_of(module, op, 1)) {
        if d != i {
            errors.push(format!("data rank {d} differs from indices rank {i}"));
        }
    }
    axis_in_rank(module, op, errors);
}

/// LayerNormalization / RMSNormalization: `axis` in range of X.
pub fn normalization(module: &Module, op: Op, errors: &mut Vec<String>) {
    axis_in_rank(module, op, errors);
    if let Some(e) = module.ops[op]
        .attrs
        .get("epsilon")
        .and_then(|a| a.as_float())
    {
        if e.is_nan() || e < 0.0 {
            errors.push(format!("'epsilon' must be >= 0, got {e}"));
        }
    }
}

pub fn split(module: &Module, op: Op, errors: &mut Vec<String>) {
    axis_in_rank(module, op, errors);
    if let Some(n) = int_attr(module, op, "num_outputs") {
        let results = module.ops[op].results.len();
        if usize::try_from(n).ok() != Some(results) {
            errors.push(format!(
                "'num_outputs' is {n} but the op has {results} result(s)"
            ));
        }
    }
}

pub fn trilu(module: &Module, op: Op, errors: &mut Vec<String>) {
    if let Some(r) = rank_of(module, op, 0).filter(|&r| r < 2) {
        errors.push(format!("operand must have rank >= 2, has rank {r}"));
    }
}

pub fn rotary(module: &Module, op: Op, errors: &mut Vec<String>) {
    match rank_of(module, op, 0) {
        Some(3) => {
            if int_attr(module, op, "num_heads").is_none() {
                errors.push("3-D input needs the 'num_heads' attribute".into());
            }
        }
        Some(4) | None => {}
        Some(r) => errors.push(format!("input must be 3-D or 4-D, has rank {r}")),
    }
}

/// Q, K, V: all 3-D or all 4-D; 3-D needs head counts; query heads a multiple of KV heads.
pub fn attention(module: &Module, op: Op, errors: &mut Vec<String>) {
    let ranks: Vec<Option<usize>> = (0..3).map(|i| rank_of(module, op, i)).collect();
    let [Some(q), Some(k), Some(v)] = ranks[..] else {
        errors.push("Q, K and V must be ranked tensors".into());
        return;
    };
    if !(q == 3 || q == 4) || k != q || v != q {
        errors.push(format!(
            "Q, K, V must all be 3-D or all 4-D, got ranks {q}, {k}, {v}"
        ));
    }
    let qn = int_attr(module, op, "q_num_heads");
    let kn = int_attr(module, op, "kv_num_heads");
    if q == 3 && (qn.is_none() || kn.is_none()) {
        errors.push("3-D inputs need 'q_num_heads' and 'kv_num_heads'".into());
    }
    if let (Some(qn), Some(kn)) = (qn, kn) {
        if qn <= 0 || kn <= 0 || qn % kn != 0 {
            errors.push(format!(
                "'q_num_heads' ({qn}) must be a positive multiple of 'kv_num_heads' ({kn})"
            ));
        }
    }
    if let Some(c) = int_attr(module, op, "is_causal").filter(|c| !(0..=1).contains(c)) {
        errors.push(format!("'is_causal' must be 0 or 1, got {c}"));
    }
}
