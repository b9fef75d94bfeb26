//! Programs and helpers shared by the simulator tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{parse_asm, Program};
use sofa_runtime::sim::{simulate, Mode, SimError, SimOptions, SimOutcome};

/// Parse `text`, stamp the default hardware's hash and check it (the simulator's precondition).
pub fn program(text: &str) -> Program {
    let hw = HwConfig::default();
    let mut p = parse_asm(text).expect("test program parses");
    p.config_hash = hw.hash();
    if let Err(errs) = p.check(&hw) {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        panic!("test program fails check:\n{}", lines.join("\n"));
    }
    p
}

pub fn timing(p: &Program, trace: bool) -> Result<SimOutcome, SimError> {
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        trace,
        regions: vec![],
        ..SimOptions::default()
    };
    simulate(p, &HwConfig::default(), &BTreeMap::new(), &opts)
}

/// Three engines (dma, vec, kvpe) chained by semaphores, plus HALT on ctrl.
///
/// Cycles on the default hardware (1 GHz, 512 GB/s, 100 ns DRAM latency, 128×4 KV PEs,
/// 128 vector lanes):
/// - #0 LD 1024 B: ceil(1024·1000/512000) + ceil(100·1000/1000) = 2 + 100 = 102 → dma [0,102)
/// - #1 SIGNAL s0 at 102 → dma [102,103)
/// - #2 WAIT s0: vec reaches it at 0, token at 102 → vec [102,103), 102 blocked
/// - #3 VEC.ADD 16×64: ceil(1024/128) = 8 → vec [103,111)
/// - #4 SIGNAL s1 at 111 → vec [111,112)
/// - #5 GEMM 16×64×64: ceil(16/128)·ceil(64/4)·64 + 128 + 4 = 1156 → kvpe [0,1156)
/// - #6 WAIT s1 (token at 111) → kvpe [1156,1157)
/// - #7 GEMM → kvpe [1157,2313)
/// - #8 SIGNAL s2 at 2313 → kvpe [2313,2314)
/// - #9 WAIT s2: dma reaches it at 103 → dma [2313,2314), 2210 blocked
/// - #10 ST 2048 B: 4 + 100 = 104 → dma [2314,2418)
/// - #11 HALT once all drained at 2418 → ctrl [2418,2419), 2418 blocked
pub const THREE_ENGINES: &str = r#".version 1
.config_hash 0x0
.tensor "x" kind=input dtype=f16 shape=[8,64] dram=0x0
.tensor "y.out" kind=output dtype=f16 shape=[16,64] dram=0x1000
LD dst=token[0x0] src=@x rows=1 row_bytes=1024 stride=1024
SIGNAL engine=dma sem=0
WAIT engine=vec sem=0
VEC.ADD dst=temp[0x0] a=token[0x0] b=token[0x0] rows=16 cols=64 bcast=none dt=f16
SIGNAL engine=vec sem=1
GEMM dst=token[0x4000] a=token[0x1000] b=weight[0x0] bias=none m=16 n=64 k=64 trans_b=false acc=false dt=f16
WAIT engine=kvpe sem=1
GEMM dst=token[0x5000] a=temp[0x0] b=weight[0x0] bias=none m=16 n=64 k=64 trans_b=false acc=false dt=f16
SIGNAL engine=kvpe sem=2
WAIT engine=dma sem=2
ST dst=@y.out src=token[0x5000] rows=1 row_bytes=2048 stride=2048
HALT
"#;

pub const THREE_ENGINES_TOTAL: u64 = 2419;

/// RASS → GATHER → KVGEN through semaphores: the timing-only model's list counts in action.
///
/// RASS rows=4 sel=8 n=32 reuse=true: expected distinct keys 32·(1 − (1 − 8/32)^4) = 21.875 → 22.
/// - #0 RASS: ceil(4/128)·8 + 32 + 22 = 62 → ctrl [0,62); #1 SIGNAL → [62,63)
/// - #2 WAIT → dma [62,63); #3 GATHER 22·512 B: ceil(11264·1000/512000) + 100 = 122 → [63,185);
///   #4 SIGNAL → [185,186)
/// - #5 WAIT → kvpe [185,186); #6 KVGEN 22 rows: ceil(22/128)·ceil(64/4)·256 + 132 = 4228
///   → [186,4414)
/// - #7 HALT → [4414,4415)
pub const LIST_CHAIN: &str = r#".version 1
.config_hash 0x0
.tensor "x" kind=input dtype=f16 shape=[32,256] dram=0x0
RASS order=temp[0x4200] slot=temp[0x4400] idx=temp[0x3000] rows=4 sel=8 n=32 reuse=true
SIGNAL engine=ctrl sem=0
WAIT engine=dma sem=0
GATHER dst=token[0xa000] src=@x idx=temp[0x4200] max_rows=32 row_bytes=512 stride=512
SIGNAL engine=dma sem=1
WAIT engine=kvpe sem=1
KVGEN dst=token[0xe000] x=token[0xa000] w=weight[0x2000] list=temp[0x4200] max_rows=32 k=256 n=64 acc=false dt=f16
HALT
"#;

pub const LIST_CHAIN_TOTAL: u64 = 4415;

pub fn functional(
    p: &Program,
    inputs: &BTreeMap<String, Vec<u8>>,
    regions: Vec<(String, std::ops::Range<usize>)>,
) -> Result<SimOutcome, SimError> {
    let opts = SimOptions {
        mode: Mode::Functional,
        trace: false,
        regions,
        ..SimOptions::default()
    };
    simulate(p, &HwConfig::default(), inputs, &opts)
}

/// The complete program of `isa.md` (one sparse attention block), checked.
pub fn isa_example() -> Program {
    let doc = include_str!("../../../ir/src/isa/isa.md");
    let start = doc
        .find(".version 1")
        .expect("isa.md has a complete program");
    let body = &doc[start..];
    let end = body.find("```").expect("the program block ends");
    program(&body[..end])
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A tiny deterministic generator (xorshift) for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
