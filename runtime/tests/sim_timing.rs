//! Timing: the event loop's figures against hand-computed cycle formulas, deadlock detection,
//! utilisation, regions and the timing-only statistical model.

mod sim_common;

use std::collections::BTreeMap;

use sim_common::*;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{Engine, Opcode};
use sofa_runtime::sim::{simulate, Mode, SimOptions, TensorClass};

#[test]
fn three_engines_total_is_the_hand_computed_critical_path() {
    let out = timing(&program(THREE_ENGINES), false).expect("runs");
    let r = &out.report;
    assert_eq!(r.total_cycles, THREE_ENGINES_TOTAL);
    assert_eq!(r.time_us, 2.419);
    let expect = [
        // (engine, instructions, busy, blocked) from the derivation in sim_common.
        (Engine::Dma, 4, 102 + 1 + 1 + 104, 2210),
        (Engine::Vec, 3, 1 + 8 + 1, 102),
        (Engine::Kvpe, 4, 1156 + 1 + 1156 + 1, 0),
        (Engine::Ctrl, 1, 1, 2418),
        (Engine::Dlzs, 0, 0, 0),
    ];
    for (e, n, busy, blocked) in expect {
        let er = r.engine(e).expect("every engine is reported");
        assert_eq!(
            (er.instructions, er.busy_cycles, er.blocked_cycles),
            (n, busy, blocked),
            "{e}"
        );
    }
    assert_eq!(r.engines.len(), Engine::ALL.len());
}

#[test]
fn utilisation_is_busy_over_total() {
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    for e in &r.engines {
        assert_eq!(
            e.utilisation,
            e.busy_cycles as f64 / THREE_ENGINES_TOTAL as f64,
            "{}",
            e.engine
        );
    }
    assert_eq!(r.engine(Engine::Kvpe).unwrap().utilisation, 2314.0 / 2419.0);
}

#[test]
fn dram_traffic_is_attributed_to_the_tensor_at_the_address() {
    let r = timing(&program(THREE_ENGINES), false).unwrap().report;
    let x = r.dram_class(TensorClass::Activations).unwrap();
    let out = r.dram_class(TensorClass::Out).unwrap();
    assert_eq!((x.read_bytes, x.written_bytes), (1024, 0));
    assert_eq!((out.read_bytes, out.written_bytes), (0, 2048));
    assert_eq!((r.dram.read_bytes, r.dram.written_bytes), (1024, 2048));
}

#[test]
fn circular_waits_are_a_deadlock_naming_each_blocked_wait() {
    let p = program(
        ".version 1\n.config_hash 0x0\n\
         WAIT engine=vec sem=0\nSIGNAL engine=vec sem=1\n\
         WAIT engine=kvpe sem=1\nSIGNAL engine=kvpe sem=0\nHALT\n",
    );
    let err = timing(&p, false).unwrap_err();
    assert_eq!(err.instr, Some(0));
    assert_eq!(err.opcode, Some(Opcode::Wait));
    let text = err.to_string();
    assert!(text.starts_with("instr #0 (WAIT): deadlock:"), "{text}");
    assert!(
        text.contains("engine kvpe blocked at instr #2 (WAIT sem=1)"),
        "{text}"
    );
    assert!(
        text.contains("engine vec blocked at instr #0 (WAIT sem=0)"),
        "{text}"
    );
    assert!(text.contains("instr #4 (HALT)"), "{text}");
}

#[test]
fn a_wait_with_its_only_token_taken_deadlocks() {
    // Two WAITs on semaphore 3, one SIGNAL: vec's WAIT (#1) takes the token at cycle 0, sads
    // reaches its WAIT (#4) only after its SADS and can never pass.
    let p = program(
        ".version 1\n.config_hash 0x0\n\
         SIGNAL engine=dma sem=3\nWAIT engine=vec sem=3\nSIGNAL engine=vec sem=4\n\
         SADS idx=temp[0x3000] top=temp[0x4000] src=temp[0x1000] rows=128 n=32 sel=8 base=0 \
         radius=8.0 dt=i16\n\
         WAIT engine=sads sem=3\nWAIT engine=dlzs sem=4\nHALT\n",
    );
    let err = timing(&p, false).unwrap_err();
    assert_eq!(err.instr, Some(4));
    // SADS 128×32, sel 8: ceil(128/128)·ceil(8/4)·ceil(32/12) + ceil(log2 16) = 6 + 4 = 10.
    assert!(
        err.message
            .contains("engine sads blocked at instr #4 (WAIT sem=3) since cycle 10"),
        "{err}"
    );
    assert!(!err.message.contains("dlzs"), "dlzs got its token: {err}");
}

#[test]
fn regions_split_cycles_by_instruction_range() {
    let p = program(THREE_ENGINES);
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        trace: false,
        regions: vec![("load+add".into(), 0..5), ("tail".into(), 9..12)],
        ..SimOptions::default()
    };
    let r = simulate(&p, &HwConfig::default(), &BTreeMap::new(), &opts)
        .unwrap()
        .report;
    let head = &r.regions[0];
    assert_eq!((head.start_cycle, head.end_cycle), (0, 112));
    assert_eq!(head.busy_cycles, 102 + 1 + 1 + 8 + 1);
    assert_eq!((head.dram_read_bytes, head.dram_written_bytes), (1024, 0));
    let tail = &r.regions[1];
    assert_eq!((tail.start_cycle, tail.end_cycle), (2313, 2419));
    assert_eq!(tail.busy_cycles, 1 + 104 + 1);
    assert_eq!(tail.dram_written_bytes, 2048);
    assert_eq!(tail.recall, None);
}

#[test]
fn a_region_past_the_end_is_an_error() {
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        trace: false,
        regions: vec![("bad".into(), 3..13)],
        ..SimOptions::default()
    };
    let err = simulate(
        &program(THREE_ENGINES),
        &HwConfig::default(),
        &BTreeMap::new(),
        &opts,
    )
    .unwrap_err();
    assert!(err.message.contains("region 'bad' 3..13"), "{err}");
}

#[test]
fn timing_only_counts_come_from_the_expected_distinct_keys() {
    let p = program(LIST_CHAIN);
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        trace: false,
        regions: vec![
            ("rass".into(), 0..1),
            ("gather".into(), 3..4),
            ("kvgen".into(), 6..7),
        ],
        ..SimOptions::default()
    };
    let r = simulate(&p, &HwConfig::default(), &BTreeMap::new(), &opts)
        .unwrap()
        .report;
    let busy: Vec<u64> = r.regions.iter().map(|g| g.busy_cycles).collect();
    assert_eq!(busy, vec![62, 122, 4228]);
    assert_eq!(r.total_cycles, LIST_CHAIN_TOTAL);
    // 22 gathered rows of 512 bytes, from the input tensor.
    let x = r.dram_class(TensorClass::Activations).unwrap();
    assert_eq!(x.read_bytes, 22 * 512);
}
