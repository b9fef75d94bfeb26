//! A block's geometry: which query rows of which heads it holds and where their Q, O, K and V
//! rows are in DRAM — one head's positions (stacking the query heads of a KV group), or, packed,
//! the rows of consecutive heads one after the other.

use sofa_ir::dialect::attn::QueryBlock;

use super::Emitter;

/// One query block's geometry: the same query positions of `heads` consecutive query heads
/// of one KV group (see [`crate::lower::buffers::group_stack`]), their rows one head after
/// the other.
#[derive(Clone, Copy)]
pub(super) struct BlockGeo {
    pub(super) b: u64,
    /// The first query head, and how many the block stacks.
    pub(super) h: u64,
    pub(super) heads: u64,
    /// First query position of the block, positions per head, and the block's rows
    /// (`heads · pos`).
    pub(super) q0: u64,
    pub(super) pos: u64,
    pub(super) rows: u64,
    /// One past the last visible key (all keys, or up to the block's last query when
    /// causal).
    pub(super) n: u64,
    /// The first key visible to some query of the block (0 unless windowed).
    pub(super) first: u64,
    /// Base of the first head's q/o rows of the block, and of the KV head's k rows, v rows
    /// in DRAM; q/o bytes from one head to the next.
    pub(super) q: u64,
    pub(super) o: u64,
    pub(super) k: u64,
    pub(super) v: u64,
    pub(super) head_stride: u64,
}

impl BlockGeo {
    /// Keys visible to some query of the block: `[first, n)`.
    pub(super) fn keys(&self) -> u64 {
        self.n - self.first
    }

    /// The stacked heads' row spans `(head offset i, first block row, rows)` within the
    /// block's rows `[r0, r0 + c)`.
    pub(super) fn head_spans(&self, r0: u64, c: u64) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        let end = r0 + c;
        let pos = self.pos.max(1);
        (0..self.heads).filter_map(move |i| {
            let (lo, hi) = ((i * pos).max(r0), ((i + 1) * pos).min(end));
            (lo < hi).then_some((i, lo, hi - lo))
        })
    }
}

/// The rows of a block's runs.
pub(super) fn block_rows(runs: &[BlockGeo]) -> u64 {
    runs.iter().map(|g| g.rows).sum()
}

/// Each run of a block with its first row in the block.
pub(super) fn at_rows(runs: &[BlockGeo]) -> impl Iterator<Item = (u64, &BlockGeo)> {
    runs.iter().scan(0, |row, g| {
        let first = *row;
        *row += g.rows;
        Some((first, g))
    })
}

impl Emitter<'_> {
    /// Every (batch, stack of `stack` heads, query block) of the layer, in order; a block
    /// holds `rows_cap / stack` positions of each head.
    pub(super) fn blocks(&self, rows_cap: u64, stack: u64) -> Vec<BlockGeo> {
        let l = self.l;
        let stack = stack.clamp(1, l.shape.heads / l.shape.kv_heads);
        let mut out = Vec::new();
        for b in 0..l.shape.batch {
            for h in (0..l.shape.heads).step_by(stack as usize) {
                for qb in l.shape.query_blocks((rows_cap / stack).max(1)) {
                    out.push(self.geo((b, h, stack), &qb));
                }
            }
        }
        out
    }

    /// The geometry of `qb`'s positions of the `heads` query heads from head `h` of batch `b`.
    fn geo(&self, (b, h, heads): (u64, u64, u64), qb: &QueryBlock) -> BlockGeo {
        let l = self.l;
        let rb = self.row_bytes();
        let head_stride = l.shape.seq_q * rb;
        let group = l.shape.heads / l.shape.kv_heads;
        let qh = (b * l.shape.heads + h) * head_stride + qb.q0 * rb;
        let kh = (b * l.shape.kv_heads + h / group) * l.shape.seq_k * rb;
        BlockGeo {
            b,
            h,
            heads,
            q0: qb.q0,
            pos: qb.rows,
            rows: qb.rows * heads,
            n: qb.visible,
            first: qb.first,
            q: l.dram.q + qh,
            o: l.dram.o + qh,
            k: l.dram.k + kh,
            v: l.dram.v + kh,
            head_stride,
        }
    }

    /// The layer's rows — every (batch, head)'s query positions, one head after the other —
    /// cut into blocks of `rows` rows ([`crate::lower::buffers::packed_runs`]): each block a
    /// list of runs, one per head it covers, its rows after the previous run's.
    pub(super) fn packed_blocks(&self, rows: u64) -> Vec<Vec<BlockGeo>> {
        let s = &self.l.shape;
        let (mut out, mut block, mut filled) = (Vec::new(), Vec::new(), 0);
        for u in 0..s.batch * s.heads {
            let mut q0 = 0;
            while q0 < s.seq_q {
                let pos = (s.seq_q - q0).min(rows - filled);
                // `packs`: every query sees every key.
                let qb = QueryBlock {
                    index: 0,
                    q0,
                    rows: pos,
                    visible: s.seq_k,
                    first: 0,
                };
                block.push(self.geo((u / s.heads, u % s.heads, 1), &qb));
                (q0, filled) = (q0 + pos, filled + pos);
                if filled == rows {
                    out.push(std::mem::take(&mut block));
                    filled = 0;
                }
            }
        }
        if !block.is_empty() {
            out.push(block);
        }
        out
    }
}
