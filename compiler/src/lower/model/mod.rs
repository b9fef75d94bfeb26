//! `lower_model`: a whole fused ONNX model (after `shape-infer{bind=…},canonicalize,
//! fuse-attention`, optionally `sparsify` / `cct-tile`) to ONE SOFA-ISA `Program`.
//!
//! Every value lives in DRAM as a strided `View`: graph inputs and outputs are `input` /
//! `output` tensors named as in ONNX, constants become `const` tensors when an op loads them,
//! op results are `scratch` tensors named after the op's location, and layout ops only make
//! new views. The function body is walked in order; each op that some output depends on emits
//! one self-contained segment (loads on DMA, compute, stores on DMA; see `seg`), attention
//! ops through the attention segment emitter (`plan_layer` + `emit_segment`). `Add`s of a
//! bias or residual right after a matrix product ride in its segment (`fuse`); multi-op idioms
//! (spelled-out RMSNorm, SiLU, rotate-half RoPE) found before the walk are emitted at their last
//! op as one instruction (`idiom`). Ops whose operands are all known at compile time and that
//! have an integer result or no chip lowering are evaluated when the program is built
//! (`static_eval`). The program ends with copies for outputs that are not already their own
//! tensor, then `HALT`. Other ops with no chip lowering are partitioned off to the host
//! (`host`: a `HOST` instruction and a host-op table entry) when
//! `LowerDefaults::host_fallback` allows it; otherwise the lowering fails listing every one of
//! them.
//!
//! Modules: `view` (strided views), `values` (the value table, constants, tensors),
//! `dma` (LD/ST of view windows), `seg` (segments, semaphores), `tiling` (SRAM fits),
//! `vector` (the tile loop of vector-unit ops), and one module per op family (`quant`: the
//! int8 ops, integer GEMM and its dequantizing epilogue).

mod attention;
mod compare;
mod conv;
mod dma;
mod elementwise;
mod fuse;
mod gather;
mod host;
mod idiom;
mod kvfuse;
mod matmul;
mod movement;
mod norm;
mod product;
mod quant;
mod reduce;
mod rope;
mod scatter;
mod seg;
mod static_eval;
mod tiling;
mod values;
mod vector;
mod view;

use std::collections::{BTreeMap, BTreeSet};

use sofa_ir::dialect::attn::{KvPlan, Plan};
use sofa_ir::dialect::attn::{MHA, SPARSE_MHA};
use sofa_ir::dialect::sofa::KERNEL;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{HostOp, Instr, Program};
use sofa_ir::module::RETURN_OP;
use sofa_ir::{Location, Module, Op, Value};

use super::dram::DramLayout;
use super::{LowerDefaults, LowerError, MaskRef, UnloweredOp};
use view::View;

/// The op being lowered, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct OpRef {
    pub op: Op,
    /// `onnx.Add`, `attn.mha`, …
    pub kind: String,
    /// The location as text (ONNX node name).
    pub loc: String,
}

impl OpRef {
    pub fn new(m: &Module, op: Op) -> OpRef {
        let d = m.op(op);
        OpRef {
            op,
            kind: d.name.clone(),
            loc: loc_text(&d.loc),
        }
    }

    /// An error naming this op.
    pub fn err(&self, message: impl std::fmt::Display) -> LowerError {
        LowerError::Op {
            op: self.kind.clone(),
            loc: self.loc.clone(),
            message: message.to_string(),
        }
    }
}

/// A location as a name: the ONNX node name, fused names joined by `+`.
pub(crate) fn loc_text(loc: &Location) -> String {
    match loc {
        Location::Name(n) => n.clone(),
        Location::Fused(parts) => parts.iter().map(loc_text).collect::<Vec<_>>().join("+"),
        Location::FileLineCol { file, line, col } => format!("{file}:{line}:{col}"),
        Location::Unknown => "unknown".into(),
    }
}

/// Lowering state: the module, the DRAM table, the value table and the instruction stream.
pub(crate) struct Ctx<'a> {
    pub m: &'a Module,
    pub hw: &'a HwConfig,
    pub defaults: &'a LowerDefaults,
    pub dram: DramLayout,
    pub out: Vec<Instr>,
    /// Where every lowered value lives.
    values: BTreeMap<Value, View>,
    /// Values that own a whole tensor they were allocated (tensor index).
    fresh: BTreeMap<Value, usize>,
    /// Tensor names in use.
    names: BTreeSet<String>,
    /// Generated `const.*` tables by name.
    tables: BTreeMap<String, u64>,
    /// ONNX output name of values returned by the function (first position only).
    out_names: BTreeMap<Value, String>,
    /// Attention ops lowered so far (numbering for `plan_layer`).
    attn_count: usize,
    /// Masks already built, by mask value.
    masks: BTreeMap<Value, MaskRef>,
    /// Every use of every value (ops in walk order).
    uses: BTreeMap<Value, Vec<Op>>,
    /// Position of each op of the body.
    order: BTreeMap<Op, usize>,
    /// Ops already folded into an earlier op's segment.
    skip: BTreeSet<Op>,
    /// Attention ops that generate K and V on demand, with their projections.
    kv_fused: BTreeMap<Op, kvfuse::KvProjections>,
    /// The program's host-op table so far (ops run on the host).
    host_ops: Vec<HostOp>,
    /// Ops without a chip lowering met while host fallback is off.
    unlowered: Vec<UnloweredOp>,
    /// Values evaluated at compile time (see `static_eval`).
    known: BTreeMap<Value, sofa_ir::eval::Tensor>,
    /// Multi-op idioms lowered as one instruction, by root op (their other ops are in `skip`).
    idioms: BTreeMap<Op, idiom::Idiom>,
}

/// Lower the first function of `m` (a fused model, every dim static) to one program.
pub fn lower_model(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<Program, LowerError> {
    lower_model_explained(m, hw, defaults).map(|(p, _)| p)
}

/// [`lower_model`], with one note per attention op on where its K and V come from (and, under
/// `--kv auto`, the cycles of both choices).
pub fn lower_model_explained(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<(Program, Vec<String>), LowerError> {
    lower_model_mapped(m, hw, defaults).map(|(p, notes, _)| (p, notes))
}

/// A lowered model with the K/V notes and each attention op's instruction range (its
/// segments), in body order.
pub type MappedProgram = (Program, Vec<String>, super::LayerRanges);

/// Where a lowering hands its instructions as it goes (an encoder writing them to a file), so
/// that a program of tens of millions of instructions is never whole in memory.
pub trait InstrSink {
    /// The next instructions, in program order.
    fn take(&mut self, instrs: &[Instr]) -> std::io::Result<()>;

    /// How many pending instructions are worth handing on: the lowering hands them on at the
    /// first op boundary after this many (default 65536, a few MB).
    fn batch(&self) -> usize {
        1 << 16
    }
}

/// A model lowered into an [`InstrSink`]: the program's tensor and host-op tables (no
/// instructions), how many instructions the sink took, the notes, and each attention op's
/// instruction range (as [`lower_model_mapped`] gives them).
pub type StreamedProgram = (Program, usize, Vec<String>, super::LayerRanges);

/// [`lower_model_mapped`] handing the instructions to `sink` as they are lowered, at op
/// boundaries (which are segment boundaries: every semaphore back at zero). The instructions
/// are the ones [`lower_model`] returns, in order.
pub fn lower_model_streamed(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
    sink: &mut dyn InstrSink,
) -> Result<StreamedProgram, LowerError> {
    with_walk(m, hw, defaults, |walk, fused, mut notes| {
        let (program, ranges, count) = lower_with(m, hw, defaults, walk, &fused, Some(sink))?;
        notes.extend(host_note(&program));
        let attention = attention_ranges(m, walk, &ranges);
        Ok((program, count, notes, attention))
    })
}

/// The instruction ranges of the attention ops among `ranges`, in body order.
fn attention_ranges(m: &Module, walk: &Walk<'_>, ranges: &kvfuse::OpRanges) -> super::LayerRanges {
    walk.body
        .iter()
        .filter(|&&o| is_attention(m, o))
        .filter_map(|o| ranges.get(o).map(|r| (*o, r.clone())))
        .collect()
}

/// [`lower_model_explained`], with each lowered attention op's instruction range.
pub fn lower_model_mapped(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<MappedProgram, LowerError> {
    with_walk(m, hw, defaults, |walk, fused, mut notes| {
        let (program, ranges, _) = lower_with(m, hw, defaults, walk, &fused, None)?;
        notes.extend(host_note(&program));
        let attention = attention_ranges(m, walk, &ranges);
        Ok((program, notes, attention))
    })
}

/// One note naming the ops the program runs on the host, if any.
fn host_note(program: &Program) -> Option<String> {
    if program.host_ops.is_empty() {
        return None;
    }
    let ops: Vec<String> = program
        .host_ops
        .iter()
        .map(|h| format!("{} at \"{}\"", h.op, h.name))
        .collect();
    Some(format!(
        "{} op(s) have no chip lowering and run on the host (HOST): {}",
        ops.len(),
        ops.join(", ")
    ))
}

/// Decide each attention op's K/V source as [`lower_model`] would and record it on the op
/// (`sofa.kv`, and for on-demand ops `sofa.kv_hidden`, `sofa.kv_bias_k`, `sofa.kv_bias_v`,
/// which [`crate::lower::plan_layer`] reads back). Returns the decision notes.
pub fn annotate_kv(
    m: &mut Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<Vec<String>, LowerError> {
    let (decided, notes) = with_walk(m, hw, defaults, |walk, fused, notes| {
        let ops: Vec<(Op, Option<kvfuse::KvProjections>)> = walk
            .body
            .iter()
            .filter(|&&o| is_attention(m, o))
            .map(|o| (*o, fused.get(o).cloned()))
            .collect();
        Ok((ops, notes))
    })?;
    for (op, src) in decided {
        let kv = src.map_or(KvPlan::Gathered, |s| KvPlan::OnDemand(s.plan()));
        let plan = Plan {
            kv: Some(kv),
            ..Plan::default()
        };
        plan.to_attrs(&mut m.op_mut(op).attrs);
    }
    Ok(notes)
}

/// The K and V projection `MatMul`s (in that order) of every attention op whose K and V are
/// projections `X·W (+ b)` of one layer input: the form on-demand KVGEN generates (`kvfuse`),
/// whatever source the op records. The roofline counts only the rows a selection needs of
/// them.
pub fn kv_projection_matmuls(m: &Module) -> Result<BTreeMap<Op, Vec<Op>>, LowerError> {
    let (_, entry) = super::entry_function(m)?;
    let body = &m.blocks[entry].ops;
    let uses = use_lists(m, body);
    let returned: BTreeSet<Value> = body
        .iter()
        .filter(|&&o| m.op(o).name == RETURN_OP)
        .flat_map(|&o| m.op(o).operands.iter().copied())
        .collect();
    let graph = kvfuse::Graph {
        m,
        uses: &uses,
        outputs: &returned,
    };
    Ok(body
        .iter()
        .filter(|&&o| is_attention(m, o))
        .filter_map(|&o| {
            let p = graph.recognise(o).ok()?;
            let mms = p
                .chain
                .into_iter()
                .filter(|&c| m.op(c).name == "onnx.MatMul")
                .collect();
            Some((o, mms))
        })
        .collect())
}

/// Whether `op` is an attention op or its `sofa.kernel`.
fn is_attention(m: &Module, op: Op) -> bool {
    matches!(m.op(op).name.as_str(), MHA | SPARSE_MHA | KERNEL)
}

/// Check the options, find the body, decide the K/V sources (pricing both under `auto`), then
/// run `then` with the walk, the on-demand ops and the notes.
fn with_walk<T>(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
    then: impl FnOnce(
        &Walk<'_>,
        BTreeMap<Op, kvfuse::KvProjections>,
        Vec<String>,
    ) -> Result<T, LowerError>,
) -> Result<T, LowerError> {
    if hw.control.semaphores < seg::SEMS_NEEDED {
        return Err(LowerError::Module(format!(
            "the model lowering needs {} semaphores, control.semaphores is {}",
            seg::SEMS_NEEDED,
            hw.control.semaphores
        )));
    }
    let (func, entry) = super::entry_function(m)?;
    let body = m.blocks[entry].ops.clone();
    let ret = body
        .iter()
        .copied()
        .rfind(|&o| m.op(o).name == RETURN_OP)
        .ok_or_else(|| LowerError::Module("the function does not end with func.return".into()))?;
    let uses = use_lists(m, &body);
    let returned: BTreeSet<Value> = m.op(ret).operands.iter().copied().collect();
    let attn: Vec<Op> = body
        .iter()
        .copied()
        .filter(|&o| is_attention(m, o))
        .collect();
    let graph = kvfuse::Graph {
        m,
        uses: &uses,
        outputs: &returned,
    };
    let (forced, optional) = kvfuse::candidates(&graph, &attn, hw, defaults)?;
    let walk = Walk {
        func,
        entry,
        body: &body,
        ret,
        uses: &uses,
    };
    let (fused, notes) = if optional.is_empty() {
        let notes = kvfuse::fixed_notes(m, &attn, &forced);
        (forced, notes)
    } else {
        kvfuse::choose(m, hw, &forced, &optional, |fused| {
            lower_with(m, hw, defaults, &walk, fused, None).map(|(p, r, _)| (p, r))
        })?
    };
    then(&walk, fused, notes)
}

/// The function body a lowering walks.
struct Walk<'a> {
    func: Op,
    entry: sofa_ir::Block,
    body: &'a [Op],
    ret: Op,
    uses: &'a BTreeMap<Value, Vec<Op>>,
}

/// One lowering of the body with the attention ops of `kv_fused` generating K and V on
/// demand; also each lowered op's instruction range (its segments) and the instruction count.
/// With a `sink`, instructions go to it at op boundaries and the program keeps none.
fn lower_with(
    m: &Module,
    hw: &HwConfig,
    defaults: &LowerDefaults,
    w: &Walk<'_>,
    kv_fused: &BTreeMap<Op, kvfuse::KvProjections>,
    mut sink: Option<&mut dyn InstrSink>,
) -> Result<(Program, kvfuse::OpRanges, usize), LowerError> {
    let mut ctx = Ctx {
        m,
        hw,
        defaults,
        dram: DramLayout::default(),
        out: Vec::new(),
        values: BTreeMap::new(),
        fresh: BTreeMap::new(),
        names: BTreeSet::new(),
        tables: BTreeMap::new(),
        out_names: BTreeMap::new(),
        attn_count: 0,
        masks: BTreeMap::new(),
        uses: w.uses.clone(),
        order: w.body.iter().enumerate().map(|(i, &o)| (o, i)).collect(),
        skip: BTreeSet::new(),
        kv_fused: kv_fused.clone(),
        host_ops: Vec::new(),
        unlowered: Vec::new(),
        known: BTreeMap::new(),
        idioms: BTreeMap::new(),
    };
    let returned: BTreeSet<Value> = m.op(w.ret).operands.iter().copied().collect();
    let found = idiom::find(m, w.body, w.uses, &returned);
    ctx.skip.extend(found.absorbed);
    ctx.idioms = found.roots;
    ctx.bind_inputs(w.func, w.entry)?;
    let results = ctx.result_names(w.func, w.ret)?;
    let needed = needed_ops(m, w.body, w.ret, &ctx.kv_fused);
    let mut ranges = BTreeMap::new();
    // Instructions handed to the sink so far.
    let mut taken = 0;
    for &op in w.body {
        if op == w.ret {
            break;
        }
        if needed.contains(&op) && !ctx.skip.contains(&op) {
            let start = taken + ctx.out.len();
            ctx.lower_op(op)?;
            ranges.insert(op, start..taken + ctx.out.len());
            if sink.as_ref().is_some_and(|s| ctx.out.len() >= s.batch()) {
                taken += hand_on(&mut sink, &mut ctx.out)?;
            }
        }
    }
    if !ctx.unlowered.is_empty() {
        return Err(LowerError::NoChipLowering(ctx.unlowered));
    }
    ctx.finish_outputs(&results)?;
    ctx.out.push(Instr::Halt {});
    taken += hand_on(&mut sink, &mut ctx.out)?;
    let count = taken + ctx.out.len();
    if ctx.dram.used() > hw.dram.capacity_bytes {
        return Err(LowerError::Module(format!(
            "the tensor table needs {} B of DRAM, more than dram.capacity_bytes ({})",
            ctx.dram.used(),
            hw.dram.capacity_bytes
        )));
    }
    let program = Program {
        config_hash: hw.hash(),
        tensors: ctx.dram.tensors,
        host_ops: ctx.host_ops,
        instrs: ctx.out,
    };
    Ok((program, ranges, count))
}

/// Give `out` to `sink` and empty it (nothing without a sink); how many it took.
fn hand_on(
    sink: &mut Option<&mut dyn InstrSink>,
    out: &mut Vec<Instr>,
) -> Result<usize, LowerError> {
    let Some(sink) = sink.as_deref_mut() else {
        return Ok(0);
    };
    sink.take(out)
        .map_err(|e| LowerError::Module(format!("writing the program: {e}")))?;
    let n = out.len();
    out.clear();
    Ok(n)
}

/// The ops of `body` using each value.
fn use_lists(m: &Module, body: &[Op]) -> BTreeMap<Value, Vec<Op>> {
    let mut uses: BTreeMap<Value, Vec<Op>> = BTreeMap::new();
    for &op in body {
        for &v in &m.op(op).operands {
            uses.entry(v).or_default().push(op);
        }
    }
    uses
}

/// Ops some returned value depends on (dead code, e.g. shape arithmetic, is skipped). An
/// attention mask recognised as `Where(cond, 0, −big)` needs only `cond`; an attention op
/// that generates K and V on demand needs their input and weights, not their projections.
fn needed_ops(
    m: &Module,
    body: &[Op],
    ret: Op,
    kv_fused: &BTreeMap<Op, kvfuse::KvProjections>,
) -> BTreeSet<Op> {
    let mut live: BTreeSet<Value> = m.op(ret).operands.iter().copied().collect();
    let mut ops = BTreeSet::new();
    for &op in body.iter().rev() {
        let d = m.op(op);
        if op == ret || !d.results.iter().any(|r| live.contains(r)) {
            continue;
        }
        ops.insert(op);
        let attn = is_attention(m, op);
        let fused = kv_fused.get(&op);
        for (i, &v) in d.operands.iter().enumerate() {
            if fused.is_some() && (i == 1 || i == 2) {
                continue;
            }
            let cond = (attn && i == 3)
                .then(|| sofa_ir::dialect::attn::mask::where_exclusion_cond(m, v))
                .flatten();
            live.insert(cond.unwrap_or(v));
        }
        live.extend(
            fused
                .map(kvfuse::KvProjections::operands)
                .unwrap_or_default(),
        );
    }
    ops
}

impl Ctx<'_> {
    /// Dispatch one op to its family.
    fn lower_op(&mut self, op: Op) -> Result<(), LowerError> {
        let o = OpRef::new(self.m, op);
        if let Some(found) = self.idioms.get(&op).cloned() {
            return idiom::lower(self, &o, found);
        }
        let kind = o.kind.strip_prefix("onnx.").unwrap_or(&o.kind).to_string();
        let integer = kind != "Constant" && static_eval::integer_results(self, &o);
        if integer && static_eval::try_evaluate(self, &o)? {
            return Ok(());
        }
        match kind.as_str() {
            "Constant" | "NoValue" => Ok(()),
            "Add" | "Sub" | "Mul" | "Div" | "Max" => elementwise::binary(self, &o, &kind),
            "Pow" => elementwise::pow(self, &o),
            "Erf" | "Tanh" | "Relu" | "Sigmoid" | "Sqrt" | "Reciprocal" | "Exp" | "Neg"
            | "Gelu" | "Cos" | "Sin" => elementwise::unary(self, &o, &kind),
            "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" => {
                compare::compare(self, &o, &kind)
            }
            "IsNaN" => compare::is_nan(self, &o),
            "Trilu" => elementwise::trilu(self, &o),
            "Cast" => elementwise::cast(self, &o),
            "And" | "Or" | "Not" => elementwise::logical(self, &o, &kind),
            "Where" => elementwise::select(self, &o),
            "MatMul" => matmul::matmul(self, &o),
            "MatMulInteger" => quant::matmul_integer(self, &o),
            "DynamicQuantizeLinear" => quant::dynamic_quantize(self, &o),
            "QuantizeLinear" => quant::linear(self, &o, true),
            "DequantizeLinear" => quant::linear(self, &o, false),
            "Gemm" => matmul::gemm(self, &o),
            "LayerNormalization" => norm::layer_norm(self, &o),
            "RMSNormalization" => norm::rms_norm(self, &o),
            "RotaryEmbedding" => rope::rotary_embedding(self, &o),
            "Softmax" => norm::softmax(self, &o),
            "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
                movement::reshape(self, &o)
            }
            "Transpose" => movement::transpose(self, &o),
            "Expand" => movement::expand(self, &o),
            "Split" => movement::split(self, &o),
            "Slice" => movement::slice(self, &o),
            "Concat" => movement::concat(self, &o),
            "Tile" => movement::tile(self, &o),
            "ScatterND" => scatter::scatter_nd(self, &o),
            "Gather" => gather::gather(self, &o),
            "GatherND" => gather::gather_nd(self, &o),
            "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" => {
                reduce::reduce(self, &o, &kind)
            }
            "Conv" => conv::conv(self, &o),
            _ if is_attention(self.m, op) => attention::attention(self, &o),
            _ if static_eval::try_evaluate(self, &o)? => Ok(()),
            // No chip lowering: a host segment (or, without fallback, an error at the end).
            _ => host::host_op(self, &o),
        }
    }
}
