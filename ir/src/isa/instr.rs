//! The instruction table: one line per instruction (opcode, mnemonic, engine, fields in
//! encoding order). Everything else about an instruction's *form* is generated from it:
//! the `Instr` enum, `Opcode`, binary field encoding/decoding, assembly printing/parsing.
//! Semantics, operand shapes and cycle formulas are documented in `isa.md` and implemented in
//! `operands.rs`, `check.rs` and `hw/cost.rs`.
//!
//! Adding an instruction: add a line here with a fresh opcode, then its arms in `operands.rs`,
//! `check.rs` (dimension rules) and `hw/cost.rs`, and a section with an example in `isa.md`
//! (a test fails until the example exists). Never reuse or renumber an opcode.

use super::fields::{Field, FieldError};
use super::{Bcast, CmpOp, DType, DramAddr, Engine, ReduceOp, SramRef, SufaMode, INSTR_BYTES};

/// Where the assembly parser gets named field values from.
pub(crate) trait FieldSource {
    type Error;
    /// The value of field `name`, parsed as `T`.
    fn take<T: Field>(&mut self, name: &'static str) -> Result<T, Self::Error>;
}

/// Sequential field reader over the 31 operand bytes of an encoded instruction.
pub(crate) struct FieldReader<'a> {
    bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> FieldReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        FieldReader { bytes, pos: 0 }
    }

    /// The next field; on error, the offset (relative to `bytes`) and the reason.
    fn take<T: Field>(&mut self) -> Result<T, (usize, FieldError)> {
        let end = self.pos + T::WIDTH;
        let raw = self
            .bytes
            .get(self.pos..end)
            .ok_or((self.pos, FieldError::InstrTruncated))?;
        let v = T::get(raw).map_err(|m| (self.pos, m))?;
        self.pos = end;
        Ok(v)
    }
}

macro_rules! isa {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $mnemonic:literal, [$engine:expr],
        { $( $field:ident : $fty:ty ),* $(,)? };
    )*) => {
        /// One SOFA instruction; field meanings are documented per instruction in the module
        /// docs of [`crate::isa`].
        #[derive(Clone, Debug, PartialEq)]
        pub enum Instr {
            $( $(#[$doc])* $variant { $( $field: $fty ),* }, )*
        }

        /// The instruction kinds, with their binary opcodes.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Opcode { $( $variant ),* }

        // Every instruction must fit its fixed width: the fields leave room for the opcode byte.
        const _: () = { $( assert!(0 $(+ <$fty as Field>::WIDTH)* < INSTR_BYTES); )* };

        impl Opcode {
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];

            /// The binary opcode byte.
            pub fn code(self) -> u8 {
                match self { $( Opcode::$variant => $code ),* }
            }

            pub fn from_code(code: u8) -> Option<Opcode> {
                match code { $( $code => Some(Opcode::$variant), )* _ => None }
            }

            /// The assembly mnemonic (`DLZS.K`).
            pub fn mnemonic(self) -> &'static str {
                match self { $( Opcode::$variant => $mnemonic ),* }
            }

            pub fn from_mnemonic(text: &str) -> Option<Opcode> {
                match text { $( $mnemonic => Some(Opcode::$variant), )* _ => None }
            }

            /// Field names in encoding (and printing) order.
            pub fn field_names(self) -> &'static [&'static str] {
                match self { $( Opcode::$variant => &[$(stringify!($field)),*] ),* }
            }

            /// Bytes used by the opcode and fields; the rest of the instruction is zero.
            pub fn used_bytes(self) -> usize {
                match self { $( Opcode::$variant => 1 $(+ <$fty as Field>::WIDTH)* ),* }
            }
        }

        impl Instr {
            pub fn opcode(&self) -> Opcode {
                match self { $( Instr::$variant { .. } => Opcode::$variant ),* }
            }

            /// The engine whose queue executes this instruction.
            #[allow(unused_variables)]
            pub fn engine(&self) -> Engine {
                match self { $( Instr::$variant { $($field),* } => $engine ),* }
            }

            /// Append the fields' bytes (not the opcode, not the padding).
            pub(crate) fn put_fields(&self, out: &mut Vec<u8>) {
                match self { $( Instr::$variant { $($field),* } => { $( $field.put(out); )* } )* }
            }

            /// Decode the fields of `op` from the bytes after the opcode.
            pub(crate) fn get_fields(op: Opcode, r: &mut FieldReader<'_>) -> Result<Instr, (usize, FieldError)> {
                Ok(match op {
                    $( Opcode::$variant => Instr::$variant { $( $field: r.take::<$fty>()? ),* }, )*
                })
            }

            /// ` name=value` for every field, in order.
            pub(crate) fn print_fields(&self, out: &mut String) {
                match self {
                    $( Instr::$variant { $($field),* } => {
                        $(
                            out.push(' ');
                            out.push_str(stringify!($field));
                            out.push('=');
                            $field.print(out);
                        )*
                    } )*
                }
            }

            /// Build an `op` instruction from named fields.
            pub(crate) fn parse_fields<S: FieldSource>(op: Opcode, src: &mut S) -> Result<Instr, S::Error> {
                Ok(match op {
                    $( Opcode::$variant => Instr::$variant { $( $field: src.take::<$fty>(stringify!($field))? ),* }, )*
                })
            }
        }
    };
}

isa! {
    /// DRAM → SRAM: `rows` rows of `row_bytes`, DRAM rows `stride` bytes apart.
    Ld = 0x01, "LD", [Engine::Dma],
        { dst: SramRef, src: DramAddr, rows: u32, row_bytes: u32, stride: u32 };
    /// SRAM → DRAM: `rows` rows of `row_bytes`, DRAM rows `stride` bytes apart.
    St = 0x02, "ST", [Engine::Dma],
        { dst: DramAddr, src: SramRef, rows: u32, row_bytes: u32, stride: u32 };
    /// DRAM → SRAM rows chosen by an index list: row i from `src + idx[i]·stride`.
    Gather = 0x03, "GATHER", [Engine::Dma],
        { dst: SramRef, src: DramAddr, idx: SramRef, max_rows: u32, row_bytes: u32, stride: u32 };
    /// SRAM → SRAM copy of `bytes` bytes.
    Copy = 0x04, "COPY", [Engine::Dma],
        { dst: SramRef, src: SramRef, bytes: u32 };

    /// DLZS phase 1.1: K̂ = X · W with W in log (LZ) form.
    DlzsK = 0x10, "DLZS.K", [Engine::Dlzs],
        { dst: SramRef, x: SramRef, w: SramRef, rows: u32, k: u32, n: u32, xt: DType, wt: DType, ot: DType };
    /// DLZS phase 1.2: Â = LZ(Q) · K̂ᵀ.
    DlzsS = 0x11, "DLZS.S", [Engine::Dlzs],
        { dst: SramRef, q: SramRef, khat: SramRef, rows: u32, k: u32, n: u32, qt: DType, kt: DType, ot: DType };

    /// Per-row top-`sel` of one key tile within radius; writes indices and top-1/top-2.
    Sads = 0x20, "SADS", [Engine::Sads],
        { idx: SramRef, top: SramRef, src: SramRef, rows: u16, n: u32, sel: u16, base: u32, radius: f32, dt: DType };
    /// Reuse-aware issue order of a block's selected keys; writes the order and slot numbers.
    Rass = 0x21, "RASS", [Engine::Ctrl],
        { order: SramRef, slot: SramRef, idx: SramRef, rows: u16, sel: u16, n: u32, reuse: bool };

    /// On-demand K or V rows: `dst[i] (+)= x[i] · W` for the rows of an index list.
    Kvgen = 0x30, "KVGEN", [Engine::Kvpe],
        { dst: SramRef, x: SramRef, w: SramRef, list: SramRef, max_rows: u32, k: u32, n: u16, acc: bool, dt: DType };
    /// SU-FA over one key tile: per-row partial (m, l, o), or (`acc`) merged into `dst`'s.
    SufaT = 0x31, "SUFA.T", [Engine::Sufa],
        { dst: SramRef, q: SramRef, k: SramRef, v: SramRef, slot: SramRef, rows: u16, sel: u16, d: u16, slots: u16, mode: SufaMode, acc: bool, dt: DType };
    /// SU-FA tile synchronisation: merge the tiles' partials and divide.
    SufaSync = 0x32, "SUFA.SYNC", [Engine::Sufa],
        { dst: SramRef, part: SramRef, rows: u16, tiles: u16, d: u16, dt: DType };
    /// SU-FA score bias (a prefix): gathers `bias[r][idx[r][s] − base]` for the next SUFA.T,
    /// which adds it to its exact scores.
    SufaBias = 0x33, "SUFA.BIAS", [Engine::Sufa],
        { bias: SramRef, idx: SramRef, rows: u16, sel: u16, n: u32, base: u32, dt: DType };

    /// Dense matrix product on the PE array, optional bias, optional accumulation.
    Gemm = 0x40, "GEMM", [Engine::Kvpe],
        { dst: SramRef, a: SramRef, b: SramRef, bias: Option<SramRef>, m: u32, n: u32, k: u32, trans_b: bool, acc: bool, dt: DType };
    /// 8-bit integer product with zero points, i32 result: `dst (+)= (a − azp) · (b − bzp)`.
    GemmQ = 0x41, "GEMM.Q", [Engine::Kvpe],
        { dst: SramRef, a: SramRef, b: SramRef, azp: Option<SramRef>, bzp: Option<SramRef>, m: u16, n: u16, k: u16, trans_b: bool, acc: bool, at: DType, bt: DType };

    /// dst = a + b (b broadcast).
    VecAdd = 0x50, "VEC.ADD", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, dt: DType };
    /// dst = a − b (b broadcast).
    VecSub = 0x51, "VEC.SUB", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, dt: DType };
    /// dst = a · b (b broadcast).
    VecMul = 0x52, "VEC.MUL", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, dt: DType };
    /// dst = a / b (b broadcast).
    VecDiv = 0x53, "VEC.DIV", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, dt: DType };
    /// dst = max(a, b) (b broadcast).
    VecMax = 0x54, "VEC.MAX", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, dt: DType };
    /// dst = cond ? a : b, elementwise (cond is `i1`, one byte per element, non-zero = true).
    VecSelect = 0x55, "VEC.SELECT", [Engine::Vec],
        { dst: SramRef, cond: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = exp(a).
    VecExp = 0x58, "VEC.EXP", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = erf(a).
    VecErf = 0x59, "VEC.ERF", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = gelu(a), exact (erf) form.
    VecGelu = 0x5a, "VEC.GELU", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = gelu(a), tanh approximation.
    VecGeluTanh = 0x5b, "VEC.GELU_TANH", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = a · sigmoid(a).
    VecSilu = 0x5c, "VEC.SILU", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = max(a, 0).
    VecRelu = 0x5d, "VEC.RELU", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = tanh(a).
    VecTanh = 0x5e, "VEC.TANH", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = 1 / (1 + exp(−a)).
    VecSigmoid = 0x5f, "VEC.SIGMOID", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = sqrt(a).
    VecSqrt = 0x60, "VEC.SQRT", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = 1 / a.
    VecRecip = 0x61, "VEC.RECIP", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// Row reduction: dst[rows×1] = sum / mean / max / min of each row of a[rows×cols].
    VecReduce = 0x62, "VEC.REDUCE", [Engine::Vec],
        { dst: SramRef, a: SramRef, rows: u32, cols: u32, op: ReduceOp, dt: DType };
    /// dst (`i1`) = a op b elementwise (b broadcast); integers compare exactly.
    VecCmp = 0x63, "VEC.CMP", [Engine::Vec],
        { dst: SramRef, a: SramRef, b: SramRef, rows: u32, cols: u32, bcast: Bcast, op: CmpOp, dt: DType };
    /// dst = cos(a).
    VecCos = 0x64, "VEC.COS", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = sin(a).
    VecSin = 0x65, "VEC.SIN", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// dst = a · mul + add.
    VecAffine = 0x68, "VEC.AFFINE", [Engine::Vec],
        { dst: SramRef, a: SramRef, rows: u32, cols: u32, mul: f32, add: f32, dt: DType };
    /// Row-wise softmax.
    VecSoftmax = 0x69, "VEC.SOFTMAX", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };
    /// Row-wise layer normalisation with scale and optional bias.
    VecLayerNorm = 0x6a, "VEC.LAYERNORM", [Engine::Vec],
        { dst: SramRef, x: SramRef, gamma: SramRef, beta: Option<SramRef>, rows: u32, cols: u32, eps: f32, dt: DType };
    /// Row-wise RMS normalisation with scale.
    VecRmsNorm = 0x6b, "VEC.RMSNORM", [Engine::Vec],
        { dst: SramRef, x: SramRef, gamma: SramRef, rows: u32, cols: u32, eps: f32, dt: DType };
    /// Rotary position embedding from a cos|sin table, positions from a list or the row number.
    VecRope = 0x6c, "VEC.ROPE", [Engine::Vec],
        { dst: SramRef, x: SramRef, table: SramRef, pos: Option<SramRef>, rows: u32, cols: u32, table_rows: u32, interleaved: bool, dt: DType };
    /// Element type conversion.
    VecCvt = 0x6d, "VEC.CVT", [Engine::Vec],
        { dst: SramRef, a: SramRef, rows: u32, cols: u32, from: DType, to: DType };
    /// 2-D transpose: dst (cols × rows) = aᵀ.
    VecTranspose = 0x6e, "VEC.TRANSPOSE", [Engine::Vec], { dst: SramRef, a: SramRef, rows: u32, cols: u32, dt: DType };

    /// Smallest and largest value of a tile into `dst[2]` (f32); `acc` folds in the previous pair.
    VecMinMax = 0x80, "VEC.MINMAX", [Engine::Vec],
        { dst: SramRef, a: SramRef, rows: u32, cols: u32, acc: bool, dt: DType };
    /// `DynamicQuantizeLinear`'s scale and zero point from a `[min, max]` pair.
    VecQParam = 0x81, "VEC.QPARAM", [Engine::Vec],
        { scale: SramRef, zp: SramRef, src: SramRef, qt: DType };
    /// dst = saturate(round_half_even(a / scale) + zp), scale and zp broadcast.
    VecQuant = 0x82, "VEC.QUANT", [Engine::Vec],
        { dst: SramRef, a: SramRef, scale: SramRef, zp: Option<SramRef>, rows: u32, cols: u32, bcast: Bcast, from: DType, to: DType };
    /// dst = (a − zp) · scale, scale and zp broadcast.
    VecDequant = 0x83, "VEC.DEQUANT", [Engine::Vec],
        { dst: SramRef, a: SramRef, scale: SramRef, zp: Option<SramRef>, rows: u32, cols: u32, bcast: Bcast, from: DType, to: DType };

    /// Once every earlier instruction of `engine` has finished, increment semaphore `sem`.
    Signal = 0x70, "SIGNAL", [*engine], { engine: Engine, sem: u16 };
    /// Stall `engine` until semaphore `sem` is non-zero, then decrement it.
    Wait = 0x71, "WAIT", [*engine], { engine: Engine, sem: u16 };
    /// Wait for every engine to drain, then stop.
    Halt = 0x7f, "HALT", [Engine::Ctrl], {};

    /// Run host op `op` of the program's host-op table on the host: read its operand tensors
    /// from DRAM, evaluate it with the reference kernels, write its results; 0 chip cycles.
    /// Queued on the DMA engine, so DRAM is read and written in DMA order.
    Host = 0xa0, "HOST", [Engine::Dma], { op: u32 };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_and_mnemonics_are_unique() {
        let mut codes: Vec<u8> = Opcode::ALL.iter().map(|o| o.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Opcode::ALL.len());
        for &op in Opcode::ALL {
            assert_eq!(Opcode::from_code(op.code()), Some(op));
            assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(op));
            assert!(op.used_bytes() <= INSTR_BYTES, "{}", op.mnemonic());
        }
        assert_eq!(Opcode::from_code(0), None);
    }

    #[test]
    fn signal_runs_on_the_named_engine() {
        let i = Instr::Signal {
            engine: Engine::Sads,
            sem: 3,
        };
        assert_eq!(i.engine(), Engine::Sads);
        assert_eq!(Instr::Halt {}.engine(), Engine::Ctrl);
    }
}
