//! `sofa-ir`: the vocabulary every other sofa crate speaks.
//!
//! - [`entity`]: typed arena indices (`PrimaryMap`, `SecondaryMap`).
//! - [`types`], [`attr`], [`location`]: what values, constants and source positions look like.
//! - [`module`]: the IR container (ops, values, blocks, regions) and its editing API.
//! - [`dialect`]: op declarations (`OpDef`) grouped in dialects, and the registry.
//! - [`text`]: the one printer and the one parser (MLIR generic syntax).
//! - [`verify`]: structural and per-op checks, collecting every error.
//! - [`pass`]: the pass trait, pipelines, the pass manager and its instrumentation.
//! - [`eval`]: reference semantics of ops on host tensors (constant folding, interpretation).
//! - [`hw`]: the hardware description (`HwConfig`) and the cycle and energy formulas.
//! - [`isa`]: the SOFA instruction set, its binary format and its assembly text.
//!
//! Library code here never prints and never exits; it returns typed errors.

pub mod attr;
pub mod dialect;
pub mod entity;
pub mod eval;
pub mod hw;
pub mod isa;
pub mod location;
pub mod mapped;
pub mod module;
pub mod pass;
pub mod text;
pub mod types;
pub mod verify;

pub use attr::{AttrDict, Attribute, DenseAttr, Resource};
pub use entity::{EntityRef, PrimaryMap, SecondaryMap};
pub use location::Location;
pub use module::{Block, Module, Op, OpData, OpSpec, Region, Value, ValueDef};
pub use types::{Dim, ElemType, FunctionType, TensorType, Type};
