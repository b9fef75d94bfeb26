//! The small enumerations of the ISA, each with one binary code and one assembly spelling.
//!
//! Codes are part of the binary format: never renumber, only append. DType codes start at 1 so
//! an all-zero field never decodes as a valid type.

use std::fmt;

use crate::types::ElemType;

/// Declares a fieldless enum with a byte code and a text name per variant, plus lookups.
macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $code:literal, $text:literal; )* }) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $( $(#[$vdoc])* $variant ),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The binary code.
            pub fn code(self) -> u8 {
                match self { $( $name::$variant => $code ),* }
            }

            pub fn from_code(code: u8) -> Option<$name> {
                match code { $( $code => Some($name::$variant), )* _ => None }
            }

            /// The assembly spelling.
            pub fn name(self) -> &'static str {
                match self { $( $name::$variant => $text ),* }
            }

            pub fn from_name(text: &str) -> Option<$name> {
                match text { $( $text => Some($name::$variant), )* _ => None }
            }

            /// All spellings, for error messages.
            pub fn names() -> String {
                [$($text),*].join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

code_enum! {
    /// The three on-chip SRAMs (paper Table III).
    SramSpace {
        /// Token SRAM (192 KB): token rows X, queries, gathered rows.
        Token = 0, "token";
        /// Weight SRAM (96 KB): W_k / W_v (exact and LZ form), GEMM weights.
        Weight = 1, "weight";
        /// Temp SRAM (28 KB): predicted scores, indices, partials.
        Temp = 2, "temp";
    }
}

code_enum! {
    /// Element types of buffers and tensors.
    DType {
        F32 = 1, "f32";
        F16 = 2, "f16";
        BF16 = 3, "bf16";
        I64 = 4, "i64";
        I32 = 5, "i32";
        I16 = 6, "i16";
        I8 = 7, "i8";
        U32 = 8, "u32";
        U8 = 9, "u8";
        /// Booleans, one byte each.
        I1 = 10, "i1";
        /// DLZS "LZ format" weight: 1 sign bit + 3-bit exponent, two per byte (low nibble first).
        Lz4 = 11, "lz4";
    }
}

impl DType {
    /// Storage bits per element.
    pub fn bits(self) -> u64 {
        match self {
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F16 | DType::BF16 | DType::I16 => 16,
            DType::I64 => 64,
            DType::I8 | DType::U8 | DType::I1 => 8,
            DType::Lz4 => 4,
        }
    }

    /// Bytes for `elems` elements (rounded up for `lz4`), `None` on overflow.
    pub fn bytes_for(self, elems: u64) -> Option<u64> {
        Some(elems.checked_mul(self.bits())?.div_ceil(8))
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    /// The ISA type of an IR element type.
    pub fn from_elem(e: ElemType) -> DType {
        match e {
            ElemType::F32 => DType::F32,
            ElemType::F16 => DType::F16,
            ElemType::BF16 => DType::BF16,
            ElemType::I64 => DType::I64,
            ElemType::I32 => DType::I32,
            ElemType::I8 => DType::I8,
            ElemType::U8 => DType::U8,
            ElemType::I1 => DType::I1,
        }
    }

    /// The IR element type of this ISA type (host tensors), `None` for types the IR has no
    /// tensors of.
    pub fn to_elem(self) -> Option<ElemType> {
        Some(match self {
            DType::F32 => ElemType::F32,
            DType::F16 => ElemType::F16,
            DType::BF16 => ElemType::BF16,
            DType::I64 => ElemType::I64,
            DType::I32 => ElemType::I32,
            DType::I8 => ElemType::I8,
            DType::I1 => ElemType::I1,
            DType::U32 | DType::U8 | DType::I16 | DType::Lz4 => return None,
        })
    }
}

code_enum! {
    /// The engines; each executes its own instructions in program order, concurrently with the
    /// others, and synchronises only through semaphores.
    Engine {
        /// DRAM ↔ SRAM and SRAM ↔ SRAM transfers (the paper's data fetcher).
        Dma = 0, "dma";
        /// DLZS prediction: the 128×32 shift-add array.
        Dlzs = 1, "dlzs";
        /// SADS: 128 streaming 16→4 sorters with clipping.
        Sads = 2, "sads";
        /// The 128×4 PE array: on-demand K/V generation and dense GEMM.
        Kvpe = 3, "kvpe";
        /// SU-FA: 128×4 PEs (SA-1 + SA-2), 128 exp, 128 div units.
        Sufa = 4, "sufa";
        /// The vector unit (norms, activations, elementwise).
        Vec = 5, "vec";
        /// The controller: the RASS scheduler FSM and HALT.
        Ctrl = 6, "ctrl";
    }
}

code_enum! {
    /// How the second operand of a binary vector op is broadcast over `rows × cols`.
    Bcast {
        /// Same shape as the first operand.
        None = 0, "none";
        /// One row (`1 × cols`), repeated for every row (bias add).
        Row = 1, "row";
        /// One column (`rows × 1`), repeated along each row.
        Col = 2, "col";
        /// A single element.
        Scalar = 3, "scalar";
    }
}

code_enum! {
    /// How `SUFA.T` updates its running softmax state.
    SufaMode {
        /// SU-FA: keys arrive in descending predicted order; the tile max is fixed after the
        /// first two keys (max assurance), no per-key rescale.
        Sorted = 0, "sorted";
        /// FlashAttention-2: the tile max is found first, then one rescale per tile.
        Fa2 = 1, "fa2";
    }
}

code_enum! {
    /// The reduction `VEC.REDUCE` applies to each row.
    ReduceOp {
        /// Σ of the row.
        Sum = 0, "sum";
        /// Σ / cols.
        Mean = 1, "mean";
        /// Largest element (NaN if any element is NaN).
        Max = 2, "max";
        /// Smallest element (NaN if any element is NaN).
        Min = 3, "min";
    }
}

code_enum! {
    /// The comparison `VEC.CMP` applies elementwise (IEEE: every comparison with a NaN is
    /// false except `ne`).
    CmpOp {
        Eq = 0, "eq";
        Ne = 1, "ne";
        Lt = 2, "lt";
        Le = 3, "le";
        Gt = 4, "gt";
        Ge = 5, "ge";
    }
}

impl CmpOp {
    /// The comparison with its operands swapped: `a op b` ⟺ `b op.swapped() a`.
    pub fn swapped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            same => same,
        }
    }
}

code_enum! {
    /// The role of a DRAM tensor.
    TensorKind {
        /// Filled by the host before the run.
        Input = 0, "input";
        /// Read back by the host after the run.
        Output = 1, "output";
        /// Initializer data carried in the program.
        Const = 2, "const";
        /// Working space (spilled K̂, staged scores).
        Scratch = 3, "scratch";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for &d in DType::ALL {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        for &e in Engine::ALL {
            assert_eq!(Engine::from_code(e.code()), Some(e));
            assert_eq!(Engine::from_name(e.name()), Some(e));
        }
        assert_eq!(DType::from_code(0), None);
        assert_eq!(SramSpace::from_code(3), None);
    }

    #[test]
    fn byte_sizes_round_up_for_lz4() {
        assert_eq!(DType::Lz4.bytes_for(3), Some(2));
        assert_eq!(DType::F16.bytes_for(64), Some(128));
        assert_eq!(DType::I64.bytes_for(u64::MAX), None);
    }
}
