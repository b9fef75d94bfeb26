//! Cycle formulas against figures computed by hand from the default (paper) configuration:
//! 1 GHz, 512 GB/s and 100 ns DRAM, DLZS 128×32, SADS 128 × 16→4, KV PE 128×4,
//! SU-FA 128 lines × (2+2) PEs with 128 exp and 128 div units, 128 vector lanes.

use super::*;
use crate::isa::{Bcast, DType, Engine, SramRef};

fn hw() -> HwConfig {
    HwConfig::default()
}

fn t(o: u32) -> SramRef {
    SramRef::temp(o)
}

fn ld(rows: u32, row_bytes: u32) -> Instr {
    Instr::Ld {
        dst: t(0),
        src: crate::isa::DramAddr(0),
        rows,
        row_bytes,
        stride: row_bytes,
    }
}

#[test]
fn dma_of_64_kib_is_bandwidth_plus_latency() {
    // 65536 B / 512 B per cycle = 128 cycles, plus 100 ns = 100 cycles.
    assert_eq!(ld(64, 1024).cycles(&hw()), Ok(228));
    assert_eq!(dma_cycles(&hw(), 65536), Ok(228));
    // A single byte still pays the latency and one cycle.
    assert_eq!(ld(1, 1).cycles(&hw()), Ok(101));
}

#[test]
fn dlzs_key_and_score_prediction() {
    // K̂ for 128 tokens, H = 768, D = 64: 1 row pass × 2 column passes × 768 + (128 + 32).
    let k = Instr::DlzsK {
        dst: t(0),
        x: t(0),
        w: t(0),
        rows: 128,
        k: 768,
        n: 64,
        xt: DType::I8,
        wt: DType::Lz4,
        ot: DType::I16,
    };
    assert_eq!(k.cycles(&hw()), Ok(1696));
    // Â for 128 queries × a 64-key tile, D = 64: 2 passes × 64 + 160.
    let s = Instr::DlzsS {
        dst: t(0),
        q: t(0),
        khat: t(0),
        rows: 128,
        k: 64,
        n: 64,
        qt: DType::I16,
        kt: DType::I16,
        ot: DType::I32,
    };
    assert_eq!(s.cycles(&hw()), Ok(288));
}

fn sads(n: u32, sel: u16) -> Instr {
    Instr::Sads {
        idx: t(0),
        top: t(0),
        src: t(0),
        rows: 128,
        n,
        sel,
        base: 0,
        radius: 8.0,
        dt: DType::I32,
    }
}

#[test]
fn sads_tiles_cut_sorting_work_about_n_fold() {
    // Tile of 256 keys, top 64: 16 passes × ceil(256/12) = 22 rounds + log2(16) = 4.
    assert_eq!(sads(256, 64).cycles(&hw()), Ok(356));
    // Whole row of 1024, top 256: 64 passes × 86 rounds + 4 = 5508, vs 4 tiles × 356 = 1424.
    assert_eq!(sads(1024, 256).cycles(&hw()), Ok(5508));
}

#[test]
fn rass_costs_build_plus_scan_plus_issue() {
    let r = |reuse| Instr::Rass {
        order: t(0),
        slot: t(0),
        idx: t(0),
        rows: 128,
        sel: 16,
        n: 64,
        reuse,
    };
    // sel mask writes (128 rows in parallel) + 64 key scans + at most 64 unique issues.
    assert_eq!(r(true).cycles(&hw()), Ok(16 + 64 + 64));
    let seen = DynamicCounts {
        rows: Some(40),
        rescales: 0,
    };
    assert_eq!(r(true).cycles_with(&hw(), &seen), Ok(16 + 64 + 40));
    // Without reuse every one of the 128 × 16 entries is issued.
    assert_eq!(r(false).cycles(&hw()), Ok(2048));
}

#[test]
fn kvgen_uses_the_run_time_row_count_up_to_its_bound() {
    let g = Instr::Kvgen {
        dst: t(0),
        x: t(0),
        w: t(0),
        list: t(0),
        max_rows: 64,
        k: 768,
        n: 64,
        acc: false,
        dt: DType::F16,
    };
    // 1 × ceil(64/4) = 16 passes × 768 + (128 + 4).
    assert_eq!(g.cycles(&hw()), Ok(12_420));
    let few = DynamicCounts {
        rows: Some(0),
        rescales: 0,
    };
    assert_eq!(g.cycles_with(&hw(), &few), Ok(132));
    let too_many = DynamicCounts {
        rows: Some(1000),
        rescales: 0,
    };
    assert_eq!(g.cycles_with(&hw(), &too_many), Ok(12_420));
}

fn sufa_acc(mode: SufaMode, acc: bool) -> Instr {
    Instr::SufaT {
        dst: t(0),
        q: t(0),
        k: t(0),
        v: t(0),
        slot: t(0),
        rows: 128,
        sel: 16,
        d: 64,
        slots: 64,
        mode,
        acc,
        dt: DType::F16,
    }
}

fn sufa(mode: SufaMode) -> Instr {
    sufa_acc(mode, false)
}

#[test]
fn sufa_sorted_saves_the_max_scan_and_rescale_of_fa2() {
    // Per key ceil(64/2) = 32 cycles. Sorted: 16·32 + 2 + 32 fill = 546.
    assert_eq!(sufa(SufaMode::Sorted).cycles(&hw()), Ok(546));
    // Three max-assurance violations: three o rescales of 32 cycles.
    let v = DynamicCounts {
        rows: None,
        rescales: 3,
    };
    assert_eq!(sufa(SufaMode::Sorted).cycles_with(&hw(), &v), Ok(642));
    // FA-2: 16·32 + 16 compares + 32 rescale + 32 fill = 592.
    assert_eq!(sufa(SufaMode::Fa2).cycles(&hw()), Ok(592));
    // Merging into the running partials rescales the running o once more: + 32.
    assert_eq!(sufa_acc(SufaMode::Sorted, true).cycles(&hw()), Ok(578));
    assert_eq!(sufa_acc(SufaMode::Fa2, true).cycles(&hw()), Ok(624));
    // Tile sync of 4 tiles: 4·(32 + 1) merge + 64 divides + 32 fill.
    let sync = Instr::SufaSync {
        dst: t(0),
        part: t(0),
        rows: 128,
        tiles: 4,
        d: 64,
        dt: DType::F16,
    };
    assert_eq!(sync.cycles(&hw()), Ok(228));
}

#[test]
fn sufa_bias_fetches_one_value_per_line_per_cycle() {
    let bias = |rows, sel| Instr::SufaBias {
        bias: t(0),
        idx: t(0),
        rows,
        sel,
        n: 64,
        base: 0,
        dt: DType::F32,
    };
    // 128 rows on 128 lines: 16 fetches + 1 cycle to the first index.
    assert_eq!(bias(128, 16).cycles(&hw()), Ok(17));
    // One row of a staged sub-list: 64 fetches + 1.
    assert_eq!(bias(1, 64).cycles(&hw()), Ok(65));
    assert_eq!(bias(1, 1).engine(), Engine::Sufa);
}

#[test]
fn dense_and_vector_formulas() {
    let gemm = Instr::Gemm {
        dst: t(0),
        a: t(0),
        b: t(0),
        bias: None,
        m: 128,
        n: 768,
        k: 768,
        trans_b: false,
        acc: false,
        dt: DType::F16,
    };
    assert_eq!(gemm.cycles(&hw()), Ok(192 * 768 + 132));
    let add = Instr::VecAdd {
        dst: t(0),
        a: t(0),
        b: t(0),
        rows: 128,
        cols: 768,
        bcast: Bcast::Row,
        dt: DType::F32,
    };
    assert_eq!(add.cycles(&hw()), Ok(768));
    // 3 sweeps of 768 + 2 reductions × 128 rows × log2(128) = 7.
    let ln = Instr::VecLayerNorm {
        dst: t(0),
        x: t(0),
        gamma: t(0),
        beta: None,
        rows: 128,
        cols: 768,
        eps: 1e-5,
        dt: DType::F32,
    };
    assert_eq!(ln.cycles(&hw()), Ok(2304 + 1792));
    let rms = Instr::VecRmsNorm {
        dst: t(0),
        x: t(0),
        gamma: t(0),
        rows: 128,
        cols: 768,
        eps: 1e-5,
        dt: DType::F32,
    };
    assert_eq!(rms.cycles(&hw()), Ok(1536 + 896));
    let copy = Instr::Copy {
        dst: t(0),
        src: t(512),
        bytes: 512,
    };
    assert_eq!(copy.cycles(&hw()), Ok(8));
    let sig = Instr::Signal {
        engine: Engine::Dma,
        sem: 0,
    };
    assert_eq!(sig.cycles(&hw()), Ok(1));
}

#[test]
fn overflow_and_zero_divisors_are_errors() {
    assert_eq!(
        ld(u32::MAX, u32::MAX).cycles(&hw()),
        Err(CostError::Overflow("DMA bytes"))
    );
    let mut bad = hw();
    bad.dram.bandwidth_mb_s = 0;
    assert_eq!(
        ld(1, 1).cycles(&bad),
        Err(CostError::ZeroConfig("dram.bandwidth_mb_s"))
    );
    let mut bad = hw();
    bad.sufa.cols = 1; // SA width 0
    assert_eq!(
        sufa(SufaMode::Sorted).cycles(&bad),
        Err(CostError::ZeroConfig("sufa.cols"))
    );
    let huge = Instr::Gemm {
        dst: t(0),
        a: t(0),
        b: t(0),
        bias: None,
        m: u32::MAX,
        n: u32::MAX,
        k: u32::MAX,
        trans_b: false,
        acc: false,
        dt: DType::F16,
    };
    assert!(matches!(huge.cycles(&hw()), Err(CostError::Overflow(_))));
}

#[test]
fn formulas_name_their_config_keys() {
    assert!(ld(1, 1).formula().contains("dram.bandwidth_mb_s"));
    assert!(sads(64, 16).formula().contains("sads.sorter_outputs"));
    assert!(sufa(SufaMode::Fa2).formula().contains("sufa.exp_units"));
}
