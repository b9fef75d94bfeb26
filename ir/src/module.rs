//! The IR container: operations, values, blocks and regions in arenas.
//!
//! Structure follows MLIR: a [`Module`] owns one top-level `builtin.module` op; an op has operands,
//! results, attributes and regions; a region holds blocks; a block holds block arguments and an
//! ordered list of ops. Ops are *attached* when they sit in a block (or are the top op), *detached*
//! otherwise. Erasing an op detaches it and marks it erased; its arena slot stays (keys are never
//! reused), and printing, walking and verification only ever see attached ops.
//!
//! Use lists are not maintained incrementally: [`Module::uses`] computes them when a pass needs
//! them. At the sizes we handle (thousands of ops) this is cheaper than keeping them in sync.

use crate::attr::{AttrDict, Attribute, Resource};
use crate::entity::{EntityRef, PrimaryMap, SecondaryMap};
use crate::entity_impl;
use crate::location::Location;
use crate::types::{FunctionType, Type};
use std::collections::BTreeMap;

entity_impl!(Op, "op");
entity_impl!(Value, "v");
entity_impl!(Block, "block");
entity_impl!(Region, "region");

/// Where a value comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ValueDef {
    /// Result `index` of `op`.
    Result { op: Op, index: u32 },
    /// Argument `index` of `block`.
    BlockArg { block: Block, index: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValueData {
    pub ty: Type,
    pub def: ValueDef,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpData {
    /// Dialect-qualified name, e.g. `onnx.MatMul`.
    pub name: String,
    pub operands: Vec<Value>,
    pub results: Vec<Value>,
    /// Inherent attributes, printed as MLIR properties `<{...}>` (used by `func.func`).
    pub props: AttrDict,
    /// Discardable attributes, printed as `{...}`.
    pub attrs: AttrDict,
    pub regions: Vec<Region>,
    pub loc: Location,
    /// The block holding this op; `None` for the top op and for detached ops.
    pub parent: Option<Block>,
    pub erased: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct BlockData {
    pub args: Vec<Value>,
    /// One location per argument (MLIR prints them with debug info on).
    pub arg_locs: Vec<Location>,
    pub ops: Vec<Op>,
    pub parent: Option<Region>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct RegionData {
    pub blocks: Vec<Block>,
    pub parent: Option<Op>,
}

/// Everything needed to create an op.
#[derive(Clone, Debug, Default)]
pub struct OpSpec {
    pub name: String,
    pub operands: Vec<Value>,
    pub result_types: Vec<Type>,
    pub props: AttrDict,
    pub attrs: AttrDict,
    /// Number of empty regions to create (blocks are added with [`Module::add_block`]).
    pub num_regions: usize,
    pub loc: Location,
}

impl OpSpec {
    pub fn new(name: impl Into<String>) -> Self {
        OpSpec {
            name: name.into(),
            ..OpSpec::default()
        }
    }

    pub fn operands(mut self, operands: impl IntoIterator<Item = Value>) -> Self {
        self.operands = operands.into_iter().collect();
        self
    }

    pub fn results(mut self, types: impl IntoIterator<Item = Type>) -> Self {
        self.result_types = types.into_iter().collect();
        self
    }

    pub fn attr(mut self, name: impl Into<String>, value: Attribute) -> Self {
        self.attrs.insert(name.into(), value);
        self
    }

    pub fn prop(mut self, name: impl Into<String>, value: Attribute) -> Self {
        self.props.insert(name.into(), value);
        self
    }

    pub fn regions(mut self, n: usize) -> Self {
        self.num_regions = n;
        self
    }

    pub fn loc(mut self, loc: Location) -> Self {
        self.loc = loc;
        self
    }
}

/// A module: the arenas plus the top-level `builtin.module` op and the resource table.
#[derive(Clone, Debug)]
pub struct Module {
    pub ops: PrimaryMap<Op, OpData>,
    pub values: PrimaryMap<Value, ValueData>,
    pub blocks: PrimaryMap<Block, BlockData>,
    pub regions: PrimaryMap<Region, RegionData>,
    /// The `builtin.module` op.
    pub top: Op,
    /// Blobs referenced by `dense_resource<name>`, sorted by name.
    pub resources: BTreeMap<String, Resource>,
}

pub const MODULE_OP: &str = "builtin.module";
pub const FUNC_OP: &str = "func.func";
pub const RETURN_OP: &str = "func.return";

impl Default for Module {
    fn default() -> Self {
        Self::new()
    }
}

impl Module {
    /// An empty `builtin.module` with one region holding one empty block.
    pub fn new() -> Module {
        let mut m = Module {
            ops: PrimaryMap::new(),
            values: PrimaryMap::new(),
            blocks: PrimaryMap::new(),
            regions: PrimaryMap::new(),
            top: Op::new(0),
            resources: BTreeMap::new(),
        };
        m.top = m.create_op(OpSpec::new(MODULE_OP).regions(1));
        let region = m.ops[m.top].regions[0];
        m.add_block(region, Vec::new());
        m
    }

    /// A module whose top op is created by the caller (the parser); no body is added.
    pub fn with_top(spec: OpSpec) -> Module {
        let mut m = Module {
            ops: PrimaryMap::new(),
            values: PrimaryMap::new(),
            blocks: PrimaryMap::new(),
            regions: PrimaryMap::new(),
            top: Op::new(0),
            resources: BTreeMap::new(),
        };
        m.top = m.create_op(spec);
        m
    }

    /// The first block of the top op's first region, where functions live.
    pub fn body(&self) -> Option<Block> {
        let region = *self.ops[self.top].regions.first()?;
        self.regions[region].blocks.first().copied()
    }

    // ---- creation -------------------------------------------------------------------------

    /// Create a detached op with fresh result values and empty regions.
    pub fn create_op(&mut self, spec: OpSpec) -> Op {
        let op = self.ops.push(OpData {
            name: spec.name,
            operands: spec.operands,
            results: Vec::new(),
            props: spec.props,
            attrs: spec.attrs,
            regions: Vec::new(),
            loc: spec.loc,
            parent: None,
            erased: false,
        });
        let results = spec
            .result_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                self.values.push(ValueData {
                    ty,
                    def: ValueDef::Result {
                        op,
                        index: index_u32(i),
                    },
                })
            })
            .collect();
        self.ops[op].results = results;
        let regions = (0..spec.num_regions)
            .map(|_| {
                self.regions.push(RegionData {
                    blocks: Vec::new(),
                    parent: Some(op),
                })
            })
            .collect();
        self.ops[op].regions = regions;
        op
    }

    /// Append a new block with arguments of the given types to `region`.
    pub fn add_block(&mut self, region: Region, arg_types: Vec<Type>) -> Block {
        let block = self.blocks.push(BlockData {
            parent: Some(region),
            ..BlockData::default()
        });
        for ty in arg_types {
            self.add_block_arg(block, ty, Location::Unknown);
        }
        self.regions[region].blocks.push(block);
        block
    }

    pub fn add_block_arg(&mut self, block: Block, ty: Type, loc: Location) -> Value {
        let index = index_u32(self.blocks[block].args.len());
        let v = self.values.push(ValueData {
            ty,
            def: ValueDef::BlockArg { block, index },
        });
        let b = &mut self.blocks[block];
        b.args.push(v);
        b.arg_locs.push(loc);
        v
    }

    /// Create `func.func @name` in the module body with an entry block; returns (func op, entry).
    pub fn add_func(&mut self, name: &str, inputs: Vec<Type>, results: Vec<Type>) -> (Op, Block) {
        let fty = FunctionType {
            inputs: inputs.clone(),
            results,
        };
        let func = self.create_op(
            OpSpec::new(FUNC_OP)
                .prop("function_type", Attribute::Type(Type::Function(fty)))
                .prop("sym_name", Attribute::string(name))
                .regions(1),
        );
        let entry = self.add_block(self.ops[func].regions[0], inputs);
        let body = self.body().expect("module has a body block");
        self.append_op(body, func);
        (func, entry)
    }

    /// Create an op and append it to `block`; returns the op.
    pub fn build_at_end(&mut self, block: Block, spec: OpSpec) -> Op {
        let op = self.create_op(spec);
        self.append_op(block, op);
        op
    }

    // ---- placement ------------------------------------------------------------------------

    /// Attach a detached op at the end of `block`.
    pub fn append_op(&mut self, block: Block, op: Op) {
        debug_assert!(self.ops[op].parent.is_none(), "op is already attached");
        self.ops[op].parent = Some(block);
        self.blocks[block].ops.push(op);
    }

    /// Attach a detached op right before the attached op `anchor`.
    pub fn insert_before(&mut self, anchor: Op, op: Op) {
        let block = self.ops[anchor].parent.expect("anchor is attached");
        let pos = self.position_in_block(anchor);
        self.ops[op].parent = Some(block);
        self.blocks[block].ops.insert(pos, op);
    }

    /// Attach a detached op right after the attached op `anchor`.
    pub fn insert_after(&mut self, anchor: Op, op: Op) {
        let block = self.ops[anchor].parent.expect("anchor is attached");
        let pos = self.position_in_block(anchor);
        self.ops[op].parent = Some(block);
        self.blocks[block].ops.insert(pos + 1, op);
    }

    /// Detach `op` from its block, keeping it alive (it can be attached again).
    pub fn detach(&mut self, op: Op) {
        if let Some(block) = self.ops[op].parent.take() {
            self.blocks[block].ops.retain(|&o| o != op);
        }
    }

    /// Detach and erase `op` together with everything nested in its regions.
    pub fn erase_op(&mut self, op: Op) {
        self.detach(op);
        let mut nested = Vec::new();
        self.walk_op(op, &mut |o| nested.push(o));
        for o in nested {
            self.ops[o].erased = true;
        }
    }

    /// Position of an attached op within its block.
    pub fn position_in_block(&self, op: Op) -> usize {
        let block = self.ops[op].parent.expect("op is attached");
        self.blocks[block]
            .ops
            .iter()
            .position(|&o| o == op)
            .expect("parent block lists its op")
    }

    // ---- queries --------------------------------------------------------------------------

    pub fn op(&self, op: Op) -> &OpData {
        &self.ops[op]
    }

    pub fn op_mut(&mut self, op: Op) -> &mut OpData {
        &mut self.ops[op]
    }

    pub fn result(&self, op: Op, index: usize) -> Value {
        self.ops[op].results[index]
    }

    pub fn value_type(&self, v: Value) -> &Type {
        &self.values[v].ty
    }

    /// The op defining `v`, if it is an op result.
    pub fn defining_op(&self, v: Value) -> Option<Op> {
        match self.values[v].def {
            ValueDef::Result { op, .. } => Some(op),
            ValueDef::BlockArg { .. } => None,
        }
    }

    /// The op whose region contains `block`.
    pub fn block_parent_op(&self, block: Block) -> Option<Op> {
        self.regions[self.blocks[block].parent?].parent
    }

    /// The op that (transitively) contains `op`, one level up.
    pub fn parent_op(&self, op: Op) -> Option<Op> {
        self.block_parent_op(self.ops[op].parent?)
    }

    /// All `func.func` ops in the module body, in order.
    pub fn funcs(&self) -> Vec<Op> {
        self.body()
            .map(|b| {
                self.blocks[b]
                    .ops
                    .iter()
                    .copied()
                    .filter(|&o| self.ops[o].name == FUNC_OP)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The entry block of a function-like op (first block of its first region).
    pub fn entry_block(&self, op: Op) -> Option<Block> {
        let region = *self.ops[op].regions.first()?;
        self.regions[region].blocks.first().copied()
    }

    // ---- traversal ------------------------------------------------------------------------

    /// Visit `op` and every op nested in its regions, pre-order, in block order.
    pub fn walk_op(&self, op: Op, f: &mut impl FnMut(Op)) {
        f(op);
        for &region in &self.ops[op].regions {
            for &block in &self.regions[region].blocks {
                for &child in &self.blocks[block].ops {
                    self.walk_op(child, f);
                }
            }
        }
    }

    /// Every attached op in the module, pre-order (the top op first).
    pub fn all_ops(&self) -> Vec<Op> {
        let mut out = Vec::new();
        self.walk_op(self.top, &mut |o| out.push(o));
        out
    }

    /// For each value, the attached ops that use it (in walk order, one entry per use).
    pub fn uses(&self) -> SecondaryMap<Value, Vec<Op>> {
        let mut uses: SecondaryMap<Value, Vec<Op>> = SecondaryMap::default();
        self.walk_op(self.top, &mut |op| {
            for &v in &self.ops[op].operands {
                uses[v].push(op);
            }
        });
        uses
    }

    /// Replace every use of `old` by `new` in attached ops. Returns the number of uses replaced.
    pub fn replace_all_uses(&mut self, old: Value, new: Value) -> usize {
        let mut n = 0;
        for op in self.all_ops() {
            for v in &mut self.ops[op].operands {
                if *v == old {
                    *v = new;
                    n += 1;
                }
            }
        }
        n
    }

    /// Number of attached ops (the top op included).
    pub fn num_ops(&self) -> usize {
        self.all_ops().len()
    }
}

fn index_u32(i: usize) -> u32 {
    u32::try_from(i).expect("more than u32::MAX results or arguments")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ElemType, TensorType};

    fn t2() -> Type {
        Type::Tensor(TensorType::static_shape(&[2], ElemType::F32))
    }

    #[test]
    fn build_walk_and_replace_uses() {
        let mut m = Module::new();
        let (_f, entry) = m.add_func("main", vec![t2()], vec![t2()]);
        let x = m.blocks[entry].args[0];
        let add = m.build_at_end(
            entry,
            OpSpec::new("onnx.Add").operands([x, x]).results([t2()]),
        );
        let y = m.result(add, 0);
        let ret = m.build_at_end(entry, OpSpec::new(RETURN_OP).operands([y]));
        assert_eq!(m.uses()[x].len(), 2);
        assert_eq!(m.replace_all_uses(y, x), 1);
        assert_eq!(m.ops[ret].operands, vec![x]);
        m.erase_op(add);
        assert!(m.ops[add].erased);
        assert_eq!(m.blocks[entry].ops, vec![ret]);
        // module, func, return
        assert_eq!(m.num_ops(), 3);
    }

    #[test]
    fn insert_before_and_after_keep_order() {
        let mut m = Module::new();
        let (_f, entry) = m.add_func("main", vec![], vec![]);
        let a = m.build_at_end(entry, OpSpec::new("t.a"));
        let c = m.build_at_end(entry, OpSpec::new("t.c"));
        let b = m.create_op(OpSpec::new("t.b"));
        m.insert_before(c, b);
        let d = m.create_op(OpSpec::new("t.d"));
        m.insert_after(c, d);
        assert_eq!(m.blocks[entry].ops, vec![a, b, c, d]);
        assert_eq!(m.parent_op(b), m.funcs().first().copied());
    }
}
