//! The sizes of an attention op and the geometry every consumer splits it by: query blocks,
//! the keys each block sees, the key tiles it touches. The lowering, the cost model and the
//! paper's complexity counts all walk a layer with [`query_blocks`], so they cannot disagree
//! on where a block ends or which keys a causal block sees.

use crate::isa::DType;
use crate::module::{Module, Op};

use super::MhaAttrs;

/// What an attention op's operand types and attributes fix: sizes, masking, element type and
/// score scale.
#[derive(Clone, Debug, PartialEq)]
pub struct AttnShape {
    pub batch: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub seq_q: u64,
    pub seq_k: u64,
    pub head_dim: u64,
    pub causal: bool,
    /// Sliding window of a causal op: a query sees itself and the `window − 1` keys before it.
    pub window: Option<u64>,
    /// The op has a mask operand.
    pub masked: bool,
    /// The mask may hold values other than 0 and −inf (a score bias, [`super::mask`]), which
    /// the exact scores must add too; `false` without a mask.
    pub bias: bool,
    /// Element type of q (and k, v, the output).
    pub dt: DType,
    pub scale: f32,
}

/// Why an op's shape cannot be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AttnShapeError {
    #[error("not an attention op")]
    NotAttention,
    #[error("attn.mha lacks its attributes")]
    Attributes,
    #[error("operand {0} must be a static non-empty float [B, H, S, D] tensor")]
    Operand(usize),
    #[error("q {q:?} and k {k:?} do not match")]
    QkMismatch { q: Vec<u64>, k: Vec<u64> },
    #[error("v {v:?} must have k's shape {k:?} (SU-FA needs the value width = head_dim)")]
    VShape { v: Vec<u64>, k: Vec<u64> },
    #[error("scale {0} is not a finite f32")]
    Scale(f64),
}

impl AttnShape {
    /// The shape of `op`, an `attn.mha`, `attn.sparse_mha` or the `sofa.kernel` that replaced
    /// one. Every size must be static.
    pub fn of(m: &Module, op: Op) -> Result<AttnShape, AttnShapeError> {
        crate::dialect::sofa::attention_kind(m, op).ok_or(AttnShapeError::NotAttention)?;
        let attrs = MhaAttrs::of(m, op).ok_or(AttnShapeError::Attributes)?;
        let (dt, q) = operand(m, op, 0)?;
        let (_, k) = operand(m, op, 1)?;
        let (_, v) = operand(m, op, 2)?;
        if q[3] != k[3] || q[0] != k[0] || !q[1].is_multiple_of(k[1]) {
            return Err(AttnShapeError::QkMismatch { q, k });
        }
        if v != k {
            return Err(AttnShapeError::VShape { v, k });
        }
        let scale = attrs.scale as f32;
        if !scale.is_finite() {
            return Err(AttnShapeError::Scale(attrs.scale));
        }
        let mask = m.op(op).operands.get(3).copied();
        Ok(AttnShape {
            batch: q[0],
            heads: q[1],
            kv_heads: k[1],
            seq_q: q[2],
            seq_k: k[2],
            head_dim: q[3],
            causal: attrs.causal,
            window: attrs
                .window
                .filter(|_| attrs.causal)
                .and_then(|w| u64::try_from(w).ok()),
            masked: mask.is_some(),
            bias: mask.is_some_and(|v| !super::mask::excludes_only(m, v)),
            dt,
            scale,
        })
    }

    /// A shape of the given sizes and type: not causal, no mask, scale 1.
    pub fn new(
        batch: u64,
        heads: u64,
        kv_heads: u64,
        seq_q: u64,
        seq_k: u64,
        head_dim: u64,
        dt: DType,
    ) -> AttnShape {
        AttnShape {
            batch,
            heads,
            kv_heads,
            seq_q,
            seq_k,
            head_dim,
            causal: false,
            window: None,
            masked: false,
            bias: false,
            dt,
            scale: 1.0,
        }
    }

    /// The query blocks of one (batch, head) in blocks of `rows` queries.
    pub fn query_blocks(&self, rows: u64) -> QueryBlocks {
        query_blocks(self.seq_q, self.seq_k, self.band(), rows)
    }

    /// Which keys each query sees by position.
    pub fn band(&self) -> Band {
        Band::of(self.causal, self.window)
    }
}

/// The static `[B, H, S, D]` float type of operand `i`.
fn operand(m: &Module, op: Op, i: usize) -> Result<(DType, Vec<u64>), AttnShapeError> {
    let t = m
        .op(op)
        .operands
        .get(i)
        .and_then(|&v| m.value_type(v).as_tensor())
        .ok_or(AttnShapeError::Operand(i))?;
    let dims: Option<Vec<u64>> = t.dims.iter().map(|d| d.as_static()).collect();
    let dt = DType::from_elem(t.elem);
    match dims {
        Some(s) if s.len() == 4 && dt.is_float() && !s.contains(&0) => Ok((dt, s)),
        _ => Err(AttnShapeError::Operand(i)),
    }
}

/// Which keys a query sees by position (top-left aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// Every key.
    None,
    /// Keys up to the query.
    Causal,
    /// The query and the `w − 1` keys before it.
    Window(u64),
}

impl Band {
    /// The band of an op's `causal` flag and `window` (which only a causal op has).
    pub fn of(causal: bool, window: Option<u64>) -> Band {
        match (causal, window) {
            (false, _) => Band::None,
            (true, None) => Band::Causal,
            (true, Some(w)) => Band::Window(w),
        }
    }

    /// Whether key `j` is visible to query `i`.
    pub fn visible(self, i: u64, j: u64) -> bool {
        match self {
            Band::None => true,
            Band::Causal => j <= i,
            Band::Window(w) => j <= i && j + w > i,
        }
    }
}

/// One block of consecutive queries of a (batch, head).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryBlock {
    /// Position of the block (0, 1, ...).
    pub index: u64,
    /// Its first query.
    pub q0: u64,
    pub rows: u64,
    /// One past the last key visible to the block: all keys, or up to its last query when
    /// causal.
    pub visible: u64,
    /// The first key visible to some query of the block: 0, or the window's start of its
    /// first query (at most `visible − 1`, so that a block never covers zero keys).
    pub first: u64,
}

impl QueryBlock {
    /// Keys visible to some query of the block.
    pub fn keys(&self) -> u64 {
        self.visible - self.first
    }

    /// Index of the first key tile (of width `bc`) holding visible keys: tiles before it are
    /// skipped (before a window).
    pub fn first_tile(&self, bc: u64) -> u64 {
        self.first / bc.max(1)
    }

    /// Key tiles of width `bc` that hold visible keys (the others are skipped).
    pub fn tiles(&self, bc: u64) -> u64 {
        self.visible.div_ceil(bc.max(1)) - self.first_tile(bc)
    }

    /// `(first key, width)` of each key tile of width `bc` holding visible keys, in order.
    pub fn tile_spans(&self, bc: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let bc = bc.max(1);
        (self.first_tile(bc)..self.visible.div_ceil(bc))
            .map(move |j| (j * bc, bc.min(self.visible - j * bc)))
    }
}

/// Blocks of `rows` queries (the last one may be shorter) over `seq_q` queries and `seq_k`
/// keys under `band`.
pub fn query_blocks(seq_q: u64, seq_k: u64, band: Band, rows: u64) -> QueryBlocks {
    QueryBlocks {
        seq_q,
        seq_k,
        band,
        rows: rows.max(1),
        next: 0,
        index: 0,
    }
}

/// The iterator of [`query_blocks`].
#[derive(Clone, Debug)]
pub struct QueryBlocks {
    seq_q: u64,
    seq_k: u64,
    band: Band,
    rows: u64,
    next: u64,
    index: u64,
}

impl Iterator for QueryBlocks {
    type Item = QueryBlock;

    fn next(&mut self) -> Option<QueryBlock> {
        if self.next >= self.seq_q {
            return None;
        }
        let q0 = self.next;
        let rows = self.rows.min(self.seq_q - q0);
        let (visible, first) = match self.band {
            Band::None => (self.seq_k, 0),
            Band::Causal => (self.seq_k.min(q0 + rows), 0),
            Band::Window(w) => (
                self.seq_k.min(q0 + rows),
                (q0 + 1).saturating_sub(w).min(self.seq_k),
            ),
        };
        let block = QueryBlock {
            index: self.index,
            q0,
            rows,
            visible,
            // A block whose window lies past the last key (more queries than keys) still
            // covers one key, which the band masks: its rows come out as zeros.
            first: first.min(visible.saturating_sub(1)),
        };
        self.next += rows;
        self.index += 1;
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_blocks_see_keys_up_to_their_last_query() {
        let blocks: Vec<QueryBlock> = query_blocks(300, 300, Band::Causal, 128).collect();
        let rows: Vec<u64> = blocks.iter().map(|b| b.rows).collect();
        let visible: Vec<u64> = blocks.iter().map(|b| b.visible).collect();
        assert_eq!(rows, [128, 128, 44]);
        assert_eq!(visible, [128, 256, 300]);
        assert_eq!(blocks[2].q0, 256);
        assert_eq!(blocks[2].index, 2);
        assert_eq!(blocks[1].tiles(100), 3);
        let full: Vec<u64> = query_blocks(10, 7, Band::None, 4)
            .map(|b| b.visible)
            .collect();
        assert_eq!(full, [7, 7, 7]);
        assert_eq!(query_blocks(0, 5, Band::Causal, 4).count(), 0);
        // A zero block size is one row per block, not an endless loop.
        assert_eq!(query_blocks(3, 3, Band::None, 0).count(), 3);
    }

    #[test]
    fn window_blocks_skip_tiles_before_the_band() {
        // Window 5 over 300 keys in blocks of 128: block 1 (queries 128..256) sees keys
        // 124..256, so with tiles of 100 it starts at tile 1 and touches tiles 1 and 2.
        let blocks: Vec<QueryBlock> = query_blocks(300, 300, Band::Window(5), 128).collect();
        assert_eq!((blocks[1].first, blocks[1].visible), (124, 256));
        assert_eq!(blocks[1].keys(), 132);
        assert_eq!((blocks[1].first_tile(100), blocks[1].tiles(100)), (1, 2));
        let spans: Vec<(u64, u64)> = blocks[2].tile_spans(100).collect();
        assert_eq!(spans, [(200, 100)]);
        assert_eq!(blocks[0].first, 0);
        assert!(Band::Window(5).visible(10, 6) && !Band::Window(5).visible(10, 5));
        assert!(Band::Causal.visible(3, 3) && !Band::Causal.visible(3, 4));
    }
}
