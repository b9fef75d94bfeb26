//! [`Program::check`]: everything the simulator may assume about a program, checked against a
//! [`HwConfig`], all problems collected.
//!
//! Invariants established (the simulator indexes and sizes buffers without further checks):
//! - the program was compiled for this configuration (`config_hash == hw.hash()`);
//! - tensors: non-empty unique names (≤ 65,535 bytes), rank ≤ 255, sizes without overflow,
//!   `const` data exactly the tensor's bytes and no data otherwise, inside DRAM, no overlaps;
//! - instructions: no zero dimension; `sel ≤ n`; query-row counts of SADS, RASS and SU-FA
//!   within `block.query_rows` (the RASS bitmask width); element types legal for each role
//!   (`lz4` only as the DLZS weight, float types for formal compute); even RoPE widths;
//!   every SRAM operand inside its SRAM and every static DRAM range inside DRAM;
//!   semaphore ids below `control.semaphores`, every waited semaphore signalled somewhere;
//! - host ops: a host kernel exists for the op (`crate::eval::is_supported`), names and
//!   counts fit the format, attributes carry no `dense_resource` (the program has no
//!   resources), operand and result tensors exist, have a host element type and the element
//!   count of their shape, results are `scratch` or `output` tensors written once; every host
//!   op is run by exactly one `HOST` and every `HOST` names one;
//! - every `SUFA.BIAS` is consumed by the next `SUFA.T` of the SU-FA queue, of its
//!   `rows × sel` ([`super::prefix`]);
//! - the stream ends with its only `HALT`.

use std::collections::BTreeSet;
use std::fmt;

use super::{numel, DType, HostArg, HostOp, Instr, Mem, Opcode, Program, TensorDecl, TensorKind};
use crate::attr::Attribute;
use crate::hw::HwConfig;

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramLoc {
    /// The program as a whole (header, instruction stream structure).
    Program,
    /// Tensor table entry `index`, with its name.
    Tensor(usize, String),
    /// Instruction `index`.
    Instr(usize, Opcode),
    /// Host-op table entry `index`, with its op name.
    Host(usize, String),
}

/// One problem found by [`Program::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramError {
    pub loc: ProgramLoc,
    pub message: String,
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            ProgramLoc::Program => write!(f, "program: {}", self.message),
            ProgramLoc::Tensor(i, name) => write!(f, "tensor #{i} '{name}': {}", self.message),
            ProgramLoc::Instr(i, op) => {
                write!(f, "instr #{i} ({}): {}", op.mnemonic(), self.message)
            }
            ProgramLoc::Host(i, op) => write!(f, "host op #{i} ({op}): {}", self.message),
        }
    }
}

impl std::error::Error for ProgramError {}

pub(crate) fn check_program(p: &Program, hw: &HwConfig) -> Result<(), Vec<ProgramError>> {
    let mut check = PieceCheck::new(p, hw);
    check.piece(&p.instrs);
    check.finish()
}

/// [`Program::check`] of a program given as its head (tensor and host-op tables; its own
/// `instrs` are ignored) and its instructions in pieces, in order: the same problems, in the
/// same order, as checking the whole program, while only a piece is in memory. The rules on
/// the whole stream (HALT placement, semaphores waited but never signalled, host ops run
/// once, SUFA.BIAS prefixes) carry across pieces.
pub struct PieceCheck<'a> {
    head: &'a Program,
    hw: &'a HwConfig,
    /// Instructions checked so far.
    seen: usize,
    halts: Vec<usize>,
    signalled: BTreeSet<u16>,
    /// The first WAIT on each semaphore (its index).
    waits: std::collections::BTreeMap<u16, usize>,
    host_runs: Vec<usize>,
    unknown_hosts: Vec<ProgramError>,
    prefix: super::prefix::BiasPrefix,
    prefix_errs: Vec<ProgramError>,
    instr_errs: Vec<ProgramError>,
}

impl<'a> PieceCheck<'a> {
    pub fn new(head: &'a Program, hw: &'a HwConfig) -> PieceCheck<'a> {
        PieceCheck {
            head,
            hw,
            seen: 0,
            halts: Vec::new(),
            signalled: BTreeSet::new(),
            waits: std::collections::BTreeMap::new(),
            host_runs: vec![0; head.host_ops.len()],
            unknown_hosts: Vec::new(),
            prefix: super::prefix::BiasPrefix::default(),
            prefix_errs: Vec::new(),
            instr_errs: Vec::new(),
        }
    }

    /// Check the next instructions.
    pub fn piece(&mut self, instrs: &[Instr]) {
        for (local, instr) in instrs.iter().enumerate() {
            self.one(self.seen + local, instr);
        }
        self.seen += instrs.len();
    }

    fn one(&mut self, i: usize, instr: &Instr) {
        match instr {
            Instr::Halt {} => self.halts.push(i),
            Instr::Signal { sem, .. } => {
                self.signalled.insert(*sem);
            }
            Instr::Wait { sem, .. } => {
                self.waits.entry(*sem).or_insert(i);
            }
            Instr::Host { op } => match self.host_runs.get_mut(*op as usize) {
                Some(n) => *n += 1,
                None => self.unknown_hosts.push(ProgramError {
                    loc: ProgramLoc::Instr(i, Opcode::Host),
                    message: format!(
                        "host op {op} is not in the host-op table ({} entries)",
                        self.head.host_ops.len()
                    ),
                }),
            },
            _ => {}
        }
        if let Err(e) = self.prefix.step(i, instr) {
            self.prefix_errs.push(prefix_error(e));
        }
        let mut problems = instr_rules(instr, self.hw);
        problems.extend(operand_ranges(instr, self.hw));
        self.instr_errs
            .extend(problems.into_iter().map(|message| ProgramError {
                loc: ProgramLoc::Instr(i, instr.opcode()),
                message,
            }));
    }

    /// Whether the instructions so far break no rule of their own (the rules on the whole
    /// stream are [`PieceCheck::finish`]'s): a simulator may run them.
    pub fn clean(&self) -> bool {
        self.unknown_hosts.is_empty() && self.prefix_errs.is_empty() && self.instr_errs.is_empty()
    }

    /// Every problem found, in the order [`Program::check`] reports them.
    pub fn finish(mut self) -> Result<(), Vec<ProgramError>> {
        let (p, hw) = (self.head, self.hw);
        let mut errs = Vec::new();
        let mut at_program = |m: String| {
            errs.push(ProgramError {
                loc: ProgramLoc::Program,
                message: m,
            })
        };
        if p.config_hash != hw.hash() {
            at_program(format!(
                "compiled for hardware config hash {:#018x}, but '{}' hashes to {:#018x}",
                p.config_hash,
                hw.name,
                hw.hash()
            ));
        }
        let limit = u32::MAX as usize;
        if p.tensors.len() > limit || self.seen > limit || p.host_ops.len() > limit {
            at_program("more than 2^32-1 tensors, host ops or instructions".into());
        }
        self.check_stream(&mut at_program);
        check_tensors(&p.tensors, hw, &mut errs);
        errs.append(&mut self.unknown_hosts);
        check_host_ops(p, &self.host_runs, &mut errs);
        if let Err(e) = self.prefix.finish() {
            self.prefix_errs.push(prefix_error(e));
        }
        errs.append(&mut self.prefix_errs);
        errs.append(&mut self.instr_errs);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// HALT placement and semaphore pairing.
    fn check_stream(&self, report: &mut impl FnMut(String)) {
        match self.halts.as_slice() {
            [] => report("the instruction stream does not end with HALT".into()),
            [h] if *h + 1 == self.seen => {}
            halts => report(format!(
                "HALT must be the last instruction and appear once (found at {halts:?} of {})",
                self.seen
            )),
        }
        let mut unsignalled: Vec<(usize, u16)> = self
            .waits
            .iter()
            .filter(|(sem, _)| {
                !self.signalled.contains(sem) && u32::from(**sem) < self.hw.control.semaphores
            })
            .map(|(&sem, &idx)| (idx, sem))
            .collect();
        unsignalled.sort_unstable();
        for (idx, sem) in unsignalled {
            report(format!(
                "instr #{idx} waits on semaphore {sem}, which nothing signals (certain deadlock)"
            ));
        }
    }
}

fn prefix_error(e: super::prefix::PrefixError) -> ProgramError {
    ProgramError {
        loc: ProgramLoc::Instr(e.prefix(), Opcode::SufaBias),
        message: e.to_string(),
    }
}

fn check_tensors(tensors: &[TensorDecl], hw: &HwConfig, errs: &mut Vec<ProgramError>) {
    let mut names = BTreeSet::new();
    let mut ranges = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let mut push = |m: String| {
            errs.push(ProgramError {
                loc: ProgramLoc::Tensor(i, t.name.clone()),
                message: m,
            })
        };
        if t.name.is_empty() {
            push("empty name".into());
        }
        if t.name.len() > usize::from(u16::MAX) {
            push(format!("name of {} bytes exceeds 65535", t.name.len()));
        }
        if !names.insert(t.name.as_str()) {
            push("duplicate name".into());
        }
        if t.shape.len() > usize::from(u8::MAX) {
            push(format!("rank {} exceeds 255", t.shape.len()));
        }
        let Some(len) = t.byte_len() else {
            push("size overflows 64 bits".into());
            continue;
        };
        match (t.kind, t.data.len() as u64) {
            // Referenced weights may not be loaded yet (a program read back from disk).
            (TensorKind::Const, 0) if t.weights.is_some() => {}
            (TensorKind::Const, n) if n != len => {
                push(format!("const data has {n} bytes, the shape needs {len}"))
            }
            (kind, n) if kind != TensorKind::Const && n != 0 => {
                push(format!("{kind} tensor carries {n} bytes of data"))
            }
            _ => {}
        }
        match &t.weights {
            Some(_) if t.kind != TensorKind::Const => {
                push(format!("{} tensor references weights", t.kind))
            }
            Some(w) if w.file.is_empty() || w.file.len() > usize::from(u16::MAX) => push(format!(
                "weights file name of {} bytes (1 to 65,535 allowed)",
                w.file.len()
            )),
            _ => {}
        }
        match t.dram.checked_add(len) {
            Some(end) if end <= hw.dram.capacity_bytes => {
                if len > 0 {
                    ranges.push((t.dram, end, i));
                }
            }
            _ => push(format!(
                "DRAM range {:#x}+{len} exceeds dram.capacity_bytes ({})",
                t.dram, hw.dram.capacity_bytes
            )),
        }
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end_a, a), (start_b, _, b)) = (pair[0], pair[1]);
        if start_b < end_a {
            errs.push(ProgramError {
                loc: ProgramLoc::Tensor(b, tensors[b].name.clone()),
                message: format!("DRAM range overlaps tensor '{}'", tensors[a].name),
            });
        }
    }
}

/// Host-op table entries, each run by exactly one `HOST` (`runs[k]`: how many ran entry `k`).
fn check_host_ops(p: &Program, runs: &[usize], errs: &mut Vec<ProgramError>) {
    for (k, h) in p.host_ops.iter().enumerate() {
        let mut problems = host_op_rules(h, &p.tensors);
        if runs[k] != 1 {
            problems.push(format!(
                "run by {} HOST instructions, expected exactly 1",
                runs[k]
            ));
        }
        errs.extend(problems.into_iter().map(|message| ProgramError {
            loc: ProgramLoc::Host(k, h.op.clone()),
            message,
        }));
    }
}

/// What must hold for one host op to be evaluated (see the module doc).
fn host_op_rules(h: &HostOp, tensors: &[TensorDecl]) -> Vec<String> {
    let mut e = Vec::new();
    if !crate::eval::is_supported(&h.op) {
        e.push(format!("'{}' has no host kernel", h.op));
    }
    for (what, len) in [("op name", h.op.len()), ("node name", h.name.len())] {
        if len > usize::from(u16::MAX) {
            e.push(format!("{what} of {len} bytes exceeds 65535"));
        }
    }
    if h.attrs_text().len() > u32::MAX as usize {
        e.push("attributes exceed 2^32-1 bytes".into());
    }
    if let Some(key) = h
        .attrs
        .iter()
        .find(|(_, a)| has_resource(a))
        .map(|(k, _)| k)
    {
        e.push(format!("attribute '{key}' is a dense_resource (inline it)"));
    }
    for (what, n) in [("operands", h.operands.len()), ("results", h.results.len())] {
        if n > usize::from(u8::MAX) {
            e.push(format!("{n} {what} exceed 255"));
        }
    }
    if h.results.is_empty() {
        e.push("no results".into());
    }
    for (k, a) in h.operands.iter().enumerate() {
        if let Some(a) = a {
            e.extend(host_arg_rules(a, tensors, &format!("operand {k}")));
        }
    }
    let mut written = BTreeSet::new();
    for (k, a) in h.results.iter().enumerate() {
        let what = format!("result {k}");
        e.extend(host_arg_rules(a, tensors, &what));
        if let Some(t) = tensors.get(a.tensor as usize) {
            if !matches!(t.kind, TensorKind::Scratch | TensorKind::Output) {
                e.push(format!("{what} writes {} tensor '{}'", t.kind, t.name));
            }
        }
        if !written.insert(a.tensor) {
            e.push(format!("{what} writes tensor #{} a second time", a.tensor));
        }
    }
    e
}

fn host_arg_rules(a: &HostArg, tensors: &[TensorDecl], what: &str) -> Vec<String> {
    let Some(t) = tensors.get(a.tensor as usize) else {
        return vec![format!(
            "{what}: tensor index {} is not in the table ({} tensors)",
            a.tensor,
            tensors.len()
        )];
    };
    let mut e = Vec::new();
    if a.shape.len() > usize::from(u8::MAX) {
        e.push(format!("{what}: rank {} exceeds 255", a.shape.len()));
    }
    if t.dtype.to_elem().is_none() {
        e.push(format!(
            "{what}: tensor '{}' is {}, which has no host tensor type",
            t.name, t.dtype
        ));
    }
    let fits = a.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    if fits.is_none() || numel(&a.shape) != numel(&t.shape) {
        e.push(format!(
            "{what}: shape {:?} does not hold the {} elements of tensor '{}' {:?}",
            a.shape,
            numel(&t.shape),
            t.name,
            t.shape
        ));
    }
    e
}

/// Whether an attribute is or contains a `dense_resource`.
fn has_resource(a: &Attribute) -> bool {
    match a {
        Attribute::DenseResource { .. } => true,
        Attribute::Array(items) => items.iter().any(has_resource),
        Attribute::Dict(d) => d.values().any(has_resource),
        _ => false,
    }
}

/// Types the DLZS engine and SADS accept for data operands (the LZE's 8/16-bit modes and the
/// floating-point forms the functional model supports).
fn predictable(dt: DType) -> bool {
    matches!(
        dt,
        DType::F32 | DType::F16 | DType::BF16 | DType::I8 | DType::I16 | DType::I32
    )
}

/// Dimension, type and engine-limit rules of one instruction.
fn instr_rules(instr: &Instr, hw: &HwConfig) -> Vec<String> {
    let mut e = Vec::new();
    let mut nonzero = |dims: &[(&str, u64)]| {
        for (name, v) in dims {
            if *v == 0 {
                e.push(format!("`{name}` must be > 0"));
            }
        }
    };
    let q = u64::from(hw.block.query_rows);
    let mut rules: Vec<(bool, String)> = Vec::new();
    let float = |role: &str, dt: DType| {
        (
            !dt.is_float(),
            format!("`{role}` must be a float type, found {dt}"),
        )
    };
    let byte = |role: &str, dt: DType| {
        (
            !matches!(dt, DType::U8 | DType::I8),
            format!("`{role}` must be u8 or i8, found {dt}"),
        )
    };
    let pred = |role: &str, dt: DType| {
        (
            !predictable(dt),
            format!("`{role}` {dt} is not a DLZS/SADS data type"),
        )
    };
    let block = |rows: u64| {
        (
            rows > q,
            format!("`rows` {rows} exceeds block.query_rows ({q})"),
        )
    };
    match instr {
        Instr::Ld {
            rows, row_bytes, ..
        } => nonzero(&[("rows", (*rows).into()), ("row_bytes", (*row_bytes).into())]),
        Instr::St {
            rows,
            row_bytes,
            stride,
            ..
        } => {
            nonzero(&[("rows", (*rows).into()), ("row_bytes", (*row_bytes).into())]);
            rules.push((
                *rows > 1 && stride < row_bytes,
                format!("`stride` {stride} < `row_bytes` {row_bytes}: stored rows overlap"),
            ));
        }
        Instr::Gather {
            max_rows,
            row_bytes,
            ..
        } => nonzero(&[
            ("max_rows", (*max_rows).into()),
            ("row_bytes", (*row_bytes).into()),
        ]),
        Instr::Copy { bytes, .. } => nonzero(&[("bytes", (*bytes).into())]),
        Instr::DlzsK {
            rows,
            k,
            n,
            xt,
            wt,
            ot,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("k", (*k).into()),
                ("n", (*n).into()),
            ]);
            rules.extend([pred("xt", *xt), pred("ot", *ot)]);
            rules.push((
                !(predictable(*wt) || *wt == DType::Lz4),
                format!("`wt` {wt} is not lz4 or a DLZS data type"),
            ));
        }
        Instr::DlzsS {
            rows,
            k,
            n,
            qt,
            kt,
            ot,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("k", (*k).into()),
                ("n", (*n).into()),
            ]);
            rules.extend([pred("qt", *qt), pred("kt", *kt), pred("ot", *ot)]);
        }
        Instr::Sads {
            rows,
            n,
            sel,
            radius,
            dt,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("n", (*n).into()),
                ("sel", (*sel).into()),
            ]);
            rules.push(block((*rows).into()));
            rules.push((
                u32::from(*sel) > *n,
                format!("`sel` {sel} exceeds the tile width `n` {n}"),
            ));
            rules.push((*radius < 0.0, format!("`radius` {radius} is negative")));
            rules.push(pred("dt", *dt));
        }
        Instr::Rass { rows, sel, n, .. } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("sel", (*sel).into()),
                ("n", (*n).into()),
            ]);
            rules.push(block((*rows).into()));
            rules.push((
                u32::from(*sel) > *n,
                format!("`sel` {sel} exceeds the tile width `n` {n}"),
            ));
        }
        Instr::Kvgen {
            max_rows, k, n, dt, ..
        } => {
            nonzero(&[
                ("max_rows", (*max_rows).into()),
                ("k", (*k).into()),
                ("n", (*n).into()),
            ]);
            rules.push(float("dt", *dt));
        }
        Instr::SufaT {
            rows,
            sel,
            d,
            slots,
            dt,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("sel", (*sel).into()),
                ("d", (*d).into()),
                ("slots", (*slots).into()),
            ]);
            rules.push(block((*rows).into()));
            rules.push(float("dt", *dt));
        }
        Instr::SufaBias {
            rows,
            sel,
            n,
            base,
            dt,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("sel", (*sel).into()),
                ("n", (*n).into()),
            ]);
            rules.push(block((*rows).into()));
            rules.push((
                u32::from(*sel) > *n,
                format!("`sel` {sel} exceeds the bias width `n` {n}"),
            ));
            // Key indices are u32 with NO_INDEX reserved.
            rules.push((
                u64::from(*base) + u64::from(*n) > u64::from(u32::MAX),
                format!("`base` {base} + `n` {n} leaves the u32 key indices"),
            ));
            rules.push(float("dt", *dt));
        }
        Instr::SufaSync {
            rows, tiles, d, dt, ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("tiles", (*tiles).into()),
                ("d", (*d).into()),
            ]);
            rules.push(block((*rows).into()));
            rules.push(float("dt", *dt));
        }
        Instr::Gemm { m, n, k, dt, .. } => {
            nonzero(&[("m", (*m).into()), ("n", (*n).into()), ("k", (*k).into())]);
            rules.push(float("dt", *dt));
        }
        Instr::GemmQ {
            m, n, k, at, bt, ..
        } => {
            nonzero(&[("m", (*m).into()), ("n", (*n).into()), ("k", (*k).into())]);
            rules.extend([byte("at", *at), byte("bt", *bt)]);
        }
        Instr::VecMinMax { rows, cols, dt, .. } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push(float("dt", *dt));
        }
        Instr::VecQParam { qt, .. } => rules.push(byte("qt", *qt)),
        Instr::VecQuant {
            rows,
            cols,
            from,
            to,
            ..
        } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.extend([float("from", *from), byte("to", *to)]);
        }
        Instr::VecDequant {
            rows,
            cols,
            from,
            to,
            ..
        } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push((
                !matches!(from, DType::U8 | DType::I8 | DType::I32),
                format!("`from` must be u8, i8 or i32, found {from}"),
            ));
            rules.push(float("to", *to));
        }
        Instr::VecRope {
            rows,
            cols,
            table_rows,
            pos,
            dt,
            ..
        } => {
            nonzero(&[
                ("rows", (*rows).into()),
                ("cols", (*cols).into()),
                ("table_rows", (*table_rows).into()),
            ]);
            rules.push((
                cols % 2 != 0,
                format!("`cols` {cols} must be even (cos|sin halves)"),
            ));
            rules.push((
                pos.is_none() && rows > table_rows,
                format!("`rows` {rows} exceeds `table_rows` {table_rows}"),
            ));
            rules.push(float("dt", *dt));
        }
        Instr::VecCvt {
            rows,
            cols,
            from,
            to,
            ..
        } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push((
                *from == DType::Lz4 || *to == DType::Lz4,
                "lz4 is only a DLZS weight format".into(),
            ));
        }
        Instr::VecCmp { rows, cols, dt, .. } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push((*dt == DType::Lz4, "lz4 is only a DLZS weight format".into()));
        }
        Instr::VecTranspose { rows, cols, dt, .. } | Instr::VecSelect { rows, cols, dt, .. } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push((*dt == DType::Lz4, "lz4 is only a DLZS weight format".into()));
        }
        Instr::Signal { sem, .. } | Instr::Wait { sem, .. } => {
            let n = hw.control.semaphores;
            rules.push((
                u32::from(*sem) >= n,
                format!("semaphore {sem} out of range (control.semaphores = {n})"),
            ));
        }
        Instr::Halt {} | Instr::Host { .. } => {}
        Instr::VecAdd { rows, cols, dt, .. }
        | Instr::VecSub { rows, cols, dt, .. }
        | Instr::VecMul { rows, cols, dt, .. }
        | Instr::VecDiv { rows, cols, dt, .. }
        | Instr::VecMax { rows, cols, dt, .. }
        | Instr::VecExp { rows, cols, dt, .. }
        | Instr::VecErf { rows, cols, dt, .. }
        | Instr::VecGelu { rows, cols, dt, .. }
        | Instr::VecGeluTanh { rows, cols, dt, .. }
        | Instr::VecSilu { rows, cols, dt, .. }
        | Instr::VecRelu { rows, cols, dt, .. }
        | Instr::VecTanh { rows, cols, dt, .. }
        | Instr::VecSigmoid { rows, cols, dt, .. }
        | Instr::VecSqrt { rows, cols, dt, .. }
        | Instr::VecRecip { rows, cols, dt, .. }
        | Instr::VecCos { rows, cols, dt, .. }
        | Instr::VecSin { rows, cols, dt, .. }
        | Instr::VecReduce { rows, cols, dt, .. }
        | Instr::VecAffine { rows, cols, dt, .. }
        | Instr::VecSoftmax { rows, cols, dt, .. }
        | Instr::VecLayerNorm { rows, cols, dt, .. }
        | Instr::VecRmsNorm { rows, cols, dt, .. } => {
            nonzero(&[("rows", (*rows).into()), ("cols", (*cols).into())]);
            rules.push(float("dt", *dt));
        }
    }
    e.extend(rules.into_iter().filter(|(bad, _)| *bad).map(|(_, m)| m));
    e
}

/// Every operand inside its memory.
fn operand_ranges(instr: &Instr, hw: &HwConfig) -> Vec<String> {
    let ops = match instr.operands() {
        Ok(ops) => ops,
        Err(e) => return vec![e.to_string()],
    };
    let mut e = Vec::new();
    for op in ops {
        let Some(extent) = op.extent else { continue };
        let (start, cap, key) = match op.mem {
            Mem::Sram(r) => (
                u64::from(r.offset),
                hw.sram_capacity(r.space),
                HwConfig::sram_capacity_key(r.space),
            ),
            Mem::Dram(a) => (a, hw.dram.capacity_bytes, "dram.capacity_bytes"),
        };
        let fits = start.checked_add(extent).is_some_and(|end| end <= cap);
        if !fits {
            let place = match op.mem {
                Mem::Sram(r) => format!("{}[{:#x}]", r.space, r.offset),
                Mem::Dram(a) => format!("dram[{a:#x}]"),
            };
            e.push(format!(
                "operand `{}` {place}+{extent} exceeds {key} ({cap})",
                op.role
            ));
        }
    }
    e
}
