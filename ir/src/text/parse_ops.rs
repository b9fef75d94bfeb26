//! Parsing operations, regions and blocks (MLIR generic op syntax).
//!
//! The op is created as soon as its name, operands and properties are read, so its regions can be
//! parsed straight into it; operands and results are bound once the type signature at the end of
//! the op is known.

use std::collections::HashSet;

use super::error::{PError, PResult};
use super::is_isolated;
use super::lexer::Tok;
use super::parser::Parser;
use super::scope::{Def, ValueUse};
use crate::attr::AttrDict;
use crate::location::Location;
use crate::module::{Block, Op, OpData, Region, RegionData, ValueData, ValueDef};
use crate::types::{FunctionType, Type};

/// What `parse_op_head` read: the op is created, its operands and results are not bound yet.
struct OpHead<'s> {
    groups: Vec<ResultGroup<'s>>,
    uses: Vec<ValueUse<'s>>,
    op: Op,
    isolated: bool,
    /// What was parsed last, for the "expected ':' after ..." message.
    after: &'static str,
}

/// `%name` or `%name:count` on the left of `=`.
struct ResultGroup<'s> {
    name: &'s str,
    count: u32,
    pos: usize,
}

impl<'s> Parser<'s> {
    /// One operation, created detached (the caller places it).
    ///
    /// Split in head, regions and tail so the frame that recurses into regions stays small: in
    /// debug builds every temporary of a function keeps its own stack slot.
    pub fn parse_op(&mut self) -> PResult<Op> {
        let mut head = self.parse_op_head()?;
        if self.eat(Tok::LParen)? {
            head.after = "regions";
            loop {
                self.parse_region(head.op, head.isolated)?;
                if !self.eat(Tok::Comma)? {
                    break;
                }
            }
            self.expect(Tok::RParen, "',' or ')' after a region")?;
        }
        let op = head.op;
        self.parse_op_tail(head)?;
        Ok(op)
    }

    /// Results, name, operands and properties; creates the op.
    #[inline(never)]
    fn parse_op_head(&mut self) -> PResult<OpHead<'s>> {
        let groups = self.parse_result_groups()?;
        let name_what = if groups.is_empty() {
            "an operation (a quoted op name or '%result =')"
        } else {
            "a quoted op name after '='"
        };
        let name_tok = self.expect(Tok::String, name_what)?;
        let name = self.string_value(name_tok)?;
        if name.is_empty() {
            return Err(PError::new(name_tok.start, "empty operation name"));
        }
        self.expect(Tok::LParen, "'(' after the operation name")?;
        let uses = self.parse_operand_uses()?;
        if self.at(Tok::LSquare) {
            return Err(PError::new(
                self.tok.start,
                "block successors are not supported",
            ));
        }
        let mut after = "operand list";
        let mut props = AttrDict::new();
        if self.at(Tok::Less) {
            after = "properties";
            self.advance()?;
            props = self.parse_attr_dict()?;
            self.expect(Tok::Greater, "'>' after properties")?;
        }
        let isolated = is_isolated(&name);
        let op = self.m.ops.push(OpData {
            name,
            operands: Vec::new(),
            results: Vec::new(),
            props,
            attrs: AttrDict::new(),
            regions: Vec::new(),
            loc: Location::Unknown,
            parent: None,
            erased: false,
        });
        Ok(OpHead {
            groups,
            uses,
            op,
            isolated,
            after,
        })
    }

    /// Attributes, the type signature and the location; binds operands and results.
    #[inline(never)]
    fn parse_op_tail(&mut self, head: OpHead<'s>) -> PResult<()> {
        let OpHead {
            groups,
            uses,
            op,
            mut after,
            ..
        } = head;
        if self.at(Tok::LBrace) {
            after = "attributes";
            self.m.ops[op].attrs = self.parse_attr_dict()?;
        }
        if !self.at(Tok::Colon) {
            return Err(self.expected(&format!("':' after {after}")));
        }
        self.advance()?;
        let sig_pos = self.tok.start;
        let sig = match self.parse_type()? {
            Type::Function(f) => f,
            other => {
                return Err(PError::new(
                    sig_pos,
                    format!(
                        "expected the op's function type '(operands) -> results', found {}",
                        super::print_type(&other)
                    ),
                ))
            }
        };
        self.m.ops[op].loc = self.parse_trailing_loc()?;
        self.bind_operands(op, &uses, &sig, sig_pos)?;
        self.bind_results(op, &groups, sig.results)
    }

    fn parse_result_groups(&mut self) -> PResult<Vec<ResultGroup<'s>>> {
        let mut groups = Vec::new();
        if !self.at(Tok::PercentId) {
            return Ok(groups);
        }
        loop {
            let t = self.expect(Tok::PercentId, "a result name")?;
            let mut count = 1;
            if self.eat(Tok::Colon)? {
                let n = self.expect(Tok::Int, "a result count after ':'")?;
                count = self
                    .text(n)
                    .parse::<u32>()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| PError::new(n.start, "result count must be at least 1"))?;
            }
            groups.push(ResultGroup {
                name: self.text(t),
                count,
                pos: t.start,
            });
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::Equal, "'=' after result names")?;
        Ok(groups)
    }

    /// `%a, %b#1)` (the `(` is consumed by the caller).
    fn parse_operand_uses(&mut self) -> PResult<Vec<ValueUse<'s>>> {
        let mut uses = Vec::new();
        if self.eat(Tok::RParen)? {
            return Ok(uses);
        }
        loop {
            let t = self.expect(Tok::PercentId, "an operand (%name)")?;
            let mut index = 0;
            if self.at(Tok::HashId) {
                let h = self.tok;
                index = self.text(h)[1..]
                    .parse::<u32>()
                    .map_err(|_| PError::new(h.start, "expected a result number after '#'"))?;
                self.advance()?;
            }
            uses.push(ValueUse {
                name: self.text(t),
                index,
                pos: t.start,
            });
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::RParen, "',' or ')' in the operand list")?;
        Ok(uses)
    }

    fn bind_operands(
        &mut self,
        op: Op,
        uses: &[ValueUse<'s>],
        sig: &FunctionType,
        sig_pos: usize,
    ) -> PResult<()> {
        if uses.len() != sig.inputs.len() {
            return Err(PError::new(
                sig_pos,
                format!(
                    "the op has {} operand(s) but its type lists {} operand type(s)",
                    uses.len(),
                    sig.inputs.len()
                ),
            ));
        }
        // Forward references are patched into these slots when their definition is parsed.
        let mut operands = Vec::with_capacity(uses.len());
        for (slot, (&u, ty)) in uses.iter().zip(&sig.inputs).enumerate() {
            operands.push(self.resolve_use(op, slot, u, ty)?);
        }
        self.m.ops[op].operands = operands;
        Ok(())
    }

    fn bind_results(
        &mut self,
        op: Op,
        groups: &[ResultGroup<'s>],
        types: Vec<Type>,
    ) -> PResult<()> {
        let bound: u64 = groups.iter().map(|g| u64::from(g.count)).sum();
        if !groups.is_empty() && bound != types.len() as u64 {
            return Err(PError::new(
                groups[0].pos,
                format!(
                    "{bound} result(s) named but the op's type has {} result(s)",
                    types.len()
                ),
            ));
        }
        let results: Vec<_> = types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                self.m.values.push(ValueData {
                    ty,
                    def: ValueDef::Result {
                        op,
                        index: i as u32,
                    },
                })
            })
            .collect();
        let mut offset = 0usize;
        for g in groups {
            let def = Def {
                first: results[offset],
                count: g.count,
            };
            self.define(g.name, g.pos, def)?;
            offset += g.count as usize;
        }
        self.m.ops[op].results = results;
        Ok(())
    }

    /// `{ blocks }`, appended to `op`'s regions.
    fn parse_region(&mut self, op: Op, isolated: bool) -> PResult<()> {
        self.nested(|p| {
            p.expect(Tok::LBrace, "'{' to open a region")?;
            let region = p.m.regions.push(RegionData {
                blocks: Vec::new(),
                parent: Some(op),
            });
            p.m.ops[op].regions.push(region);
            p.push_scope(isolated);
            if !p.at(Tok::RBrace) {
                p.parse_region_body(region)?;
            }
            p.expect(Tok::RBrace, "'}' to close the region")?;
            p.pop_scope()
        })
    }

    /// An optional unlabeled entry block, then `^label(args):` blocks.
    fn parse_region_body(&mut self, region: Region) -> PResult<()> {
        if !self.at(Tok::CaretId) {
            let block = self.m.add_block(region, Vec::new());
            self.parse_block_ops(block)?;
        }
        let mut labels = HashSet::new();
        while self.at(Tok::CaretId) {
            self.parse_labeled_block(region, &mut labels)?;
        }
        Ok(())
    }

    /// `^label(args):` and the block's ops.
    #[inline(never)]
    fn parse_labeled_block(
        &mut self,
        region: Region,
        labels: &mut HashSet<&'s str>,
    ) -> PResult<()> {
        let label = self.tok;
        if !labels.insert(self.text(label)) {
            return Err(PError::new(
                label.start,
                format!("redefinition of block '{}'", self.text(label)),
            ));
        }
        self.advance()?;
        let block = self.m.add_block(region, Vec::new());
        if self.eat(Tok::LParen)? {
            self.parse_block_args(block)?;
        }
        self.expect(Tok::Colon, "':' after the block label")?;
        self.parse_block_ops(block)
    }

    /// `%a: T loc(..), ...)` (the `(` is consumed by the caller).
    fn parse_block_args(&mut self, block: Block) -> PResult<()> {
        if self.eat(Tok::RParen)? {
            return Ok(());
        }
        loop {
            let name = self.expect(Tok::PercentId, "a block argument (%name)")?;
            self.expect(Tok::Colon, "':' after the block argument name")?;
            let ty = self.parse_type()?;
            let loc = self.parse_trailing_loc()?;
            let v = self.m.add_block_arg(block, ty, loc);
            let def = Def { first: v, count: 1 };
            self.define(self.text(name), name.start, def)?;
            if !self.eat(Tok::Comma)? {
                break;
            }
        }
        self.expect(Tok::RParen, "',' or ')' after a block argument")?;
        Ok(())
    }

    fn parse_block_ops(&mut self, block: Block) -> PResult<()> {
        while !matches!(self.tok.kind, Tok::RBrace | Tok::CaretId | Tok::Eof) {
            let op = self.parse_op()?;
            self.m.append_op(block, op);
        }
        Ok(())
    }
}
