//! Dialects and the op registry.
//!
//! Every op is declared exactly once, as a static [`OpDef`]: its name, a one-line summary, the
//! operand/result arity, the attribute schema, its traits, an optional custom verifier and an
//! optional constant-folding hook. A [`Dialect`] groups the defs of one namespace (`builtin`,
//! `func`, `onnx`, `attn`, `sofa`, `isa`); the [`DialectRegistry`] is what the verifier, the
//! passes and `sofa opt --list-ops` consult. Adding an op = adding one `OpDef` to its dialect's
//! table; nothing else needs to change.

pub mod attn;
pub mod builtin;
pub mod error;
pub mod onnx;
pub mod sofa;

pub use error::InferError;

use std::collections::BTreeMap;

use crate::attr::Attribute;
use crate::module::{Module, Op};
use crate::types::Type;

/// How many operands or results an op takes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arity {
    Exact(usize),
    AtLeast(usize),
    /// Inclusive range.
    Between(usize, usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k,
            Arity::AtLeast(k) => n >= k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
        }
    }

    /// Human text: "2", "at least 1", "1 to 3".
    pub fn describe(self) -> String {
        match self {
            Arity::Exact(k) => k.to_string(),
            Arity::AtLeast(k) => format!("at least {k}"),
            Arity::Between(lo, hi) => format!("{lo} to {hi}"),
        }
    }
}

/// The kind of value an attribute must hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Int,
    Float,
    /// A float or an integer (ONNX scalars written either way).
    Number,
    String,
    Bool,
    IntArray,
    FloatArray,
    StringArray,
    /// `dense<...>` or `dense_resource<...>`.
    Tensor,
    Type,
    Symbol,
    Any,
}

impl AttrKind {
    pub fn accepts(self, a: &Attribute) -> bool {
        let all = |pred: fn(&Attribute) -> bool| a.as_array().is_some_and(|xs| xs.iter().all(pred));
        match self {
            AttrKind::Int => matches!(a, Attribute::Int { .. }),
            AttrKind::Float => matches!(a, Attribute::Float { .. }),
            AttrKind::Number => matches!(a, Attribute::Int { .. } | Attribute::Float { .. }),
            AttrKind::String => matches!(a, Attribute::String(_)),
            AttrKind::Bool => matches!(a, Attribute::Bool(_)),
            AttrKind::IntArray => all(|x| matches!(x, Attribute::Int { .. })),
            AttrKind::FloatArray => {
                all(|x| matches!(x, Attribute::Float { .. } | Attribute::Int { .. }))
            }
            AttrKind::StringArray => all(|x| matches!(x, Attribute::String(_))),
            AttrKind::Tensor => {
                matches!(a, Attribute::Dense(_) | Attribute::DenseResource { .. })
            }
            AttrKind::Type => matches!(a, Attribute::Type(_)),
            AttrKind::Symbol => matches!(a, Attribute::SymbolRef(_)),
            AttrKind::Any => true,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            AttrKind::Int => "an integer",
            AttrKind::Float => "a float",
            AttrKind::Number => "a number",
            AttrKind::String => "a string",
            AttrKind::Bool => "a bool",
            AttrKind::IntArray => "an array of integers",
            AttrKind::FloatArray => "an array of numbers",
            AttrKind::StringArray => "an array of strings",
            AttrKind::Tensor => "a dense tensor",
            AttrKind::Type => "a type",
            AttrKind::Symbol => "a symbol reference",
            AttrKind::Any => "any attribute",
        }
    }
}

/// One attribute in an op's schema.
#[derive(Copy, Clone, Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub required: bool,
}

impl AttrDef {
    pub const fn required(name: &'static str, kind: AttrKind) -> AttrDef {
        AttrDef {
            name,
            kind,
            required: true,
        }
    }

    pub const fn optional(name: &'static str, kind: AttrKind) -> AttrDef {
        AttrDef {
            name,
            kind,
            required: false,
        }
    }
}

/// Properties of an op that generic passes rely on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Trait {
    /// No side effects: unused results make it dead (DCE) and equal twins mergeable (CSE).
    Pure,
    /// Must be the last op of its block.
    Terminator,
    /// Its regions see no values defined outside (functions, modules).
    IsolatedFromAbove,
    /// Produces its `value` attribute as its single result; folding materialises into it.
    ConstantLike,
    /// Operand order does not matter (CSE may sort operands).
    Commutative,
}

/// A custom verification hook: push one message per problem found.
pub type VerifyFn = fn(module: &Module, op: Op, errors: &mut Vec<String>);

/// A constant-folding hook. `operands[i]` is the constant value of operand `i` when it is
/// produced by a `ConstantLike` op (dense resources resolved), `None` otherwise. Returns one
/// attribute per result, or `None` when the op does not fold.
pub type FoldFn =
    fn(module: &Module, op: Op, operands: &[Option<Attribute>]) -> Option<Vec<Attribute>>;

/// A result-type inference hook (same inputs as [`FoldFn`]): the result types implied by the
/// operand types, constant operands and attributes, or why they cannot be.
pub type InferFn =
    fn(module: &Module, op: Op, operands: &[Option<Attribute>]) -> Result<Vec<Type>, InferError>;

/// The single declaration of an op.
#[derive(Copy, Clone, Debug)]
pub struct OpDef {
    /// Full name, `dialect.op`.
    pub name: &'static str,
    /// One line: what the op computes.
    pub summary: &'static str,
    pub operands: Arity,
    pub results: Arity,
    /// Number of regions the op must have.
    pub regions: usize,
    /// Discardable attributes (`{...}`). Attributes not listed are errors.
    pub attrs: &'static [AttrDef],
    /// Inherent properties (`<{...}>`), MLIR style. Properties not listed are errors.
    pub props: &'static [AttrDef],
    pub traits: &'static [Trait],
    pub verify: Option<VerifyFn>,
    pub fold: Option<FoldFn>,
    pub infer: Option<InferFn>,
}

impl OpDef {
    pub fn has_trait(&self, t: Trait) -> bool {
        self.traits.contains(&t)
    }

    pub fn dialect(&self) -> &'static str {
        self.name.split_once('.').map_or(self.name, |(d, _)| d)
    }
}

/// A namespace of ops.
#[derive(Copy, Clone, Debug)]
pub struct Dialect {
    pub name: &'static str,
    pub summary: &'static str,
    pub ops: &'static [OpDef],
}

/// All known ops, by name. Iteration is sorted by name.
#[derive(Clone, Debug, Default)]
pub struct DialectRegistry {
    dialects: BTreeMap<&'static str, &'static Dialect>,
    ops: BTreeMap<&'static str, &'static OpDef>,
}

impl DialectRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the dialects defined in this crate.
    pub fn with_core_dialects() -> Self {
        let mut r = Self::new();
        for d in builtin::DIALECTS {
            r.register(d);
        }
        r.register(&onnx::ONNX);
        r.register(&attn::ATTN);
        r.register(&sofa::SOFA);
        r
    }

    /// Add a dialect. A later registration of the same op name replaces the earlier one.
    pub fn register(&mut self, dialect: &'static Dialect) {
        self.dialects.insert(dialect.name, dialect);
        for def in dialect.ops {
            self.ops.insert(def.name, def);
        }
    }

    pub fn lookup(&self, name: &str) -> Option<&'static OpDef> {
        self.ops.get(name).copied()
    }

    pub fn dialects(&self) -> impl Iterator<Item = &'static Dialect> + '_ {
        self.dialects.values().copied()
    }

    pub fn ops(&self) -> impl Iterator<Item = &'static OpDef> + '_ {
        self.ops.values().copied()
    }

    /// True when `name`'s op is registered and has trait `t`.
    pub fn has_trait(&self, name: &str, t: Trait) -> bool {
        self.lookup(name).is_some_and(|d| d.has_trait(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_registry_knows_module_func_return() {
        let r = DialectRegistry::with_core_dialects();
        for name in ["builtin.module", "func.func", "func.return"] {
            assert!(r.lookup(name).is_some(), "{name} missing");
        }
        assert!(r.has_trait("func.return", Trait::Terminator));
        assert!(r.lookup("onnx.Nope").is_none());
    }

    #[test]
    fn arity_and_kind_checks() {
        assert!(Arity::Between(1, 3).accepts(3));
        assert!(!Arity::Exact(2).accepts(1));
        assert_eq!(Arity::AtLeast(1).describe(), "at least 1");
        assert!(AttrKind::IntArray.accepts(&Attribute::i64_array(&[1, 2])));
        assert!(!AttrKind::IntArray.accepts(&Attribute::Array(vec![Attribute::f32(1.0)])));
    }
}
