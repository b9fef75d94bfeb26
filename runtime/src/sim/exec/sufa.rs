//! Formal compute of the sparse stage: `KVGEN` (K/V rows on demand), `SUFA.T` (one tile's
//! softmax partials) and `SUFA.SYNC` (merging the tiles' partials).
//!
//! All in `f32`. SUFA.T per row, over the row's valid slots in the given (descending predicted)
//! order, with exact scores `s = q·k`:
//! - `sorted`: the reference max `m` is the larger exact score of the first two keys (max
//!   assurance); each later key with `s > m` is a max-assurance event, handled exactly
//!   (`l, o *= e^{m−s}`, `m = s`) and counted; otherwise `l += e^{s−m}`, `o += e^{s−m}·v`.
//! - `fa2`: `m` is the max over all the row's scores first, then the same sums.
//!
//! With a pending `SUFA.BIAS` tile ([`GatheredBias`]), entry (r, s)'s bias is added to its
//! exact score first; keys whose biased score is `−inf` are skipped.
//!
//! A row without valid keys gets `m = −inf, l = 0, o = 0`, which SUFA.SYNC skips; a row empty in
//! every tile outputs zeros. With `acc` the tile's partials are merged into the running ones
//! in `dst` (log-sum-exp), the block's state across tiles.

use sofa_ir::isa::{DType, SramRef, SufaMode, NO_INDEX};

use super::data::{live, load_f32, load_u32, mul, read_list, store_f32};
use super::dense::dot;
use super::{Done, ExecError};
use crate::sim::memory::Memory;

/// `dst[i] (+)= x[i] · w` for the list's live rows; other rows untouched.
pub(super) fn kvgen(
    mem: &mut Memory,
    (dst, x, w, list): (SramRef, SramRef, SramRef, SramRef),
    (max_rows, k, n): (u32, u32, u16),
    acc: bool,
    dt: DType,
) -> Result<Done, ExecError> {
    let entries = read_list(mem, list, max_rows.into(), "list")?;
    let (c, k, n) = (entries.len(), k as usize, usize::from(n));
    let xs = load_f32(mem, x, dt, mul(c, k)?)?;
    let ws = load_f32(mem, w, dt, mul(k, n)?)?;
    let mut out = load_f32(mem, dst, dt, mul(c, n)?)?;
    let mut row = vec![0f32; n];
    let mut rows = 0u64;
    for (i, _) in live(&entries) {
        row.iter_mut().for_each(|v| *v = 0.0);
        for (&a, wrow) in xs[i * k..(i + 1) * k].iter().zip(ws.chunks_exact(n)) {
            for (o, &b) in row.iter_mut().zip(wrow) {
                *o += a * b;
            }
        }
        let o = &mut out[i * n..(i + 1) * n];
        if acc {
            o.iter_mut().zip(&row).for_each(|(o, r)| *o += r);
        } else {
            o.copy_from_slice(&row);
        }
        rows += 1;
    }
    store_f32(mem, dst, dt, &out)?;
    Ok(Done::rows(rows))
}

/// The `rows × sel` f32 tile a `SUFA.BIAS` gathered, held by the SU-FA engine until the next
/// `SUFA.T` adds it to its scores (entry (r, s) to the key of `slot[r][s]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatheredBias {
    /// The `SUFA.BIAS` instruction that gathered it.
    pub instr: usize,
    pub rows: usize,
    pub sel: usize,
    pub values: Vec<f32>,
}

/// SUFA.BIAS geometry: `rows × sel` entries of `idx`, keys `base .. base + n` per bias row.
pub(super) struct BiasShape {
    pub rows: u16,
    pub sel: u16,
    pub n: u32,
    pub base: u32,
}

/// `SUFA.BIAS` (instruction `instr`): `bias[r][idx[r][s] − base]` per entry, 0 where the
/// entry is `NO_INDEX` (SUFA.T skips those keys).
pub(super) fn sufa_bias(
    mem: &Memory,
    instr: usize,
    (bias, idx): (SramRef, SramRef),
    b: BiasShape,
    dt: DType,
) -> Result<GatheredBias, ExecError> {
    let (rows, sel, n) = (usize::from(b.rows), usize::from(b.sel), b.n as usize);
    let table = load_f32(mem, bias, dt, mul(rows, n)?)?;
    let keys = load_u32(mem, idx, mul(rows, sel)?)?;
    let mut values = vec![0f32; keys.len()];
    for (e, (&key, v)) in keys.iter().zip(&mut values).enumerate() {
        if key == NO_INDEX {
            continue;
        }
        let column = key
            .checked_sub(b.base)
            .filter(|&c| c < b.n)
            .ok_or(ExecError::BiasIndex {
                row: e / sel,
                index: key,
                base: b.base,
                n: b.n,
            })?;
        *v = table[(e / sel) * n + column as usize];
    }
    Ok(GatheredBias {
        instr,
        rows,
        sel,
        values,
    })
}

/// SUFA.T geometry.
pub(super) struct TileShape {
    pub rows: u16,
    pub sel: u16,
    pub d: u16,
    pub slots: u16,
}

/// One row's running softmax state.
struct RowState<'a> {
    m: f32,
    l: f32,
    o: &'a mut [f32],
}

impl RowState<'_> {
    /// Multiply `l` and `o` by `e^{m − new}` and move the reference to `new`.
    fn rescale(&mut self, new: f32) {
        let f = (self.m - new).exp();
        self.l *= f;
        self.o.iter_mut().for_each(|v| *v *= f);
        self.m = new;
    }

    fn add(&mut self, s: f32, v: &[f32]) {
        let p = (s - self.m).exp();
        self.l += p;
        self.o.iter_mut().zip(v).for_each(|(o, &x)| *o += p * x);
    }
}

/// `SUFA.T`: partials `(m, l, o)` per row into `dst[rows×(d+2)]` f32, or (`acc`) merged into
/// the partials already there; the scores biased by the pending `SUFA.BIAS` tile when there is
/// one.
pub(super) fn sufa_t(
    mem: &mut Memory,
    (dst, q, k, v, slot): (SramRef, SramRef, SramRef, SramRef, SramRef),
    t: TileShape,
    (mode, acc, dt): (SufaMode, bool, DType),
    bias: Option<&GatheredBias>,
) -> Result<Done, ExecError> {
    let (rows, sel, d, slots) = (
        usize::from(t.rows),
        usize::from(t.sel),
        usize::from(t.d),
        usize::from(t.slots),
    );
    if let Some(b) = bias.filter(|b| (b.rows, b.sel) != (rows, sel)) {
        return Err(ExecError::BiasShape {
            prefix: b.instr,
            bias: (b.rows, b.sel),
            tile: (rows, sel),
        });
    }
    let qs = load_f32(mem, q, dt, rows * d)?;
    let ks = load_f32(mem, k, dt, slots * d)?;
    let vs = load_f32(mem, v, dt, slots * d)?;
    let sl = load_u32(mem, slot, rows * sel)?;
    let mut out = vec![0f32; rows * (d + 2)];
    let (mut keys, mut scores) = (Vec::with_capacity(sel), Vec::with_capacity(sel));
    let (mut events, mut worst, mut used) = (0u64, 0u64, 0u64);
    for r in 0..rows {
        keys.clear();
        scores.clear();
        let qr = &qs[r * d..(r + 1) * d];
        for (e, &s) in sl
            .iter()
            .enumerate()
            .skip(r * sel)
            .take(sel)
            .filter(|&(_, &s)| s != NO_INDEX)
        {
            let s = s as usize;
            if s >= slots {
                return Err(ExecError::SufaSlot {
                    row: r,
                    slot: s,
                    slots,
                });
            }
            let score = dot(qr, &ks[s * d..(s + 1) * d]) + bias.map_or(0.0, |b| b.values[e]);
            // A key biased to −inf (an exclusion inside a bias) weighs nothing.
            if score != f32::NEG_INFINITY {
                keys.push(s);
                scores.push(score);
            }
        }
        used += keys.len() as u64;
        let (head, o) = out[r * (d + 2)..(r + 1) * (d + 2)].split_at_mut(2);
        let Some(first) = scores.first().copied() else {
            head[0] = f32::NEG_INFINITY;
            continue;
        };
        let m = match mode {
            SufaMode::Sorted => scores.get(1).map_or(first, |&b| first.max(b)),
            SufaMode::Fa2 => scores.iter().copied().fold(first, f32::max),
        };
        let mut st = RowState { m, l: 0.0, o };
        let mut row_events = 0u64;
        for (i, (&s, &key)) in scores.iter().zip(&keys).enumerate() {
            if i >= 2 && s > st.m {
                st.rescale(s);
                row_events += 1;
            }
            st.add(s, &vs[key * d..(key + 1) * d]);
        }
        head[0] = st.m;
        head[1] = st.l;
        events += row_events;
        worst = worst.max(row_events);
    }
    if acc {
        let running = load_f32(mem, dst, DType::F32, rows * (d + 2))?;
        for (tile, run) in out.chunks_exact_mut(d + 2).zip(running.chunks_exact(d + 2)) {
            merge_partial(tile, run);
        }
    }
    store_f32(mem, dst, DType::F32, &out)?;
    let two_d = 2 * d as u64;
    Ok(Done {
        counts: sofa_ir::hw::DynamicCounts {
            rows: None,
            rescales: worst,
        },
        ops: Some(used * two_d),
        events,
        ..Done::default()
    })
}

/// Whether a partial row `(m, l, o…)` holds any key.
fn has_keys(p: &[f32]) -> bool {
    p[1] != 0.0 && p[0] != f32::NEG_INFINITY
}

/// `tile ← tile ⊕ run`: the log-sum-exp merge of two partial rows (one side without keys
/// leaves the other as it is).
fn merge_partial(tile: &mut [f32], run: &[f32]) {
    if !has_keys(run) {
        return;
    }
    if !has_keys(tile) {
        tile.copy_from_slice(run);
        return;
    }
    let m = tile[0].max(run[0]);
    let (ft, fr) = ((tile[0] - m).exp(), (run[0] - m).exp());
    tile[0] = m;
    tile[1] = ft * tile[1] + fr * run[1];
    tile[2..]
        .iter_mut()
        .zip(&run[2..])
        .for_each(|(o, &x)| *o = ft * *o + fr * x);
}

/// `SUFA.SYNC`: merge `tiles` partial blocks per row and divide, into `dst[rows×d]` (`dt`).
pub(super) fn sufa_sync(
    mem: &mut Memory,
    (dst, part): (SramRef, SramRef),
    (rows, tiles, d): (u16, u16, u16),
    dt: DType,
) -> Result<Done, ExecError> {
    let (rows, tiles, d) = (usize::from(rows), usize::from(tiles), usize::from(d));
    let w = d + 2;
    let ps = load_f32(mem, part, DType::F32, mul(tiles * rows, w)?)?;
    let mut out = vec![0f32; rows * d];
    for (r, orow) in out.chunks_exact_mut(d).enumerate() {
        let live = |j: usize| {
            let p = &ps[(j * rows + r) * w..(j * rows + r + 1) * w];
            has_keys(p).then_some(p)
        };
        let m = (0..tiles)
            .filter_map(live)
            .map(|p| p[0])
            .fold(f32::NEG_INFINITY, f32::max);
        let mut l = 0f32;
        for p in (0..tiles).filter_map(live) {
            let f = (p[0] - m).exp();
            l += f * p[1];
            orow.iter_mut().zip(&p[2..]).for_each(|(o, &x)| *o += f * x);
        }
        if l == 0.0 {
            orow.iter_mut().for_each(|o| *o = 0.0);
        } else {
            orow.iter_mut().for_each(|o| *o /= l);
        }
    }
    store_f32(mem, dst, dt, &out)?;
    Ok(Done::default())
}
