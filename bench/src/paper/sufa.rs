//! Three ways to update a FlashAttention row over the selected keys of each tile, with their
//! arithmetic counted (paper §III-D, paper-notes §4):
//!
//! - [`fa2_row`]: FA-2 as the paper writes it (Fig. 5a): tiles in order; per tile a max scan
//!   (one compare per key), then, from the second tile on, a rescale of the running `(l, o)`
//!   by `e^{m_old − m_new}`; per key `p = e^{s−m}`, `l += p`, `o += p·v`.
//! - [`ascending_row`]: SU-FA in ascending predicted order (Eq. 1): every key is taken as the
//!   new reference, `l = e^{m−s}·l + 1`, `o = e^{m−s}·o + v` (a rescale per key).
//! - [`descending_row`]: SU-FA in descending predicted order (Eq. 2): the reference is the larger
//!   exact score of the first two keys (max assurance), then `l += e^{s−m}`, `o += e^{s−m}·v`
//!   without rescale; a later key above the reference (the prediction misordered it) is a
//!   max-assurance event, handled exactly by one rescale.
//!
//! SU-FA keeps per-tile partials `(m_j, l_j, o_j)` merged at the end (`sync`, SUFA.SYNC).
//! Every variant computes the same softmax-weighted sum exactly (in f64); only the work differs.
//! An `exp(a − b)` counts one exp and one add; each key's exact score `q·k` (d multiplies and
//! d adds) is counted in every variant. Counts are split into *scalar* bookkeeping (max,
//! exp, `l`) and *vector* work (the d-wide score, `o` updates and the final divide).

/// Operation counts by kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ops {
    pub exp: u64,
    pub mul: u64,
    pub add: u64,
    pub cmp: u64,
    pub div: u64,
}

impl Ops {
    pub fn total(self) -> u64 {
        self.exp + self.mul + self.add + self.cmp + self.div
    }

    pub fn plus(self, o: Ops) -> Ops {
        Ops {
            exp: self.exp + o.exp,
            mul: self.mul + o.mul,
            add: self.add + o.add,
            cmp: self.cmp + o.cmp,
            div: self.div + o.div,
        }
    }
}

/// The work of one or more rows.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    pub scalar: Ops,
    pub vector: Ops,
    /// Rescales of `(l, o)` (FA-2: per tile after the first; ascending: per key; descending:
    /// max-assurance events).
    pub rescales: u64,
}

impl Work {
    pub fn plus(self, w: Work) -> Work {
        Work {
            scalar: self.scalar.plus(w.scalar),
            vector: self.vector.plus(w.vector),
            rescales: self.rescales + w.rescales,
        }
    }

    pub fn total(self) -> u64 {
        self.scalar.total() + self.vector.total()
    }
}

/// One attention row: exact scores (by key index) and value rows.
pub struct Row<'a> {
    pub scores: &'a [f64],
    pub v: &'a dyn Fn(usize) -> &'a [f32],
    pub d: usize,
}

/// A running softmax state: reference max, sum of exponentials, unnormalised output.
#[derive(Clone, Debug)]
struct State {
    m: f64,
    l: f64,
    o: Vec<f64>,
}

impl State {
    fn empty(d: usize) -> State {
        State {
            m: f64::NEG_INFINITY,
            l: 0.0,
            o: vec![0.0; d],
        }
    }

    /// `(l, o) *= e^{m − m_new}`, `m = m_new`: one exp, one add, 1 + d multiplies.
    fn rescale(&mut self, m_new: f64, w: &mut Work) {
        let a = (self.m - m_new).exp();
        self.l *= a;
        self.o.iter_mut().for_each(|x| *x *= a);
        self.m = m_new;
        w.scalar.exp += 1;
        w.scalar.add += 1;
        w.scalar.mul += 1;
        w.vector.mul += self.o.len() as u64;
        w.rescales += 1;
    }

    /// `o += p·v`: d multiplies and d adds.
    fn add_value(&mut self, p: f64, v: &[f32], w: &mut Work) {
        for (x, &y) in self.o.iter_mut().zip(v) {
            *x += p * f64::from(y);
        }
        w.vector.mul += v.len() as u64;
        w.vector.add += v.len() as u64;
    }
}

/// The exact score of key `t`: its dot product is d multiplies and d adds.
fn score(row: &Row<'_>, t: usize, w: &mut Work) -> f64 {
    w.vector.mul += row.d as u64;
    w.vector.add += row.d as u64;
    row.scores[t]
}

/// `o / l` (a row with nothing selected gives zeros).
fn normalise(s: &State, w: &mut Work) -> Vec<f64> {
    w.vector.div += s.o.len() as u64;
    if s.l > 0.0 {
        s.o.iter().map(|x| x / s.l).collect()
    } else {
        vec![0.0; s.o.len()]
    }
}

/// FA-2 over `tiles` (each a list of selected keys; the order inside a tile is irrelevant).
pub fn fa2_row(row: &Row<'_>, tiles: &[Vec<usize>]) -> (Vec<f64>, Work) {
    let mut w = Work::default();
    let mut st = State::empty(row.d);
    for tile in tiles.iter().filter(|t| !t.is_empty()) {
        let s: Vec<f64> = tile.iter().map(|&t| score(row, t, &mut w)).collect();
        w.scalar.cmp += s.len() as u64;
        let m_new = s.iter().copied().fold(st.m, f64::max);
        if st.m.is_finite() {
            st.rescale(m_new, &mut w);
        } else {
            st.m = m_new;
        }
        for (&t, &x) in tile.iter().zip(&s) {
            let p = (x - st.m).exp();
            w.scalar.exp += 1;
            w.scalar.add += 2; // the exponent's subtraction and l += p
            st.l += p;
            st.add_value(p, (row.v)(t), &mut w);
        }
    }
    (normalise(&st, &mut w), w)
}

/// One tile in ascending order (`keys` as SADS hands them, descending, are walked backwards).
fn ascending_tile(row: &Row<'_>, keys: &[usize], w: &mut Work) -> State {
    let mut st = State::empty(row.d);
    for &t in keys.iter().rev() {
        let x = score(row, t, w);
        if st.m.is_finite() {
            st.rescale(x, w);
            st.l += 1.0;
            w.scalar.add += 1;
            for (o, &y) in st.o.iter_mut().zip((row.v)(t)) {
                *o += f64::from(y);
            }
            w.vector.add += row.d as u64;
        } else {
            st.m = x;
            st.l = 1.0;
            st.o = (row.v)(t).iter().map(|&y| f64::from(y)).collect();
        }
    }
    st
}

/// One tile in descending order with max assurance; counts events in `w.rescales`.
fn descending_tile(row: &Row<'_>, keys: &[usize], w: &mut Work) -> State {
    let mut st = State::empty(row.d);
    let s: Vec<f64> = keys.iter().map(|&t| score(row, t, w)).collect();
    st.m = match s.as_slice() {
        [] => return st,
        [a] => *a,
        [a, b, ..] => {
            w.scalar.cmp += 1;
            a.max(*b)
        }
    };
    for (&t, &x) in keys.iter().zip(&s) {
        if x > st.m {
            w.scalar.cmp += 1;
            st.rescale(x, w);
        }
        let p = (x - st.m).exp();
        w.scalar.exp += 1;
        w.scalar.add += 2;
        st.l += p;
        st.add_value(p, (row.v)(t), w);
    }
    st
}

/// Merge per-tile partials (SUFA.SYNC) and normalise.
fn sync(parts: &[State], d: usize, w: &mut Work) -> Vec<f64> {
    let live: Vec<&State> = parts.iter().filter(|p| p.l > 0.0).collect();
    let mut out = State::empty(d);
    out.m = live.iter().map(|p| p.m).fold(f64::NEG_INFINITY, f64::max);
    w.scalar.cmp += live.len().saturating_sub(1) as u64;
    for p in live {
        let a = (p.m - out.m).exp();
        w.scalar.exp += 1;
        w.scalar.add += 2;
        w.scalar.mul += 1;
        out.l += a * p.l;
        for (x, &y) in out.o.iter_mut().zip(&p.o) {
            *x += a * y;
        }
        w.vector.mul += d as u64;
        w.vector.add += d as u64;
    }
    normalise(&out, w)
}

/// SU-FA, ascending predicted order within each tile (`tiles` in SADS's descending order).
pub fn ascending_row(row: &Row<'_>, tiles: &[Vec<usize>]) -> (Vec<f64>, Work) {
    let mut w = Work::default();
    let parts: Vec<State> = tiles
        .iter()
        .map(|t| ascending_tile(row, t, &mut w))
        .collect();
    (sync(&parts, row.d, &mut w), w)
}

/// SU-FA, descending predicted order within each tile (SADS's order).
pub fn descending_row(row: &Row<'_>, tiles: &[Vec<usize>]) -> (Vec<f64>, Work) {
    let mut w = Work::default();
    let parts: Vec<State> = tiles
        .iter()
        .map(|t| descending_tile(row, t, &mut w))
        .collect();
    (sync(&parts, row.d, &mut w), w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_orders_compute_the_same_attention() {
        let scores = [0.5, 2.0, -1.0, 1.5, 0.0, 3.0];
        let vals: Vec<[f32; 2]> = (0..6).map(|i| [i as f32, 1.0 - i as f32]).collect();
        let v = |t: usize| -> &[f32] { &vals[t] };
        let row = Row {
            scores: &scores,
            v: &v,
            d: 2,
        };
        // Tile 0 = keys 0..3, tile 1 = keys 3..6; predicted order misplaces key 1 (a
        // max-assurance event in the descending walk: 2.0 beats max(0.5, -1.0)).
        let tiles = vec![vec![0, 2, 1], vec![5, 3, 4]];
        let (a, wa) = fa2_row(&row, &tiles);
        let (b, wb) = ascending_row(&row, &tiles);
        let (c, wc) = descending_row(&row, &tiles);
        let z: f64 = scores.iter().map(|s| s.exp()).sum();
        let want: Vec<f64> = (0..2)
            .map(|j| {
                (0..6)
                    .map(|t| scores[t].exp() * f64::from(vals[t][j]))
                    .sum::<f64>()
                    / z
            })
            .collect();
        for out in [&a, &b, &c] {
            for (x, y) in out.iter().zip(&want) {
                assert!((x - y).abs() < 1e-12, "{out:?} vs {want:?}");
            }
        }
        assert_eq!(wa.rescales, 1); // the second tile
        assert_eq!(wb.rescales, 4); // every key after each tile's first
        assert_eq!(wc.rescales, 1); // key 1
        assert_eq!(wc.scalar.exp, 6 + 1 + 2); // per key, the event, the merge
                                              // FA-2: 6 max compares, 6 exps + 12 adds per key, one rescale (exp, add, mul).
        assert_eq!(wa.scalar.total(), 6 + 6 + 12 + 3);
        // Ascending: a tile's first key is free, the others rescale (exp, add, mul) and add 1;
        // the merge: 1 compare, 2 × (exp, 2 adds, mul).
        assert_eq!(wb.scalar.total(), 4 * 4 + 1 + 2 * 4);
        // Descending: 2 top-2 compares, 1 event (compare + rescale), 6 × (exp, 2 adds), merge.
        assert_eq!(wc.scalar.total(), 2 + 1 + 3 + 6 * 3 + 1 + 2 * 4);
        // Every key's score (d = 2 multiplies and adds) and o update, in all three.
        assert!(wa.vector.mul >= 12 && wb.vector.add >= 12 && wc.vector.add >= 24);
    }
}
