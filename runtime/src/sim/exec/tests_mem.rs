//! LD / ST / GATHER / COPY and their traffic figures.

use sofa_ir::hw::DynamicCounts;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{DType, DramAddr, Instr, Program, SramRef, TensorDecl, TensorKind, NO_INDEX};

use super::tests_common::{exec, exec_err, memory, put_list};
use super::{static_outcome, ExecError};
use crate::sim::memory::{Memory, MemoryError};

#[test]
fn ld_with_stride_zero_broadcasts_one_row() {
    let mut m = memory(64);
    m.dram.all_mut()[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let ld = Instr::Ld {
        dst: SramRef::token(16),
        src: DramAddr(8),
        rows: 3,
        row_bytes: 4,
        stride: 0,
    };
    let out = exec(&mut m, &ld);
    assert_eq!(&m.token[16..28], &[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    assert_eq!(out.dram_read, 12);
    assert_eq!(out.sram_written, [12, 0, 0]);
}

#[test]
fn ld_and_st_stride_over_rows() {
    let mut m = memory(64);
    for (i, b) in m.dram.all_mut().iter_mut().enumerate() {
        *b = i as u8;
    }
    // Two rows of 2 bytes, 5 bytes apart: bytes 1,2 and 6,7.
    let ld = Instr::Ld {
        dst: SramRef::temp(0),
        src: DramAddr(1),
        rows: 2,
        row_bytes: 2,
        stride: 5,
    };
    exec(&mut m, &ld);
    assert_eq!(&m.temp[..4], &[1, 2, 6, 7]);
    let st = Instr::St {
        dst: DramAddr(40),
        src: SramRef::temp(0),
        rows: 2,
        row_bytes: 2,
        stride: 3,
    };
    let out = exec(&mut m, &st);
    assert_eq!(&*m.dram.read(40, 5).unwrap(), &[1, 2, 42, 6, 7]);
    assert_eq!((out.dram_written, out.sram_read), (4, [0, 0, 4]));
}

#[test]
fn ld_past_the_last_tensor_is_an_error() {
    let mut m = memory(64);
    let ld = Instr::Ld {
        dst: SramRef::token(0),
        src: DramAddr(60),
        rows: 1,
        row_bytes: 8,
        stride: 8,
    };
    let e = exec_err(&mut m, &ld);
    assert!(
        matches!(e, ExecError::Memory(MemoryError::Dram { len: 8, .. })),
        "{e}"
    );
}

fn gather(max_rows: u32) -> Instr {
    Instr::Gather {
        dst: SramRef::token(0),
        src: DramAddr(16),
        idx: SramRef::temp(0),
        max_rows,
        row_bytes: 4,
        stride: 8,
    }
}

#[test]
fn gather_fetches_listed_rows_and_skips_no_index() {
    let mut m = memory(128);
    for (i, b) in m.dram.all_mut().iter_mut().enumerate() {
        *b = i as u8;
    }
    m.token[4..8].copy_from_slice(&[9, 9, 9, 9]);
    put_list(&mut m, SramRef::temp(0), &[3, NO_INDEX, 0]);
    let out = exec(&mut m, &gather(4));
    // Row 0 ← 16 + 3·8 = 40, row 1 untouched, row 2 ← 16.
    assert_eq!(
        &m.token[..12],
        &[40, 41, 42, 43, 9, 9, 9, 9, 16, 17, 18, 19]
    );
    assert_eq!(out.counts.rows, Some(2));
    // 2 of 4 rows of 4 bytes from DRAM; the list: count word + 2 entries.
    assert_eq!(out.dram_read, 8);
    assert_eq!(out.sram_written[0], 8);
    assert_eq!(out.sram_read[2], 12);
}

#[test]
fn gather_row_outside_its_tensor_is_an_error() {
    let mut m = memory(128);
    put_list(&mut m, SramRef::temp(0), &[1, 50]);
    let e = exec_err(&mut m, &gather(4));
    // 128 bytes from 16: rows 0..=13 of 4 bytes, 8 apart, lie inside the tensor.
    assert_eq!(
        e,
        ExecError::GatherOutOfTensor {
            row: 1,
            index: 50,
            tensor: "scratch".into(),
            shape: vec![128],
            rows: 14,
            row_bytes: 4,
            stride: 8,
            src: 16,
        }
    );
    put_list(&mut m, SramRef::temp(0), &[u32::MAX - 1]);
    let e = exec_err(&mut m, &gather(4)).to_string();
    assert!(
        e.contains("index 4294967294 (list entry 0) is out of range for tensor 'scratch'"),
        "{e}"
    );
}

/// The neighbour of an embedding table is never read through it: an index one past the last
/// row stops at the table's end, although DRAM continues.
#[test]
fn gather_never_reads_the_neighbouring_tensor() {
    let hw = HwConfig::default();
    let t = |name: &str, dram| TensorDecl {
        name: name.into(),
        kind: TensorKind::Scratch,
        dtype: DType::F32,
        shape: vec![4, 2],
        dram,
        data: Default::default(),
        weights: None,
    };
    let p = Program {
        config_hash: hw.hash(),
        tensors: vec![t("vocab", 0), t("next", 32)],
        host_ops: Vec::new(),
        instrs: vec![Instr::Halt {}],
    };
    let mut m = Memory::new(&p, &hw).unwrap();
    put_list(&mut m, SramRef::temp(0), &[3, 4]);
    let g = Instr::Gather {
        dst: SramRef::token(0),
        src: DramAddr(0),
        idx: SramRef::temp(0),
        max_rows: 2,
        row_bytes: 8,
        stride: 8,
    };
    let e = exec_err(&mut m, &g).to_string();
    assert_eq!(
        e,
        "index 4 (list entry 1) is out of range for tensor 'vocab' [4, 2]: it has 4 row(s) of 8 \
         bytes, 8 bytes apart, from 0x0"
    );
    put_list(&mut m, SramRef::temp(0), &[3, 0]);
    assert_eq!(exec(&mut m, &g).counts.rows, Some(2));
}

#[test]
fn index_list_count_above_the_bound_is_an_error() {
    let mut m = memory(128);
    put_list(&mut m, SramRef::temp(0), &[0, 1, 2]);
    let e = exec_err(&mut m, &gather(2)).to_string();
    assert!(e.contains("holds 3 entries, more than its bound 2"), "{e}");
}

#[test]
fn static_gather_traffic_scales_with_the_given_rows() {
    let g = gather(4);
    let full = static_outcome(&g, &DynamicCounts::default()).unwrap();
    assert_eq!((full.dram_read, full.sram_read[2]), (16, 20));
    let half = static_outcome(
        &g,
        &DynamicCounts {
            rows: Some(2),
            rescales: 0,
        },
    )
    .unwrap();
    assert_eq!((half.dram_read, half.sram_read[2]), (8, 12));
}

#[test]
fn copy_across_spaces_and_overlapping_within_one() {
    let mut m = memory(8);
    m.token[..4].copy_from_slice(&[1, 2, 3, 4]);
    let c = Instr::Copy {
        dst: SramRef::weight(2),
        src: SramRef::token(0),
        bytes: 4,
    };
    let out = exec(&mut m, &c);
    assert_eq!(&m.weight[..6], &[0, 0, 1, 2, 3, 4]);
    assert_eq!((out.sram_read, out.sram_written), ([4, 0, 0], [0, 4, 0]));
    // memmove semantics on an overlapping range.
    let c = Instr::Copy {
        dst: SramRef::weight(3),
        src: SramRef::weight(2),
        bytes: 4,
    };
    exec(&mut m, &c);
    assert_eq!(&m.weight[..7], &[0, 0, 1, 1, 2, 3, 4]);
}
