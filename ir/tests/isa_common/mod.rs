//! A program that uses every instruction (with distinct field values, so a swapped field shows)
//! and a tensor table exercising every kind, odd names and initializer data.

#![allow(dead_code)]

use sofa_ir::attr::{AttrDict, Attribute};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{
    Bcast, CmpOp, DType, DramAddr, Engine, HostArg, HostOp, Instr, Opcode, Program, ReduceOp,
    SramRef, SufaMode, TensorDecl, TensorKind,
};

fn tok(o: u32) -> SramRef {
    SramRef::token(o)
}
fn wt(o: u32) -> SramRef {
    SramRef::weight(o)
}
fn tmp(o: u32) -> SramRef {
    SramRef::temp(o)
}

pub fn tensors() -> Vec<TensorDecl> {
    let t = |name: &str, kind, dtype, shape: &[u64], dram, data: Vec<u8>| TensorDecl {
        name: name.into(),
        kind,
        dtype,
        shape: shape.to_vec(),
        dram,
        data: data.into(),
        weights: None,
    };
    vec![
        t(
            "input_ids",
            TensorKind::Input,
            DType::I64,
            &[1, 8],
            0x0,
            vec![],
        ),
        t(
            "/enc/layer.0/attn/\"q\" \\ w",
            TensorKind::Const,
            DType::F16,
            &[2, 3],
            0x100,
            (0u8..12).collect(),
        ),
        t(
            "lz weights",
            TensorKind::Const,
            DType::Lz4,
            &[3],
            0x200,
            vec![0x21, 0x0f],
        ),
        t(
            "scalar",
            TensorKind::Const,
            DType::F32,
            &[],
            0x300,
            1.5f32.to_le_bytes().to_vec(),
        ),
        t(
            "empty",
            TensorKind::Const,
            DType::F32,
            &[0, 4],
            0x400,
            vec![],
        ),
        t(
            "scratch\tk̂",
            TensorKind::Scratch,
            DType::I16,
            &[128, 64],
            0x1000,
            vec![],
        ),
        t(
            "logits",
            TensorKind::Output,
            DType::F32,
            &[1, 8, 2],
            0x6000,
            vec![],
        ),
        t(
            "host \"out\"",
            TensorKind::Scratch,
            DType::F32,
            &[16],
            0x7000,
            vec![],
        ),
    ]
}

/// One host op reading `logits` twice (once reshaped), with an absent optional operand and
/// attributes that need quoting; it writes tensor 7.
pub fn host_ops() -> Vec<HostOp> {
    let mut attrs = AttrDict::new();
    attrs.insert(
        "fmod".into(),
        Attribute::Int {
            value: 1,
            ty: Some(sofa_ir::ElemType::I64),
        },
    );
    attrs.insert("note".into(), Attribute::String("a \"q\"\n\\".into()));
    let arg = |tensor, shape: &[u64]| HostArg {
        tensor,
        shape: shape.to_vec(),
    };
    vec![HostOp {
        op: "onnx.Mod".into(),
        name: "/Mod \"n\"".into(),
        opset: 17,
        attrs,
        operands: vec![Some(arg(6, &[16])), Some(arg(6, &[1, 8, 2])), None],
        results: vec![arg(7, &[2, 8])],
    }]
}

type UnaryCtor = fn(SramRef, SramRef, u32, u32, DType) -> Instr;
type BinaryCtor = fn(SramRef, SramRef, SramRef, u32, u32, Bcast, DType) -> Instr;

/// One of each instruction, in opcode order.
pub fn instrs() -> Vec<Instr> {
    let vec_unary: [UnaryCtor; 10] = [
        |dst, a, rows, cols, dt| Instr::VecExp {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecErf {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecGelu {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecGeluTanh {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecSilu {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecRelu {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecTanh {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecSigmoid {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecSqrt {
            dst,
            a,
            rows,
            cols,
            dt,
        },
        |dst, a, rows, cols, dt| Instr::VecRecip {
            dst,
            a,
            rows,
            cols,
            dt,
        },
    ];
    let vec_binary: [BinaryCtor; 5] = [
        |dst, a, b, rows, cols, bcast, dt| Instr::VecAdd {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        },
        |dst, a, b, rows, cols, bcast, dt| Instr::VecSub {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        },
        |dst, a, b, rows, cols, bcast, dt| Instr::VecMul {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        },
        |dst, a, b, rows, cols, bcast, dt| Instr::VecDiv {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        },
        |dst, a, b, rows, cols, bcast, dt| Instr::VecMax {
            dst,
            a,
            b,
            rows,
            cols,
            bcast,
            dt,
        },
    ];
    let mut out = vec![
        Instr::Ld {
            dst: tok(0x10),
            src: DramAddr(0x1000),
            rows: 4,
            row_bytes: 128,
            stride: 256,
        },
        Instr::St {
            dst: DramAddr(0x6000),
            src: tmp(0x20),
            rows: 8,
            row_bytes: 8,
            stride: 64,
        },
        Instr::Gather {
            dst: tok(0x400),
            src: DramAddr(0x100),
            idx: tmp(0x40),
            max_rows: 6,
            row_bytes: 12,
            stride: 12,
        },
        Instr::Copy {
            dst: tmp(0x80),
            src: tok(0x90),
            bytes: 96,
        },
        Instr::DlzsK {
            dst: tmp(0x0),
            x: tok(0x0),
            w: wt(0x0),
            rows: 32,
            k: 64,
            n: 16,
            xt: DType::I8,
            wt: DType::Lz4,
            ot: DType::I16,
        },
        Instr::DlzsS {
            dst: tmp(0x400),
            q: tok(0x800),
            khat: tmp(0x0),
            rows: 128,
            k: 16,
            n: 32,
            qt: DType::I16,
            kt: DType::I16,
            ot: DType::I32,
        },
        Instr::Sads {
            idx: tmp(0x4400),
            top: tmp(0x6400),
            src: tmp(0x400),
            rows: 128,
            n: 32,
            sel: 7,
            base: 96,
            radius: 8.5,
            dt: DType::I32,
        },
        Instr::Rass {
            order: tmp(0x6800),
            slot: tmp(0x5000),
            idx: tmp(0x4400),
            rows: 120,
            sel: 7,
            n: 32,
            reuse: true,
        },
        Instr::Kvgen {
            dst: tok(0x2000),
            x: tok(0x3000),
            w: wt(0x100),
            list: tmp(0x6800),
            max_rows: 31,
            k: 64,
            n: 16,
            acc: true,
            dt: DType::F16,
        },
        // A prefix: the next SU-FA instruction is the SUFA.T of the same rows × sel.
        Instr::SufaBias {
            bias: tmp(0),
            idx: tmp(0x4400),
            rows: 100,
            sel: 7,
            n: 32,
            base: 96,
            dt: DType::F32,
        },
        Instr::SufaT {
            dst: tok(0x8000),
            q: tok(0x800),
            k: tok(0x2000),
            v: tok(0x2400),
            slot: tmp(0x5000),
            rows: 100,
            sel: 7,
            d: 16,
            slots: 31,
            mode: SufaMode::Fa2,
            acc: true,
            dt: DType::F16,
        },
        Instr::SufaSync {
            dst: tok(0x10000),
            part: tok(0x8000),
            rows: 100,
            tiles: 3,
            d: 16,
            dt: DType::BF16,
        },
        Instr::Gemm {
            dst: tmp(0x100),
            a: tok(0x200),
            b: wt(0x300),
            bias: Some(wt(0x8000)),
            m: 5,
            n: 6,
            k: 7,
            trans_b: true,
            acc: false,
            dt: DType::F32,
        },
    ];
    let bcasts = [
        Bcast::None,
        Bcast::Row,
        Bcast::Col,
        Bcast::Scalar,
        Bcast::Row,
    ];
    for (i, (f, b)) in vec_binary.iter().zip(bcasts).enumerate() {
        let i = i as u32;
        out.push(f(
            tmp(i * 16),
            tmp(0x200 + i),
            tok(0x300 + i),
            2 + i,
            3 + i,
            b,
            DType::F32,
        ));
    }
    for (i, f) in vec_unary.iter().enumerate() {
        let i = i as u32;
        out.push(f(
            tmp(0x40 * i),
            tok(0x80 * i),
            1 + i,
            10 - i,
            if i.is_multiple_of(2) {
                DType::F32
            } else {
                DType::F16
            },
        ));
    }
    out.extend([
        Instr::VecAffine {
            dst: tok(0x0),
            a: tok(0x40),
            rows: 3,
            cols: 5,
            mul: 0.125,
            add: -1e-7,
            dt: DType::F16,
        },
        Instr::VecSoftmax {
            dst: tmp(0x0),
            a: tmp(0x0),
            rows: 16,
            cols: 128,
            dt: DType::F32,
        },
        Instr::VecLayerNorm {
            dst: tmp(0x0),
            x: tmp(0x100),
            gamma: wt(0x0),
            beta: None,
            rows: 2,
            cols: 96,
            eps: 1e-12,
            dt: DType::F32,
        },
        Instr::VecRmsNorm {
            dst: tmp(0x0),
            x: tmp(0x100),
            gamma: wt(0x40),
            rows: 2,
            cols: 96,
            eps: f32::MIN_POSITIVE,
            dt: DType::F32,
        },
        Instr::VecRope {
            dst: tmp(0x0),
            x: tmp(0x0),
            table: wt(0x1000),
            pos: Some(tmp(0x6800)),
            rows: 31,
            cols: 16,
            table_rows: 512,
            interleaved: true,
            dt: DType::F16,
        },
        Instr::VecCvt {
            dst: tok(0x0),
            a: tmp(0x0),
            rows: 8,
            cols: 8,
            from: DType::I64,
            to: DType::U32,
        },
        Instr::VecTranspose {
            dst: tmp(0x1000),
            a: tmp(0x0),
            rows: 8,
            cols: 4,
            dt: DType::I8,
        },
        Instr::VecCmp {
            dst: tmp(0x1500),
            a: tmp(0x1600),
            b: tmp(0x1700),
            rows: 5,
            cols: 9,
            bcast: Bcast::Col,
            op: CmpOp::Le,
            dt: DType::I64,
        },
        Instr::VecCmp {
            dst: tmp(0x1800),
            a: tok(0x1900),
            b: tok(0x1900),
            rows: 3,
            cols: 7,
            bcast: Bcast::None,
            op: CmpOp::Ne,
            dt: DType::BF16,
        },
        Instr::VecReduce {
            dst: tmp(0x1a00),
            a: tok(0x1b00),
            rows: 6,
            cols: 11,
            op: ReduceOp::Mean,
            dt: DType::F32,
        },
        Instr::VecReduce {
            dst: tmp(0x1c00),
            a: tok(0x1d00),
            rows: 2,
            cols: 13,
            op: ReduceOp::Min,
            dt: DType::F16,
        },
        Instr::VecCos {
            dst: tmp(0x1e00),
            a: tmp(0x1f00),
            rows: 4,
            cols: 12,
            dt: DType::F32,
        },
        Instr::VecSin {
            dst: tmp(0x2000),
            a: tmp(0x2100),
            rows: 12,
            cols: 4,
            dt: DType::BF16,
        },
        Instr::VecSelect {
            dst: tmp(0x1100),
            cond: tmp(0x1200),
            a: tmp(0x1300),
            b: tmp(0x1400),
            rows: 4,
            cols: 16,
            dt: DType::F32,
        },
        Instr::GemmQ {
            dst: tmp(0x2000),
            a: tok(0x2100),
            b: wt(0x2200),
            azp: Some(tmp(0x2300)),
            bzp: None,
            m: 3,
            n: 9,
            k: 11,
            trans_b: true,
            acc: true,
            at: DType::U8,
            bt: DType::I8,
        },
        Instr::VecMinMax {
            dst: tmp(0x2400),
            a: tok(0x2500),
            rows: 6,
            cols: 13,
            acc: false,
            dt: DType::F16,
        },
        Instr::VecQParam {
            scale: tmp(0x2600),
            zp: tmp(0x2700),
            src: tmp(0x2400),
            qt: DType::I8,
        },
        Instr::VecQuant {
            dst: tok(0x2800),
            a: tok(0x2900),
            scale: tmp(0x2600),
            zp: Some(tmp(0x2700)),
            rows: 5,
            cols: 14,
            bcast: Bcast::Col,
            from: DType::F32,
            to: DType::I8,
        },
        Instr::VecDequant {
            dst: tok(0x2a00),
            a: tok(0x2b00),
            scale: wt(0x2c00),
            zp: None,
            rows: 7,
            cols: 15,
            bcast: Bcast::Row,
            from: DType::I32,
            to: DType::BF16,
        },
        Instr::Signal {
            engine: Engine::Sufa,
            sem: 31,
        },
        Instr::Wait {
            engine: Engine::Dma,
            sem: 31,
        },
        Instr::Host { op: 0 },
        Instr::Halt {},
    ]);
    out
}

/// The full program, compiled for the default hardware.
pub fn program() -> Program {
    Program {
        config_hash: HwConfig::default().hash(),
        tensors: tensors(),
        host_ops: host_ops(),
        instrs: instrs(),
    }
}

/// Asserts the program covers the whole instruction set.
pub fn assert_covers_every_opcode(p: &Program) {
    let missing: Vec<&str> = Opcode::ALL
        .iter()
        .filter(|op| !p.instrs.iter().any(|i| i.opcode() == **op))
        .map(|op| op.mnemonic())
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}");
}
