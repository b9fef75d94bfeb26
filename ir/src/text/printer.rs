//! The printer: ops, regions and blocks in MLIR generic syntax, with canonical value names.
//!
//! Names are assigned in one pre-pass, in text order, so uses that precede their definition
//! (graph-like regions) still print the right name: op results are `%0, %1, ...` (a multi-result
//! op is one group `%3:2`, used as `%3#1`), block arguments `%arg0, %arg1, ...`. Both counters
//! restart inside the regions of an `IsolatedFromAbove` op (functions, modules) and continue
//! through other nested regions, so a name is never reused within one isolated scope.

use super::is_isolated;
use super::print_attrs::{
    write_attr_dict, write_hex_string, write_key, write_loc, write_string, write_type,
    write_type_list,
};
use crate::entity::EntityRef;
use crate::module::{BlockData, Module, Op, Region, Value};
use crate::types::Type;
use std::fmt::Write;

/// Printed for the type of a dangling value handle (invalid IR; printing must not panic).
static INVALID: Type = Type::None;

#[derive(Copy, Clone)]
enum Name {
    Arg(u32),
    /// Result `index` of the group `%number` holding `len` results.
    Result {
        number: u32,
        index: u32,
        len: u32,
    },
}

#[derive(Copy, Clone, Default)]
struct Counters {
    values: u32,
    args: u32,
}

struct Printer<'m> {
    m: &'m Module,
    out: String,
    names: Vec<Option<Name>>,
}

/// Print the whole module, then its resource section if there are resources.
pub(super) fn module_text(m: &Module) -> String {
    let mut p = Printer::new(m);
    p.number_op(m.top, &mut Counters::default());
    p.op(m.top, 0);
    p.out.push('\n');
    p.resources();
    p.out
}

/// Print one op with its regions. Names match what `module_text` prints: numbering starts at the
/// nearest isolated-from-above ancestor (or the outermost reachable op).
pub(super) fn op_text(m: &Module, op: Op) -> String {
    let mut p = Printer::new(m);
    let root = numbering_root(m, op);
    p.number_op(root, &mut Counters::default());
    p.op(op, 0);
    p.out
}

fn numbering_root(m: &Module, op: Op) -> Op {
    let mut cur = op;
    // The bound guards against malformed parent links forming a cycle.
    for _ in 0..m.ops.len() {
        let Some(data) = m.ops.get(cur) else {
            return cur;
        };
        if is_isolated(&data.name) {
            return cur;
        }
        let parent = data
            .parent
            .and_then(|b| m.blocks.get(b))
            .and_then(|b| b.parent)
            .and_then(|r| m.regions.get(r))
            .and_then(|r| r.parent)
            .filter(|&p| m.ops.is_valid(p));
        match parent {
            Some(p) => cur = p,
            None => return cur,
        }
    }
    cur
}

impl<'m> Printer<'m> {
    fn new(m: &'m Module) -> Self {
        Printer {
            m,
            out: String::new(),
            names: vec![None; m.values.len()],
        }
    }

    // ---- naming ---------------------------------------------------------------------------

    fn set_name(&mut self, v: Value, name: Name) {
        if let Some(slot) = self.names.get_mut(v.index()) {
            *slot = Some(name);
        }
    }

    fn number_op(&mut self, op: Op, c: &mut Counters) {
        let Some(data) = self.m.ops.get(op) else {
            return;
        };
        if !data.results.is_empty() {
            let number = c.values;
            c.values += 1;
            let len = data.results.len() as u32;
            for (index, &v) in data.results.iter().enumerate() {
                let index = index as u32;
                self.set_name(v, Name::Result { number, index, len });
            }
        }
        let mut fresh = Counters::default();
        let inner = if is_isolated(&data.name) {
            &mut fresh
        } else {
            c
        };
        for &region in &data.regions {
            self.number_region(region, inner);
        }
    }

    fn number_region(&mut self, region: Region, c: &mut Counters) {
        let m = self.m;
        let blocks = m.regions.get(region).map_or(&[][..], |r| &r.blocks);
        for block in blocks.iter().filter_map(|&b| m.blocks.get(b)) {
            for &arg in &block.args {
                self.set_name(arg, Name::Arg(c.args));
                c.args += 1;
            }
            for &op in &block.ops {
                self.number_op(op, c);
            }
        }
    }

    fn write_value(&mut self, v: Value) {
        match self.names.get(v.index()).copied().flatten() {
            Some(Name::Arg(n)) => {
                let _ = write!(self.out, "%arg{n}");
            }
            Some(Name::Result { number, index, len }) if len > 1 => {
                let _ = write!(self.out, "%{number}#{index}");
            }
            Some(Name::Result { number, .. }) => {
                let _ = write!(self.out, "%{number}");
            }
            // Defined outside what is printed (or not at all): invalid IR, still printable.
            None => {
                let _ = write!(self.out, "%v{}", v.index());
            }
        }
    }

    // ---- structure ------------------------------------------------------------------------

    fn indent(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn op(&mut self, op: Op, indent: usize) {
        let m = self.m;
        self.indent(indent);
        let Some(data) = m.ops.get(op) else {
            let _ = write!(self.out, "<<dangling {op}>>");
            return;
        };
        if let Some(&first) = data.results.first() {
            self.write_value_group(first, data.results.len());
            self.out.push_str(" = ");
        }
        write_string(&mut self.out, &data.name);
        self.out.push('(');
        for (i, &v) in data.operands.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.write_value(v);
        }
        self.out.push(')');
        if !data.props.is_empty() {
            self.out.push_str(" <");
            write_attr_dict(&mut self.out, &data.props);
            self.out.push('>');
        }
        if !data.regions.is_empty() {
            self.out.push_str(" (");
            for (i, &region) in data.regions.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.region(region, indent);
            }
            self.out.push(')');
        }
        if !data.attrs.is_empty() {
            self.out.push(' ');
            write_attr_dict(&mut self.out, &data.attrs);
        }
        self.out.push_str(" : ");
        let ty = |v: &Value| m.values.get(*v).map_or(&INVALID, |d| &d.ty);
        write_type_list(&mut self.out, data.operands.iter().map(ty));
        self.out.push_str(" -> ");
        match data.results.as_slice() {
            [single] if !matches!(ty(single), Type::Function(_)) => {
                write_type(&mut self.out, ty(single));
            }
            results => write_type_list(&mut self.out, results.iter().map(ty)),
        }
        self.out.push(' ');
        write_loc(&mut self.out, &data.loc);
    }

    /// `%3` or `%3:2` for the results of one op.
    fn write_value_group(&mut self, first: Value, len: usize) {
        match self.names.get(first.index()).copied().flatten() {
            Some(Name::Result { number, .. }) if len > 1 => {
                let _ = write!(self.out, "%{number}:{len}");
            }
            Some(Name::Result { number, .. }) => {
                let _ = write!(self.out, "%{number}");
            }
            _ => {
                let _ = write!(self.out, "%v{}", first.index());
                if len > 1 {
                    let _ = write!(self.out, ":{len}");
                }
            }
        }
    }

    /// `{`, the blocks, `}`. Block labels sit at the op's indentation, ops two deeper.
    fn region(&mut self, region: Region, indent: usize) {
        let m = self.m;
        let blocks = m.regions.get(region).map_or(&[][..], |r| &r.blocks);
        self.out.push_str("{\n");
        for (i, &block) in blocks.iter().enumerate() {
            let Some(data) = m.blocks.get(block) else {
                continue;
            };
            // MLIR's generic form labels the entry block when it has arguments or is empty
            // (an unlabeled empty body would read back as a region without blocks).
            if i > 0 || blocks.len() > 1 || !data.args.is_empty() || data.ops.is_empty() {
                self.block_label(data, i, indent);
            }
            for &op in &data.ops {
                self.op(op, indent + 2);
                self.out.push('\n');
            }
        }
        self.indent(indent);
        self.out.push('}');
    }

    fn block_label(&mut self, data: &BlockData, index: usize, indent: usize) {
        let m = self.m;
        self.indent(indent);
        let _ = write!(self.out, "^bb{index}");
        if !data.args.is_empty() {
            self.out.push('(');
            for (i, &arg) in data.args.iter().enumerate() {
                if i > 0 {
                    self.out.push_str(", ");
                }
                self.write_value(arg);
                self.out.push_str(": ");
                let ty = m.values.get(arg).map_or(&INVALID, |d| &d.ty);
                write_type(&mut self.out, ty);
                self.out.push(' ');
                let loc = data.arg_locs.get(i).cloned().unwrap_or_default();
                write_loc(&mut self.out, &loc);
            }
            self.out.push(')');
        }
        self.out.push_str(":\n");
    }

    /// MLIR's file metadata section holding the `dense_resource` blobs.
    fn resources(&mut self) {
        if self.m.resources.is_empty() {
            return;
        }
        self.out
            .push_str("\n{-#\n  dialect_resources: {\n    builtin: {\n");
        for (i, (key, res)) in self.m.resources.iter().enumerate() {
            if i > 0 {
                self.out.push_str(",\n");
            }
            self.out.push_str("      ");
            write_key(&mut self.out, key);
            self.out.push_str(": ");
            write_hex_string(&mut self.out, &res.alignment.to_le_bytes(), &res.bytes);
        }
        self.out.push_str("\n    }\n  }\n#-}\n");
    }
}
