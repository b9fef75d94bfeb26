//! Every bound on small cases computed by hand (the comments show the arithmetic).

use super::*;
use crate::isa::DType;

fn layer(seq_q: u64, seq_k: u64, d: u64, band: Band, keep: f64) -> AttnWork {
    let mut s = AttnShape::new(1, 1, 1, seq_q, seq_k, d, DType::F16);
    s.causal = band != Band::None;
    s.window = match band {
        Band::Window(w) => Some(w),
        _ => None,
    };
    AttnWork::of(&s, keep, true).unwrap()
}

#[test]
fn dense_layer_needs_every_visible_pair_and_no_selection() {
    let hw = HwConfig::default();
    let mut a = layer(4, 6, 8, Band::None, 1.0);
    a.heads = 2;
    a.kv_heads = 2;
    let w = a.work(&hw).unwrap();
    // 2 heads × 4 rows, each sees all 6 keys.
    assert_eq!((w.rows, w.visible_pairs, w.selected_pairs), (8, 48, 48));
    // key = max(ceil(8 / (4/2)), ceil(128/128)) = 4 cycles: 48·4 = 192 lane-cycles.
    assert_eq!((w.sufa_lane_cycles, w.sufa_divides), (192, 64));
    assert_eq!((w.dlzs_macs, w.sads_rounds, w.kvpe_macs), (0, 0, 0));
    // f16 rows of 8 = 16 B: Q 8 rows, K and V 2 heads × 6 keys, O 8 rows.
    assert_eq!((w.dram_read, w.dram_written), (128 + 192 + 192, 128));
    let b = w.bounds(&hw).unwrap();
    // ceil(192/128) + ceil(64/128) = 2 + 1.
    assert_eq!((b.sufa, b.dlzs, b.sads, b.kvpe), (3, 0, 0, 0));
    // 640 B at 512,000 MB/s and 1000 MHz: ceil(1.25) = 2 cycles; no re-reads at this size.
    assert_eq!(b.dram.reuse_read, 0);
    assert_eq!((b.dram.bytes, b.dram.cycles), (640, 2));
    assert_eq!(b.binding(), ("sufa", 3));
}

#[test]
fn causal_sparse_layer_counts_row_by_row() {
    let hw = HwConfig::default();
    let w = layer(8, 8, 64, Band::Causal, 0.25).work(&hw).unwrap();
    // Row i sees i + 1 keys (Σ = 36) and keeps ceil(0.25·(i + 1)): 1,1,1,1,2,2,2,2 (Σ = 12).
    assert_eq!((w.visible_pairs, w.selected_pairs), (36, 12));
    // key = ceil(64/2) = 32 cycles.
    assert_eq!(w.sufa_lane_cycles, 12 * 32);
    // Every visible score predicted: 36 · 64 shift-add MACs.
    assert_eq!(w.dlzs_macs, 36 * 64);
    // Per row max(ceil(n/12), ceil(k/4)) = 1.
    assert_eq!(w.sads_rounds, 8);
    // Q 8 rows, K every key (8), V the largest row's selection (2), all of 128 B; O 8 rows.
    assert_eq!((w.dram_read, w.dram_written), (1024 + 1024 + 256, 1024));
    let b = w.bounds(&hw).unwrap();
    // ceil(384/128) + ceil(8·64/128) = 3 + 4; ceil(2304/4096); ceil(8/128).
    assert_eq!((b.sufa, b.dlzs, b.sads), (7, 1, 1));
    // 3328 B: ceil(6.5) = 7 cycles, a tie with SU-FA that SU-FA (listed first) wins.
    assert_eq!((b.dram.bytes, b.dram.cycles), (3328, 7));
    assert_eq!(b.binding(), ("sufa", 7));
}

#[test]
fn sads_rounds_are_the_larger_of_entering_and_leaving() {
    let hw = HwConfig::default();
    let a = layer(1, 100, 8, Band::None, 0.25);
    // 100 keys: ceil(100/12) = 9 rounds in; 25 selected: ceil(25/4) = 7 passes out.
    assert_eq!(a.work(&hw).unwrap().sads_rounds, 9);
    let b = layer(1, 24, 8, Band::None, 0.9);
    // 24 keys: 2 rounds in; ceil(0.9·24) = 22 selected: 6 passes out.
    assert_eq!(b.work(&hw).unwrap().sads_rounds, 6);
}

#[test]
fn windows_count_the_band_and_its_tail() {
    let hw = HwConfig::default();
    // Window 3 over 6 keys: rows see 1, 2, 3, 3, 3, 3.
    let w = layer(6, 6, 8, Band::Window(3), 1.0).work(&hw).unwrap();
    assert_eq!(w.visible_pairs, 15);
    // More queries than keys: 1, 2, 2, 2, then 1 (key 3 only), then none.
    let a = layer(8, 4, 8, Band::Window(2), 1.0);
    assert_eq!(a.work(&hw).unwrap().visible_pairs, 8);
    assert_eq!(a.keys_seen(), 4);
    assert_eq!(visible_keys(Band::Window(2), 4, 7), 0);
    assert_eq!(layer(3, 3, 8, Band::Window(0), 1.0).keys_seen(), 0);
}

#[test]
fn dram_reads_grow_with_the_square_of_the_sequence_past_the_on_chip_memory() {
    let hw = HwConfig::default();
    // Dense 4096 × 4096, d = 128 f16 (256 B rows): W = 4096² · 256 · 512 = 2,199,023,255,552;
    // M = 192 + 96 + 28 KiB = 323,584; floor(W/M) − M = 6,795,834 − 323,584 = 6,472,250 B,
    // more than the 3 MiB of compulsory Q, K and V reads.
    let w = layer(4096, 4096, 128, Band::None, 1.0).work(&hw).unwrap();
    assert_eq!(on_chip_bytes(&hw).unwrap(), 323_584);
    let b = w.bounds(&hw).unwrap();
    assert_eq!(b.dram.compulsory_read, 3 << 20);
    assert_eq!(b.dram.reuse_read, 6_472_250);
    // + 1 MiB of O = 7,520,826 B: ceil(7,520,826,000 / 512,000) = 14,690 cycles.
    assert_eq!((b.dram.bytes, b.dram.cycles), (7_520_826, 14_690));
}

#[test]
fn llama_7b_layer_matches_the_issue_estimate() {
    let hw = HwConfig::default();
    let mut a = layer(4096, 4096, 128, Band::Causal, 0.25);
    a.heads = 32;
    a.kv_heads = 32;
    let w = a.work(&hw).unwrap();
    // Σ_{n=1}^{4096} ceil(n/4) = 4 · (1 + … + 1024) = 2,099,200 pairs per head.
    assert_eq!(w.selected_pairs, 32 * 2_099_200);
    let b = w.bounds(&hw).unwrap();
    // 67,174,400 · 64 / 128 = 33,587,200, + 32 · 4096 · 128 / 128 divides.
    assert_eq!(b.sufa, 33_587_200 + 131_072);
    assert_eq!(b.binding().0, "sufa");
}

#[test]
fn works_add_and_programs_bound_their_sum() {
    let hw = HwConfig::default();
    let a = layer(8, 8, 64, Band::Causal, 0.25).work(&hw).unwrap();
    let gemm = Work {
        kvpe_macs: 512 * 10 + 1,
        ..Work::default()
    };
    let p = Work::sum([&a, &a, &gemm]).unwrap();
    assert_eq!(p.selected_pairs, 24);
    // ceil(5121 / (128·4)) = 11.
    assert_eq!(p.bounds(&hw).unwrap().kvpe, 11);
    // The sum is bounded as a whole: ceil(768/128) + ceil(1024/128) = 14.
    assert_eq!(p.bounds(&hw).unwrap().sufa, 14);
    let huge = Work {
        kvpe_macs: u64::MAX,
        ..Work::default()
    };
    assert!(huge.plus(&gemm).is_err());
    assert_eq!(efficiency(5, 10), 0.5);
    assert_eq!(efficiency(5, 0), 0.0);
}

#[test]
fn kv_rows_needed_are_the_largest_selection_or_every_seen_key() {
    let hw = HwConfig::default();
    assert_eq!(
        layer(8, 8, 64, Band::Causal, 0.25)
            .kv_rows_needed(&hw)
            .unwrap(),
        2
    );
    assert_eq!(
        layer(8, 8, 64, Band::Causal, 1.0)
            .kv_rows_needed(&hw)
            .unwrap(),
        8
    );
}
