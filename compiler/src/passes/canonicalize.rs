//! `canonicalize`: constant folding, then DCE and CSE, repeated to a fixpoint.
//!
//! One round:
//! 1. **Fold.** Every op whose def has a `fold` hook (and is not itself `ConstantLike`) and whose
//!    results are used gets the hook called with the constant value of each operand (`None` for
//!    non-constant ones; the hook decides what it can fold). Each folded result becomes a new
//!    constant op — the `ConstantLike` op of the op's own dialect (`onnx.Constant` for `onnx.*`)
//!    with the result in its `value` attribute — inserted right before the op and given the op's
//!    location; uses are redirected to it. Ops of a dialect without a constant op are skipped, and
//!    so are folds whose tensor type differs from the result type (types never change here).
//!    Folds chain within a round: operands are redirected as the walk reaches each op, so a
//!    consumer later in the walk already sees the new constant.
//! 2. **DCE** ([`super::dce`]) removes the folded ops and constants nobody uses.
//! 3. **CSE** ([`super::cse`], block-local) merges equal constants and equal ops.
//!
//! Rounds repeat until one changes nothing, or `max-iterations` rounds have run. Statistics:
//! `ops-folded`, `ops-erased`, `ops-merged`, `iterations`, and `converged` (0 when the limit cut
//! the run short).

use std::collections::BTreeMap;

use sofa_ir::attr::Attribute;
use sofa_ir::dialect::{DialectRegistry, OpDef, Trait};
use sofa_ir::pass::{
    OptionKind, OptionValue, Pass, PassBuildError, PassContext, PassError, PassInfo, PassOption,
    PassOutcome,
};
use sofa_ir::{Module, Op, OpSpec, SecondaryMap, Type, Value};

use super::cse::merge_common_ops;
use super::dce::erase_dead_ops;
use super::equiv::constant_value;

pub static INFO: PassInfo = PassInfo {
    name: "canonicalize",
    description: "Fold ops with constant operands into constants, then DCE and CSE, to a fixpoint",
    options: &[PassOption {
        name: "max-iterations",
        kind: OptionKind::UInt,
        default: "10",
        help: "maximum number of fold + DCE + CSE rounds (at least 1)",
    }],
    build: |opts| {
        let max_iterations = opts.uint("max-iterations")?;
        if max_iterations == 0 {
            return Err(PassBuildError::Invalid {
                option: "max-iterations",
                expected: "at least 1",
                value: OptionValue::UInt(max_iterations),
            });
        }
        Ok(Box::new(Canonicalize { max_iterations }))
    },
};

/// The `canonicalize` pass.
#[derive(Debug)]
pub struct Canonicalize {
    pub max_iterations: u64,
}

impl Default for Canonicalize {
    fn default() -> Self {
        Canonicalize { max_iterations: 10 }
    }
}

impl Pass for Canonicalize {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> Result<PassOutcome, PassError> {
        let mut changed = false;
        let mut converged = false;
        let (mut folded, mut erased, mut merged, mut iterations) = (0, 0, 0, 0);
        while iterations < self.max_iterations {
            iterations += 1;
            let f = fold_constants(m, cx.dialects)?;
            let e = erase_dead_ops(m, cx.dialects);
            let c = merge_common_ops(m, cx.dialects, false);
            (folded, erased, merged) = (folded + f, erased + e, merged + c);
            if f + e + c == 0 {
                converged = true;
                break;
            }
            changed = true;
        }
        cx.stat("ops-folded", folded);
        cx.stat("ops-erased", erased);
        cx.stat("ops-merged", merged);
        cx.stat("iterations", iterations);
        cx.stat("converged", u64::from(converged));
        Ok(PassOutcome::from_changed(changed))
    }
}

/// One folding sweep in pre-order. Returns the number of ops folded.
pub fn fold_constants(m: &mut Module, dialects: &DialectRegistry) -> Result<u64, PassError> {
    let mut folder = Folder {
        dialects,
        uses: m.uses(),
        constant_ops: BTreeMap::new(),
        replaced: SecondaryMap::with_default(None),
    };
    let mut folded = 0;
    let ops = m.all_ops();
    for &op in &ops {
        folder.rewrite_operands(m, op);
        if folder.try_fold(m, op)? {
            folded += 1;
        }
    }
    // Users follow their producers in pre-order, so this only matters for invalid IR; it keeps
    // every use off the folded ops either way.
    for &op in &ops {
        folder.rewrite_operands(m, op);
    }
    Ok(folded)
}

struct Folder<'a> {
    dialects: &'a DialectRegistry,
    /// Uses at the start of the sweep (they only decrease during it).
    uses: SecondaryMap<Value, Vec<Op>>,
    /// Dialect name → its `ConstantLike` op, looked up once per dialect.
    constant_ops: BTreeMap<&'static str, Option<&'static OpDef>>,
    /// Result of a folded op → the constant replacing it; applied to operands as ops are visited.
    replaced: SecondaryMap<Value, Option<Value>>,
}

impl Folder<'_> {
    fn rewrite_operands(&self, m: &mut Module, op: Op) {
        for v in &mut m.op_mut(op).operands {
            if let Some(new) = self.replaced[*v] {
                *v = new;
            }
        }
    }

    /// Fold `op` if its def has a hook, its dialect a constant op, and some result is used.
    fn try_fold(&mut self, m: &mut Module, op: Op) -> Result<bool, PassError> {
        let data = m.op(op);
        if data.erased
            || data.parent.is_none()
            || data.results.iter().all(|&r| self.uses[r].is_empty())
        {
            return Ok(false);
        }
        let Some(def) = self.dialects.lookup(&data.name) else {
            return Ok(false);
        };
        let Some(fold) = def.fold.filter(|_| !def.has_trait(Trait::ConstantLike)) else {
            return Ok(false);
        };
        let Some(constant_def) = self.constant_op_of(def) else {
            return Ok(false);
        };
        let operands: Vec<Option<Attribute>> = data
            .operands
            .iter()
            .map(|&v| constant_value(m, self.dialects, v))
            .collect();
        let Some(values) = fold(m, op, &operands) else {
            return Ok(false);
        };
        let Some(constants) = materialize(m, op, constant_def, values)? else {
            return Ok(false);
        };
        for (&old, new) in m.op(op).results.iter().zip(constants) {
            self.replaced[old] = Some(new);
        }
        Ok(true)
    }

    /// The `ConstantLike` op of `def`'s dialect (the first by name if there are several).
    fn constant_op_of(&mut self, def: &OpDef) -> Option<&'static OpDef> {
        let dialects = self.dialects;
        *self.constant_ops.entry(def.dialect()).or_insert_with(|| {
            dialects
                .ops()
                .find(|d| d.dialect() == def.dialect() && d.has_trait(Trait::ConstantLike))
        })
    }
}

/// Create one constant per folded value right before `op`; returns their results. Returns `None`
/// (and changes nothing) when a value's tensor type differs from its result's type.
fn materialize(
    m: &mut Module,
    op: Op,
    constant_def: &OpDef,
    values: Vec<Attribute>,
) -> Result<Option<Vec<Value>>, PassError> {
    let results = m.op(op).results.clone();
    if values.len() != results.len() {
        return Err(PassError::new(format!(
            "fold hook of '{}' returned {} value(s) for {} result(s)",
            m.op(op).name,
            values.len(),
            results.len()
        )));
    }
    if !results
        .iter()
        .zip(&values)
        .all(|(&r, v)| type_matches(m.value_type(r), v))
    {
        return Ok(None);
    }
    let loc = m.op(op).loc.clone();
    let mut constants = Vec::with_capacity(results.len());
    for (r, value) in results.into_iter().zip(values) {
        let ty = m.value_type(r).clone();
        let constant = m.create_op(
            OpSpec::new(constant_def.name)
                .attr("value", value)
                .results([ty])
                .loc(loc.clone()),
        );
        m.insert_before(op, constant);
        constants.push(m.result(constant, 0));
    }
    Ok(Some(constants))
}

/// A tensor constant must have exactly the result's type; other attributes are left to the
/// constant op's verifier.
fn type_matches(result: &Type, value: &Attribute) -> bool {
    match value {
        Attribute::Dense(d) => result.as_tensor() == Some(d.ty()),
        Attribute::DenseResource { ty, .. } => result.as_tensor() == Some(ty),
        _ => true,
    }
}
