//! What the cost model knows of a layer ([`LayerShape`]) and the plan space it searches:
//! the key tile counts, the query block, and which candidates fit the SRAMs. A leaf of
//! `schedule`: the cost model, the e-graph and the planner all read it, it reads none of them.

use sofa_ir::dialect::attn::shape::QueryBlocks;
use sofa_ir::dialect::attn::{query_blocks, AttnShape, Band, SparseMhaAttrs, SPARSE_MHA};
use sofa_ir::dialect::sofa::attention_kind;
use sofa_ir::eval::sads::keep_count;
use sofa_ir::hw::HwConfig;
use sofa_ir::{Module, Op};

use super::{KhatPlacement, Schedule, ScheduleError};

/// The sizes of one attention layer that the cost depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerShape {
    pub batch: u64,
    pub heads: u64,
    /// K/V heads (a divisor of `heads`; fewer under grouped-query attention).
    pub kv_heads: u64,
    pub seq_q: u64,
    pub seq_k: u64,
    pub head_dim: u64,
    /// Width of the token rows X that K/V are generated from (`heads · head_dim`).
    pub hidden: u64,
    pub causal: bool,
    /// Sliding window of a causal layer (`None`: plain causal or not causal).
    pub window: Option<u64>,
    /// Fraction of each row's visible keys kept (1 = dense).
    pub keep: f64,
    /// The mask is a score bias (`AttnShape::bias`): every tile loads it and SU-FA adds it to
    /// the selected keys' exact scores (`SUFA.BIAS`). Masks of exclusions only are not priced.
    pub bias: bool,
}

/// A [`LayerShape`] as an ordered key (the keep ratio by its bits): memo and cache keys.
pub type ShapeKey = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    bool,
    Option<u64>,
    u64,
    bool,
);

impl LayerShape {
    pub fn key(&self) -> ShapeKey {
        (
            self.batch,
            self.heads,
            self.kv_heads,
            self.seq_q,
            self.seq_k,
            self.head_dim,
            self.hidden,
            self.causal,
            self.window,
            self.keep.to_bits(),
            self.bias,
        )
    }

    /// The shape of an attention op (or its kernel); errors name `layer`.
    pub fn of(m: &Module, op: Op, layer: usize) -> Result<LayerShape, ScheduleError> {
        let shape =
            AttnShape::of(m, op).map_err(|source| ScheduleError::Shape { layer, source })?;
        let keep = match attention_kind(m, op) {
            Some(SPARSE_MHA) => {
                SparseMhaAttrs::from_dict(&m.op(op).attrs)
                    .map_err(|source| ScheduleError::Attrs { layer, source })?
                    .keep_ratio
            }
            _ => 1.0,
        };
        Ok(LayerShape {
            batch: shape.batch,
            heads: shape.heads,
            kv_heads: shape.kv_heads,
            seq_q: shape.seq_q,
            seq_k: shape.seq_k,
            head_dim: shape.head_dim,
            hidden: shape.heads.saturating_mul(shape.head_dim),
            causal: shape.causal,
            window: shape.window,
            keep,
            bias: shape.bias,
        })
    }

    /// The query blocks of one (batch, head) in blocks of `rows` queries.
    pub fn blocks(&self, rows: u64) -> QueryBlocks {
        query_blocks(
            self.seq_q,
            self.seq_k,
            Band::of(self.causal, self.window),
            rows,
        )
    }

    /// Query heads per K/V head (1 without grouped-query attention).
    pub fn group(&self) -> u64 {
        (self.heads / self.kv_heads.max(1)).max(1)
    }

    /// The selection budget of `n` visible keys.
    pub fn budget(&self, n: u64) -> u64 {
        keep_count(self.keep, n)
    }
}

/// One point of the plan space.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub tc: u64,
    pub q_block: u64,
    pub khat: KhatPlacement,
}

/// The key tile counts searched: `2..=32` step 2 up to `Sk`, else one tile.
pub fn tc_candidates(seq_k: u64) -> Vec<u64> {
    let even: Vec<u64> = (2..=32).step_by(2).filter(|&t| t <= seq_k).collect();
    if even.is_empty() {
        vec![1]
    } else {
        even
    }
}

/// The largest query block: `block.query_rows` (the queries SU-FA, SADS and RASS take at
/// once), or `Sq` when smaller.
pub fn q_block(hw: &HwConfig, s: &LayerShape) -> u64 {
    u64::from(hw.block.query_rows).min(s.seq_q).max(1)
}

/// How many times the query block is halved at most ([`q_block_candidates`]).
const Q_BLOCK_HALVINGS: u32 = 1;

/// The query blocks searched, largest first: [`q_block`] and its half.
/// A smaller block leaves lanes idle but needs smaller buffers, so its key tiles can be
/// larger or its rings deeper; which wins is the cost model's to say.
pub fn q_block_candidates(hw: &HwConfig, s: &LayerShape) -> Vec<u64> {
    let mut out: Vec<u64> = (0..=Q_BLOCK_HALVINGS)
        .map(|h| (q_block(hw, s) >> h).max(1))
        .collect();
    out.dedup();
    out
}

/// Whether candidate `c` of `sched` fits the SRAMs (see [`super::choose`]'s module doc).
pub fn fits(hw: &HwConfig, s: &LayerShape, sched: Schedule, c: &Candidate) -> bool {
    let bc = s.seq_k.div_ceil(c.tc);
    let rows = c.q_block;
    // Staged has no key tiles: its generated K/V stream through in query-block-sized chunks.
    let kv_rows = if sched == Schedule::Staged {
        bc.min(rows)
    } else {
        bc
    };
    let token = rows * s.head_dim * 2 + 2 * kv_rows * s.head_dim * 2 + rows * s.head_dim * 4;
    let sel = s.budget(s.seq_k).div_ceil(c.tc).min(bc);
    let temp = rows * bc + rows * sel * 2;
    token <= hw.sram.token_bytes && (sched != Schedule::Cct || temp <= hw.sram.temp_bytes)
}

/// The schedule a layer actually runs: keep 1 has nothing to predict, so it is dense.
pub fn effective(sched: Schedule, s: &LayerShape) -> Schedule {
    if s.keep >= 1.0 {
        Schedule::Dense
    } else {
        sched
    }
}
