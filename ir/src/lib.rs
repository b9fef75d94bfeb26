//! `sofa-ir`: the vocabulary every other sofa crate speaks.
//!
//! - [`entity`]: typed arena indices (`PrimaryMap`, `SecondaryMap`).
//! - [`types`], [`attr`], [`location`]: what values, constants and source positions look like.
//! - [`module`]: the IR container (ops, values, blocks, regions) and its editing API.
//!
//! Library code here never prints and never exits; it returns typed errors.

pub mod attr;
pub mod dialect;
pub mod entity;
pub mod location;
pub mod module;
pub mod types;

pub use attr::{AttrDict, Attribute, DenseAttr, Resource};
pub use entity::{EntityRef, PrimaryMap, SecondaryMap};
pub use location::Location;
pub use module::{Block, Module, Op, OpData, OpSpec, Region, Value, ValueDef};
pub use types::{Dim, ElemType, FunctionType, TensorType, Type};
