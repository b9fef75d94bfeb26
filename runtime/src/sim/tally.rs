//! Traffic and work accounting: what every executed instruction moved and computed.
//!
//! DRAM bytes are split by *tensor class*, the role a DRAM tensor plays, read from the
//! compiler's naming convention (the tensor table carries no role beyond input/output/const):
//! `const.*` tables, names ending `.q`, `.k`/`.v`, `.khat`, `.ahat`, `.a` (staged spill) and
//! `.out`, other `const` tensors as weights, everything else as activations. An LD, ST or
//! GATHER is attributed to the tensor containing its DRAM address (a GATHER's base); an address
//! inside no tensor is `unmapped`.

use serde::{Deserialize, Serialize};
use sofa_ir::hw::timing::{Cuts, PerInterval};
use sofa_ir::isa::{Instr, Program, TensorDecl, TensorKind};

use super::exec::ExecOutcome;
use super::SimError;

/// The role of a DRAM tensor, for the per-class traffic of the report.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorClass {
    /// Queries (`*.q`).
    Q,
    /// Keys and values (`*.k`, `*.v`).
    Kv,
    /// Predicted keys K̂ (`*.khat`).
    Khat,
    /// Predicted scores Â (`*.ahat`).
    Ahat,
    /// Staged attention partials (`*.a`).
    A,
    /// Attention outputs (`*.out`).
    Out,
    /// Compiler-made constant tables (`const.*`: masks, slot maps).
    Tables,
    /// Model weights (other `const` tensors).
    Weights,
    /// Everything else: model inputs, intermediate activations, outputs of other layers.
    Activations,
    /// An address inside no tensor of the table.
    Unmapped,
}

/// Number of tensor classes.
pub(crate) const CLASSES: usize = 10;

impl TensorClass {
    /// Every class, in report order.
    pub const ALL: [TensorClass; CLASSES] = [
        TensorClass::Q,
        TensorClass::Kv,
        TensorClass::Khat,
        TensorClass::Ahat,
        TensorClass::A,
        TensorClass::Out,
        TensorClass::Tables,
        TensorClass::Weights,
        TensorClass::Activations,
        TensorClass::Unmapped,
    ];

    /// The report spelling (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            TensorClass::Q => "q",
            TensorClass::Kv => "kv",
            TensorClass::Khat => "khat",
            TensorClass::Ahat => "ahat",
            TensorClass::A => "a",
            TensorClass::Out => "out",
            TensorClass::Tables => "tables",
            TensorClass::Weights => "weights",
            TensorClass::Activations => "activations",
            TensorClass::Unmapped => "unmapped",
        }
    }

    /// The class of a tensor from its name and kind.
    pub fn of(decl: &TensorDecl) -> TensorClass {
        let n = decl.name.as_str();
        if n.starts_with("const.") {
            TensorClass::Tables
        } else if n.ends_with(".q") {
            TensorClass::Q
        } else if n.ends_with(".k") || n.ends_with(".v") {
            TensorClass::Kv
        } else if n.ends_with(".khat") {
            TensorClass::Khat
        } else if n.ends_with(".ahat") {
            TensorClass::Ahat
        } else if n.ends_with(".a") {
            TensorClass::A
        } else if n.ends_with(".out") {
            TensorClass::Out
        } else if decl.kind == TensorKind::Const {
            TensorClass::Weights
        } else {
            TensorClass::Activations
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// DRAM ranges of the tensors, sorted by start, for address → class lookups.
struct DramMap(Vec<(u64, u64, TensorClass)>);

impl DramMap {
    fn new(program: &Program) -> DramMap {
        let mut ranges: Vec<(u64, u64, TensorClass)> = program
            .tensors
            .iter()
            .filter_map(|t| {
                let end = t.dram.checked_add(t.byte_len()?)?;
                Some((t.dram, end, TensorClass::of(t)))
            })
            .collect();
        ranges.sort_unstable_by_key(|r| (r.0, r.1));
        DramMap(ranges)
    }

    fn class_of(&self, addr: u64) -> TensorClass {
        let i = self.0.partition_point(|r| r.0 <= addr);
        match i.checked_sub(1).and_then(|j| self.0.get(j)) {
            Some(&(_, end, class)) if addr < end => class,
            _ => TensorClass::Unmapped,
        }
    }
}

/// The DRAM address an instruction's traffic is attributed to.
fn dram_address(instr: &Instr) -> Option<u64> {
    match instr {
        Instr::Ld { src, .. } | Instr::Gather { src, .. } => Some(src.0),
        Instr::St { dst, .. } => Some(dst.0),
        _ => None,
    }
}

/// Totals over a run (or a region).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub dram_read: [u64; CLASSES],
    pub dram_written: [u64; CLASSES],
    /// Indexed by `SramSpace::code()`.
    pub sram_read: [u64; 3],
    pub sram_written: [u64; 3],
    pub ops: u64,
    pub dense_ops: u64,
    /// The model's multiply-accumulates on chip (GEMM, KVGEN, SUFA.T).
    pub macs: u64,
}

/// The figures of instructions that regions sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InstrTally {
    pub ops: u64,
    pub dense_ops: u64,
    pub dram_read: u64,
    pub dram_written: u64,
}

/// Accumulates [`ExecOutcome`]s.
pub(crate) struct Accounts {
    map: DramMap,
    pub total: Tally,
    /// Per interval of the report's region cuts, kept when it splits by region.
    pub per_interval: Option<PerInterval<InstrTally>>,
}

impl Accounts {
    pub fn new(program: &Program, cuts: Option<Cuts>) -> Accounts {
        Accounts {
            map: DramMap::new(program),
            total: Tally::default(),
            per_interval: cuts.map(PerInterval::new),
        }
    }

    /// Add what instruction `index` did.
    pub fn add(&mut self, index: usize, instr: &Instr, o: &ExecOutcome) -> Result<(), SimError> {
        let sum = |a: &mut u64, b: u64| -> Result<(), SimError> {
            *a = a.checked_add(b).ok_or_else(|| {
                SimError::at(index, instr, "traffic or operation count overflows 64 bits")
            })?;
            Ok(())
        };
        let t = &mut self.total;
        if o.dram_read > 0 || o.dram_written > 0 {
            let class = dram_address(instr)
                .map_or(TensorClass::Unmapped, |a| self.map.class_of(a))
                .slot();
            sum(&mut t.dram_read[class], o.dram_read)?;
            sum(&mut t.dram_written[class], o.dram_written)?;
        }
        for s in 0..3 {
            sum(&mut t.sram_read[s], o.sram_read[s])?;
            sum(&mut t.sram_written[s], o.sram_written[s])?;
        }
        sum(&mut t.ops, o.ops)?;
        sum(&mut t.dense_ops, o.dense_ops)?;
        sum(&mut t.macs, o.macs)?;
        if let Some(tallies) = self.per_interval.as_mut() {
            let t = tallies.at_mut(index);
            sum(&mut t.ops, o.ops)?;
            sum(&mut t.dense_ops, o.dense_ops)?;
            sum(&mut t.dram_read, o.dram_read)?;
            sum(&mut t.dram_written, o.dram_written)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sofa_ir::isa::DType;

    fn decl(name: &str, kind: TensorKind, dram: u64) -> TensorDecl {
        TensorDecl {
            name: name.into(),
            kind,
            dtype: DType::U8,
            shape: vec![16],
            dram,
            data: if kind == TensorKind::Const {
                vec![0; 16].into()
            } else {
                Default::default()
            },
            weights: None,
        }
    }

    #[test]
    fn classes_follow_the_naming_convention() {
        let cases = [
            ("l0.q", TensorKind::Scratch, TensorClass::Q),
            ("l0.k", TensorKind::Scratch, TensorClass::Kv),
            ("l0.v", TensorKind::Scratch, TensorClass::Kv),
            ("l0.khat", TensorKind::Scratch, TensorClass::Khat),
            ("l0.spill.ahat", TensorKind::Scratch, TensorClass::Ahat),
            ("l0.spill.a", TensorKind::Scratch, TensorClass::A),
            ("l0.out", TensorKind::Output, TensorClass::Out),
            (
                "const.causal_mask.r4",
                TensorKind::Const,
                TensorClass::Tables,
            ),
            ("wq", TensorKind::Const, TensorClass::Weights),
            ("input_ids", TensorKind::Input, TensorClass::Activations),
        ];
        for (name, kind, class) in cases {
            assert_eq!(TensorClass::of(&decl(name, kind, 0)), class, "{name}");
        }
    }

    #[test]
    fn addresses_map_to_the_containing_tensor() {
        let program = Program {
            tensors: vec![
                decl("b.k", TensorKind::Scratch, 0x100),
                decl("a.q", TensorKind::Scratch, 0x0),
            ],
            ..Program::default()
        };
        let map = DramMap::new(&program);
        assert_eq!(map.class_of(0x0), TensorClass::Q);
        assert_eq!(map.class_of(0xf), TensorClass::Q);
        assert_eq!(map.class_of(0x10), TensorClass::Unmapped);
        assert_eq!(map.class_of(0x10f), TensorClass::Kv);
        assert_eq!(map.class_of(0x110), TensorClass::Unmapped);
    }
}
