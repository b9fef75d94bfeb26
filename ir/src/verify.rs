//! The verifier: checks a [`Module`] against the structural invariants of the IR and the
//! schemas of the registered ops, collecting **every** error rather than stopping at the first.
//!
//! Invariants, in the order they are checked:
//!
//! 1. **Handles** — every op, value, block and region key reachable from the top op is in range
//!    of its arena, no attached op is marked erased, and parent links agree with containment
//!    (an op's `parent` is the block listing it, a block's the region, a region's the op).
//!    Results and block arguments point back at their definer (`ValueDef`). If any of this fails
//!    the verifier stops there: the later checks index the arenas and rely on it.
//! 2. **Top op** — the top op is a `builtin.module`.
//! 3. **Registration** — every op name is registered in the [`DialectRegistry`].
//! 4. **Schema** — operand/result arity, region count, attributes and properties: no unknown
//!    names, every required one present, each of the declared kind; `dense_resource` keys exist
//!    in the module's resource table with a payload of the right length; dense attributes have
//!    static types.
//! 5. **Terminators** — an op with the `Terminator` trait is the last op of its block; in a
//!    region of several blocks no block is empty (MLIR's rule: only a lone block may be empty).
//! 6. **Dominance** — every operand is defined before its use: earlier in the same block, an
//!    argument of the same block, or (recursively) visible in an enclosing block before the
//!    ancestor op, without crossing an `IsolatedFromAbove` op. Values from sibling blocks are
//!    rejected (sofa's regions are single-block; there is no branch to make them dominate).
//! 7. **Custom checks** — each op's `OpDef::verify` hook.
//!
//! Each error names the op (its name, its position in pre-order and its location); the module
//! text is never pasted into errors.

use std::collections::HashSet;
use std::fmt;

use crate::attr::{AttrDict, Attribute};
use crate::dialect::{AttrDef, DialectRegistry, OpDef, Trait};
use crate::entity::EntityRef;
use crate::location::Location;
use crate::module::{Block, Module, Op, Value, ValueDef, MODULE_OP};
use crate::types::Type;

/// One problem found in one op.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifierError {
    /// The op at fault (its arena key).
    pub op: Op,
    /// Its position in a pre-order walk from the top op (0 = `builtin.module`), which is also
    /// its order of appearance in the printed text.
    pub op_index: usize,
    pub op_name: String,
    pub loc: Location,
    pub message: String,
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' op #{} at {}: {}",
            self.op_name,
            self.op_index,
            describe_loc(&self.loc),
            self.message
        )
    }
}

/// All errors found in a module, in pre-order of the ops.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VerifierErrors(pub Vec<VerifierError>);

impl fmt::Display for VerifierErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifierErrors {}

/// Check `m` against every invariant listed in the module doc.
pub fn verify(m: &Module, reg: &DialectRegistry) -> Result<(), VerifierErrors> {
    let mut v = Verifier {
        m,
        reg,
        errors: Vec::new(),
        order: Vec::new(),
    };
    v.check_handles();
    if v.errors.is_empty() {
        v.order = m.all_ops();
        v.check_ops();
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        v.errors.sort_by_key(|e| e.op_index);
        Err(VerifierErrors(v.errors))
    }
}

struct Verifier<'a> {
    m: &'a Module,
    reg: &'a DialectRegistry,
    errors: Vec<VerifierError>,
    /// Attached ops in pre-order (filled once handles are known to be valid).
    order: Vec<Op>,
}

impl Verifier<'_> {
    fn report(&mut self, op: Op, op_index: usize, message: impl Into<String>) {
        let (op_name, loc) = match self.m.ops.get(op) {
            Some(d) => (d.name.clone(), d.loc.clone()),
            None => (String::from("<invalid op>"), Location::Unknown),
        };
        self.errors.push(VerifierError {
            op,
            op_index,
            op_name,
            loc,
            message: message.into(),
        });
    }

    // ---- 1. handles -----------------------------------------------------------------------

    /// Walk from the top op without trusting any key, checking ranges and back-links.
    fn check_handles(&mut self) {
        let m = self.m;
        if !m.ops.is_valid(m.top) {
            self.report(m.top, 0, "the module's top op handle is out of range");
            return;
        }
        let mut seen = HashSet::new();
        let mut stack = vec![(m.top, None::<Block>)];
        let mut index = 0usize;
        while let Some((op, parent)) = stack.pop() {
            let here = index;
            index += 1;
            if !seen.insert(op) {
                self.report(op, here, "op is attached in more than one place");
                continue;
            }
            let data = &m.ops[op];
            if data.erased {
                self.report(op, here, "erased op is still attached");
            }
            if data.parent != parent {
                self.report(
                    op,
                    here,
                    "op's parent link does not match the block listing it",
                );
            }
            self.check_value_handles(op, here);
            let mut children = Vec::new();
            for (ri, &region) in data.regions.iter().enumerate() {
                let Some(rdata) = m.regions.get(region) else {
                    self.report(
                        op,
                        here,
                        format!("region #{ri} handle {region} is out of range"),
                    );
                    continue;
                };
                if rdata.parent != Some(op) {
                    self.report(
                        op,
                        here,
                        format!("region #{ri}'s parent link does not point to this op"),
                    );
                }
                for &block in &rdata.blocks {
                    self.check_block_handles(op, here, region, block, &mut children);
                }
            }
            // Reverse so that popping yields pre-order.
            stack.extend(children.into_iter().rev());
        }
    }

    fn check_value_handles(&mut self, op: Op, here: usize) {
        let m = self.m;
        let data = &m.ops[op];
        for (i, &v) in data.operands.iter().enumerate() {
            if !m.values.is_valid(v) {
                self.report(op, here, format!("operand #{i} handle {v} is out of range"));
            }
        }
        for (i, &v) in data.results.iter().enumerate() {
            let ok = m.values.get(v).is_some_and(|d| {
                d.def
                    == ValueDef::Result {
                        op,
                        index: i as u32,
                    }
            });
            if !ok {
                self.report(
                    op,
                    here,
                    format!("result #{i} handle {v} does not point back to this op"),
                );
            }
        }
    }

    fn check_block_handles(
        &mut self,
        op: Op,
        here: usize,
        region: crate::module::Region,
        block: Block,
        children: &mut Vec<(Op, Option<Block>)>,
    ) {
        let m = self.m;
        let Some(bdata) = m.blocks.get(block) else {
            self.report(op, here, format!("block handle {block} is out of range"));
            return;
        };
        if bdata.parent != Some(region) {
            self.report(
                op,
                here,
                format!("{block}'s parent link does not point to its region"),
            );
        }
        if bdata.arg_locs.len() != bdata.args.len() {
            self.report(
                op,
                here,
                format!(
                    "{block} has {} argument(s) but {} argument location(s)",
                    bdata.args.len(),
                    bdata.arg_locs.len()
                ),
            );
        }
        for (i, &a) in bdata.args.iter().enumerate() {
            let ok = m.values.get(a).is_some_and(|d| {
                d.def
                    == ValueDef::BlockArg {
                        block,
                        index: i as u32,
                    }
            });
            if !ok {
                self.report(
                    op,
                    here,
                    format!("argument #{i} of {block} does not point back to its block"),
                );
            }
        }
        for &child in &bdata.ops {
            if m.ops.is_valid(child) {
                children.push((child, Some(block)));
            } else {
                self.report(
                    op,
                    here,
                    format!("{block} lists op handle {child}, which is out of range"),
                );
            }
        }
    }

    // ---- 2..7 -----------------------------------------------------------------------------

    fn check_ops(&mut self) {
        let m = self.m;
        if m.ops[m.top].name != MODULE_OP {
            self.report(m.top, 0, format!("the top-level op must be '{MODULE_OP}'"));
        }
        let order = std::mem::take(&mut self.order);
        for (index, &op) in order.iter().enumerate() {
            match self.reg.lookup(&m.ops[op].name) {
                Some(def) => self.check_schema(op, index, def),
                None => self.report(op, index, "unregistered operation"),
            }
            self.check_attr_payloads(op, index);
            self.check_value_types(op, index);
        }
        self.check_terminators_and_dominance(&order);
        self.order = order;
    }

    fn check_schema(&mut self, op: Op, index: usize, def: &OpDef) {
        let data = &self.m.ops[op];
        if !def.operands.accepts(data.operands.len()) {
            self.report(
                op,
                index,
                format!(
                    "expects {} operand(s), got {}",
                    def.operands.describe(),
                    data.operands.len()
                ),
            );
        }
        if !def.results.accepts(data.results.len()) {
            self.report(
                op,
                index,
                format!(
                    "expects {} result(s), got {}",
                    def.results.describe(),
                    data.results.len()
                ),
            );
        }
        if data.regions.len() != def.regions {
            self.report(
                op,
                index,
                format!(
                    "expects {} region(s), got {}",
                    def.regions,
                    data.regions.len()
                ),
            );
        }
        self.check_attr_dict(op, index, &data.attrs, def.attrs, "attribute");
        self.check_attr_dict(op, index, &data.props, def.props, "property");
        if let Some(hook) = def.verify {
            let mut messages = Vec::new();
            hook(self.m, op, &mut messages);
            for msg in messages {
                self.report(op, index, msg);
            }
        }
    }

    fn check_attr_dict(
        &mut self,
        op: Op,
        index: usize,
        dict: &AttrDict,
        schema: &[AttrDef],
        what: &str,
    ) {
        for (name, value) in dict {
            match schema.iter().find(|d| d.name == name) {
                None => self.report(op, index, format!("unknown {what} '{name}'")),
                Some(d) if !d.kind.accepts(value) => self.report(
                    op,
                    index,
                    format!(
                        "{what} '{name}' must be {}, got {}",
                        d.kind.describe(),
                        value.kind_name()
                    ),
                ),
                Some(_) => {}
            }
        }
        for d in schema.iter().filter(|d| d.required) {
            if !dict.contains_key(d.name) {
                self.report(op, index, format!("missing required {what} '{}'", d.name));
            }
        }
    }

    /// Function types only appear as attributes, never as the type of an SSA value.
    fn check_value_types(&mut self, op: Op, index: usize) {
        let m = self.m;
        let mut bad = Vec::new();
        for (i, &v) in m.ops[op].results.iter().enumerate() {
            if !is_value_type(m.value_type(v)) {
                bad.push(format!("result #{i} has a function type"));
            }
        }
        for &region in &m.ops[op].regions {
            for &block in &m.regions[region].blocks {
                for (i, &a) in m.blocks[block].args.iter().enumerate() {
                    if !is_value_type(m.value_type(a)) {
                        bad.push(format!("block argument #{i} has a function type"));
                    }
                }
            }
        }
        for msg in bad {
            self.report(op, index, msg);
        }
    }

    /// Dense resources must exist and match their type's size, wherever they are nested.
    fn check_attr_payloads(&mut self, op: Op, index: usize) {
        let data = &self.m.ops[op];
        let mut problems = Vec::new();
        for (name, a) in data.attrs.iter().chain(&data.props) {
            self.collect_payload_problems(name, a, &mut problems);
        }
        for p in problems {
            self.report(op, index, p);
        }
    }

    fn collect_payload_problems(&self, name: &str, a: &Attribute, out: &mut Vec<String>) {
        match a {
            Attribute::DenseResource { name: key, ty } => match self.m.resources.get(key) {
                None => out.push(format!(
                    "attribute '{name}' refers to missing resource '{key}'"
                )),
                Some(r) => {
                    let want = ty
                        .num_elements()
                        .and_then(|n| usize::try_from(n).ok())
                        .and_then(|n| n.checked_mul(ty.elem.byte_size()));
                    if want != Some(r.bytes.len()) {
                        out.push(format!(
                            "attribute '{name}': resource '{key}' holds {} bytes, its type needs {}",
                            r.bytes.len(),
                            want.map_or("an unrepresentable number of".to_string(), |w| w.to_string())
                        ));
                    }
                }
            },
            Attribute::Array(xs) => xs
                .iter()
                .for_each(|x| self.collect_payload_problems(name, x, out)),
            Attribute::Dict(d) => d
                .iter()
                .for_each(|(k, x)| self.collect_payload_problems(k, x, out)),
            _ => {}
        }
    }

    fn check_terminators_and_dominance(&mut self, order: &[Op]) {
        let index_of: std::collections::HashMap<Op, usize> =
            order.iter().enumerate().map(|(i, &o)| (o, i)).collect();
        let mut visible: HashSet<Value> = HashSet::new();
        self.check_region_scope(self.m.top, &index_of, &mut visible);
    }

    /// Check the regions of `op` with `visible` holding the values visible from outside.
    fn check_region_scope(
        &mut self,
        op: Op,
        index_of: &std::collections::HashMap<Op, usize>,
        visible: &mut HashSet<Value>,
    ) {
        let m = self.m;
        let isolated = self
            .reg
            .has_trait(&m.ops[op].name, Trait::IsolatedFromAbove);
        let mut outer = if isolated {
            std::mem::take(visible)
        } else {
            HashSet::new()
        };
        for &region in &m.ops[op].regions {
            let blocks = &m.regions[region].blocks;
            if blocks.len() > 1 && blocks.iter().any(|&b| m.blocks[b].ops.is_empty()) {
                let idx = index_of[&op];
                self.report(op, idx, "a region with several blocks has an empty block");
            }
            for &block in blocks {
                let mut scope = visible.clone();
                scope.extend(m.blocks[block].args.iter().copied());
                let ops = &m.blocks[block].ops;
                for (pos, &child) in ops.iter().enumerate() {
                    let idx = index_of[&child];
                    self.check_operands_visible(child, idx, &scope);
                    if pos + 1 != ops.len()
                        && self.reg.has_trait(&m.ops[child].name, Trait::Terminator)
                    {
                        self.report(child, idx, "terminator must be the last op of its block");
                    }
                    self.check_region_scope(child, index_of, &mut scope);
                    scope.extend(m.ops[child].results.iter().copied());
                }
            }
        }
        if isolated {
            std::mem::swap(visible, &mut outer);
        }
    }

    fn check_operands_visible(&mut self, op: Op, index: usize, scope: &HashSet<Value>) {
        let operands = self.m.ops[op].operands.clone();
        for (i, v) in operands.into_iter().enumerate() {
            if !scope.contains(&v) {
                let why = match self.m.values[v].def {
                    ValueDef::Result { op: def, .. } if self.m.ops[def].erased => {
                        "its defining op was erased"
                    }
                    ValueDef::Result { op: def, .. }
                        if self.m.ops[def].parent.is_none() && def != self.m.top =>
                    {
                        "its defining op is not in the module"
                    }
                    _ => "it does not dominate this use",
                };
                self.report(
                    op,
                    index,
                    format!(
                        "operand #{i} ({}) is not visible here: {why}",
                        self.describe_value(v)
                    ),
                );
            }
        }
    }

    fn describe_value(&self, v: Value) -> String {
        match self.m.values[v].def {
            ValueDef::Result { op, index } => {
                format!("result #{index} of '{}'", self.m.ops[op].name)
            }
            ValueDef::BlockArg { block, index } => {
                format!("argument #{index} of {block}", block = block.index())
            }
        }
    }
}

/// `loc("x")`-style rendering without depending on the text printer.
fn describe_loc(loc: &Location) -> String {
    match loc {
        Location::Unknown => "loc(unknown)".into(),
        Location::Name(n) => format!("loc({n:?})"),
        Location::FileLineCol { file, line, col } => format!("loc({file:?}:{line}:{col})"),
        Location::Fused(ls) => {
            let inner: Vec<String> = ls.iter().map(describe_loc).collect();
            format!("loc(fused[{}])", inner.join(", "))
        }
    }
}

/// True when `t` is a type a value may have (functions are only attributes).
fn is_value_type(t: &Type) -> bool {
    !matches!(t, Type::Function(_))
}

#[cfg(test)]
mod tests;
