//! The e-graph language of attention chains.
//!
//! Only the ops that matter for recognising attention get a node; every other IR value enters
//! the term as a [`Leaf`](AttnLang::Leaf) (an index into the candidate's leaf table, carrying
//! its IR type and constant value). Op attributes are child leaves (`Int`, `Perm`), because
//! egg's `define_language!` has no data-with-children variants.
//!
//! Node meanings (ONNX semantics unless stated):
//! - `matmul`, `mul`, `div`, `add`, `recip`, `sqrt`, `isnan`, `where`: as the ONNX ops.
//! - `(cast x to)`: Cast to the ONNX data type code `to`.
//! - `(softmax x axis)`: softmax over `axis` (`-1` = last axis) with FlashAttention
//!   semantics — a row that is all −inf gives 0 instead of NaN. ONNX Softmax differs only where
//!   it returns NaN, which `attn.mha` defines as 0 (see `sofa_ir::dialect::attn`).
//! - `(transpose x perm)`, `(reshape x shape)`, `(expand x shape)`, `(unsqueeze x axis)`.
//! - `(repeat_kv x n)`: `[B, Hkv, S, D]` → `[B, Hkv·n, S, D]`, head h reading head ⌊h/n⌋ (GQA).
//! - `nomask`: the additive zero mask (`(add x nomask)` ≡ `x`).

use std::fmt;
use std::str::FromStr;

use egg::{define_language, Id};

/// A scalar constant, stored as `f64` bits so it can be hashed and ordered. Printed with an
/// `f` suffix (`0.125f`) so that it never parses as an [`AttnLang::Int`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scalar(u64);

impl Scalar {
    pub fn new(v: f64) -> Scalar {
        // One NaN and one zero, so equal values hash-cons to one node.
        let v = if v == 0.0 { 0.0 } else { v };
        Scalar(if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        })
    }

    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}f", self.value())
    }
}

/// A leaf of a term's text form that does not parse; `text` is the leaf as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeafParseError {
    #[error("'{0}' is not a scalar")]
    NotScalar(String),
    #[error("'{text}': {source}")]
    Float {
        text: String,
        source: std::num::ParseFloatError,
    },
    #[error("'{0}' is not a permutation")]
    NotPerm(String),
    #[error("'{text}': {source}")]
    Int {
        text: String,
        source: std::num::ParseIntError,
    },
    #[error("'{0}' is not a leaf")]
    NotLeaf(String),
}

impl FromStr for Scalar {
    type Err = LeafParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s
            .strip_suffix('f')
            .ok_or_else(|| LeafParseError::NotScalar(s.to_string()))?;
        body.parse::<f64>()
            .map(Scalar::new)
            .map_err(|source| LeafParseError::Float {
                text: s.to_string(),
                source,
            })
    }
}

/// A transpose permutation, printed `perm=0,2,1,3`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perm(pub Vec<usize>);

impl Perm {
    /// The permutation swapping the last two of `rank` axes (`[0, 1, 3, 2]` for rank 4).
    pub fn swap_last_two(rank: usize) -> Perm {
        let mut p: Vec<usize> = (0..rank).collect();
        if rank >= 2 {
            p.swap(rank - 1, rank - 2);
        }
        Perm(p)
    }

    pub fn is_identity(&self) -> bool {
        self.0.iter().enumerate().all(|(i, &p)| i == p)
    }

    /// A valid permutation of `0..len`.
    pub fn is_valid(&self) -> bool {
        let mut seen = vec![false; self.0.len()];
        self.0
            .iter()
            .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
    }

    /// `transpose(transpose(x, self), then)` = `transpose(x, self.then(then))`.
    pub fn then(&self, then: &Perm) -> Perm {
        Perm(then.0.iter().map(|&i| self.0[i]).collect())
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(usize::to_string).collect();
        write!(f, "perm={}", parts.join(","))
    }
}

impl FromStr for Perm {
    type Err = LeafParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let not_perm = || LeafParseError::NotPerm(s.to_string());
        let body = s.strip_prefix("perm=").ok_or_else(not_perm)?;
        let p = body
            .split(',')
            .map(|x| {
                x.parse::<usize>().map_err(|source| LeafParseError::Int {
                    text: s.to_string(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Perm)?;
        if p.is_valid() {
            Ok(p)
        } else {
            Err(not_perm())
        }
    }
}

/// An outside IR value: an index into the candidate's leaf table, printed `v7`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafRef(pub u32);

impl LeafRef {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for LeafRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl FromStr for LeafRef {
    type Err = LeafParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .map(LeafRef)
            .ok_or_else(|| LeafParseError::NotLeaf(s.to_string()))
    }
}

define_language! {
    /// Attention-chain terms (see the module doc for each node's meaning).
    pub enum AttnLang {
        "matmul" = MatMul([Id; 2]),
        "mul" = Mul([Id; 2]),
        "div" = Div([Id; 2]),
        "add" = Add([Id; 2]),
        "recip" = Recip(Id),
        "sqrt" = Sqrt(Id),
        "isnan" = IsNan(Id),
        "where" = Where([Id; 3]),
        "cast" = Cast([Id; 2]),
        "softmax" = Softmax([Id; 2]),
        "transpose" = Transpose([Id; 2]),
        "reshape" = Reshape([Id; 2]),
        "expand" = Expand([Id; 2]),
        "unsqueeze" = Unsqueeze([Id; 2]),
        "repeat_kv" = RepeatKv([Id; 2]),
        "nomask" = NoMask,
        Num(Scalar),
        Perm(Perm),
        Leaf(LeafRef),
        Int(i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    #[test]
    fn data_leaves_parse_back_unambiguously() {
        let e: RecExpr<AttnLang> = "(softmax (mul (transpose v3 perm=0,1,3,2) 0.125f) -1)"
            .parse()
            .unwrap();
        let nodes = e.as_ref();
        assert!(nodes.contains(&AttnLang::Int(-1)));
        assert!(nodes.contains(&AttnLang::Num(Scalar::new(0.125))));
        assert!(nodes.contains(&AttnLang::Leaf(LeafRef(3))));
        assert!(nodes.contains(&AttnLang::Perm(Perm(vec![0, 1, 3, 2]))));
        assert_eq!(e.to_string().parse::<RecExpr<AttnLang>>().unwrap(), e);
    }

    #[test]
    fn perm_composition_matches_onnx_transpose() {
        // transpose(transpose(x, [0,2,1,3]), [0,1,3,2]) == transpose(x, [0,2,3,1])
        let p1 = Perm(vec![0, 2, 1, 3]);
        assert_eq!(p1.then(&Perm::swap_last_two(4)), Perm(vec![0, 2, 3, 1]));
        assert!("perm=0,0,1".parse::<Perm>().is_err());
        assert_eq!(Scalar::new(-0.0), Scalar::new(0.0));
    }
}
