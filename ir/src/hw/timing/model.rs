//! The statistical model of data-dependent counts used without data: by the simulator's
//! timing-only mode and by the compiler's cost model, which replay programs with it.
//!
//! Without data, three quantities of the cycle formulas are unknown: how many distinct keys a
//! `RASS` issues, hence how many rows the `GATHER`, `KVGEN` and `VEC.ROPE` reading its index
//! list process, and how many SU-FA max-assurance rescales occur. The model:
//!
//! - **Distinct keys.** A `RASS` with `reuse=true` over `rows` queries that each selected `sel`
//!   of the tile's `n` keys issues the expected number of distinct keys when every query picks
//!   its `sel` keys independently and uniformly:
//!   `E = n·(1 − (1 − sel/n)^rows)`, rounded to the nearest integer and capped at
//!   `min(n, rows·sel)`. With `reuse=false` the list keeps duplicates: `rows·sel`.
//!   Assumptions: queries are independent and keys equally likely. Real attention is
//!   clustered (neighbouring queries share keys), so `E` over-estimates distinct keys and the
//!   timing is pessimistic for GATHER/KVGEN; it is exact for `sel = n` and for one query.
//! - **List consumers.** The count is attached to the list's SRAM address (`order`). A later
//!   `GATHER` (`idx`), `KVGEN` (`list`) or `VEC.ROPE` (`pos`) reading a list at that address
//!   uses it, capped at its own bound; any other write overlapping the list forgets it, and a
//!   list the model did not see produced (loaded from DRAM, written by the host) counts as its
//!   static bound.
//! - **Rescales:** 0 (max assurance holds: the paper reports violations as rare).
//! - Everything else uses the static bounds of the formulas.
//!
//! The expected value is computed with IEEE multiplications only (exponentiation by squaring),
//! so it is the same on every platform.

use crate::hw::{CostError, DynamicCounts, HwConfig};
use crate::isa::{Access, Instr, Mem, SramRef};

/// Expected number of distinct keys when `rows` queries each pick `sel` of `n` keys uniformly.
pub fn expected_distinct(n: u64, sel: u64, rows: u64) -> u64 {
    let cap = n.min(rows.saturating_mul(sel));
    if n == 0 || sel == 0 || rows == 0 {
        return 0;
    }
    if sel >= n {
        return cap;
    }
    let miss = 1.0 - sel as f64 / n as f64;
    let expected = n as f64 * (1.0 - pow(miss, rows));
    // Non-negative and ≤ n by construction; the cast saturates in any case.
    (expected.round() as u64).min(cap)
}

/// `base^exp` by squaring: only correctly rounded IEEE multiplications.
fn pow(base: f64, mut exp: u64) -> f64 {
    let (mut acc, mut b) = (1.0_f64, base);
    while exp > 0 {
        if exp & 1 == 1 {
            acc *= b;
        }
        b *= b;
        exp >>= 1;
    }
    acc
}

/// An index list the model knows the count of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownList {
    at: SramRef,
    /// Bytes of the list (count word plus the bound's entries).
    len: u64,
    count: u64,
}

/// Tracks the index lists written by `RASS`, in execution order.
#[derive(Clone, Debug, Default)]
pub struct ListModel {
    lists: Vec<KnownList>,
}

impl ListModel {
    /// The counts of `instr` under the model; then record what it writes.
    pub fn counts(&mut self, instr: &Instr) -> DynamicCounts {
        let rows = match instr {
            Instr::Rass {
                rows,
                sel,
                n,
                reuse,
                ..
            } => Some(rass_count(
                u64::from(*rows),
                u64::from(*sel),
                (*n).into(),
                *reuse,
            )),
            Instr::Gather { idx, max_rows, .. } => self.read(*idx, (*max_rows).into()),
            Instr::Kvgen { list, max_rows, .. } => self.read(*list, (*max_rows).into()),
            Instr::VecRope {
                pos: Some(pos),
                rows,
                ..
            } => self.read(*pos, (*rows).into()),
            _ => None,
        };
        if !self.lists.is_empty() && writes_sram(instr) {
            self.forget_overwritten(instr);
        }
        if let (Instr::Rass { order, .. }, Some(count)) = (instr, rows) {
            self.lists.push(KnownList {
                at: *order,
                len: count.saturating_add(1).saturating_mul(4),
                count,
            });
        }
        DynamicCounts { rows, rescales: 0 }
    }

    /// The counts of `instr` (see [`ListModel::counts`]) and its cycles under them.
    pub fn cycles(
        &mut self,
        hw: &HwConfig,
        instr: &Instr,
    ) -> Result<(DynamicCounts, u64), CostError> {
        let counts = self.counts(instr);
        Ok((counts, instr.cycles_with(hw, &counts)?))
    }

    fn read(&self, at: SramRef, bound: u64) -> Option<u64> {
        self.lists
            .iter()
            .find(|l| l.at == at)
            .map(|l| l.count.min(bound))
    }

    /// Drop known lists that `instr` writes over (any overlap).
    fn forget_overwritten(&mut self, instr: &Instr) {
        // An operand table that cannot be built (size overflow) was rejected by the checker;
        // forgetting everything is the safe reading.
        let Ok(ops) = instr.operands() else {
            self.lists.clear();
            return;
        };
        for op in ops.iter().filter(|o| o.access != Access::Read) {
            let (Mem::Sram(w), Some(extent)) = (op.mem, op.extent) else {
                continue;
            };
            let w_start = u64::from(w.offset);
            let w_end = w_start.saturating_add(extent);
            self.lists.retain(|l| {
                let l_start = u64::from(l.at.offset);
                let l_end = l_start.saturating_add(l.len);
                l.at.space != w.space || l_end <= w_start || w_end <= l_start
            });
        }
    }
}

/// Whether `instr` may write SRAM (everything but ST, SUFA.BIAS (into the SU-FA engine) and
/// the control instructions).
fn writes_sram(instr: &Instr) -> bool {
    !matches!(
        instr,
        Instr::St { .. }
            | Instr::SufaBias { .. }
            | Instr::Signal { .. }
            | Instr::Wait { .. }
            | Instr::Halt {}
    )
}

fn rass_count(rows: u64, sel: u64, n: u64, reuse: bool) -> u64 {
    if reuse {
        expected_distinct(n, sel, rows)
    } else {
        rows.saturating_mul(sel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::DramAddr;

    #[test]
    fn expected_distinct_matches_the_closed_form() {
        // 64·(1 − (1 − 16/64)^2) = 64·(1 − 0.5625) = 28.
        assert_eq!(expected_distinct(64, 16, 2), 28);
        // One query: exactly sel keys.
        assert_eq!(expected_distinct(64, 16, 1), 16);
        // Many queries saturate at n.
        assert_eq!(expected_distinct(32, 8, 128), 32);
        // sel = n: every key.
        assert_eq!(expected_distinct(32, 32, 3), 32);
        // 32·(1 − 0.75^4) = 32·0.68359375 = 21.875 → 22.
        assert_eq!(expected_distinct(32, 8, 4), 22);
        assert_eq!(expected_distinct(0, 0, 5), 0);
    }

    fn rass(order: u32) -> Instr {
        Instr::Rass {
            order: SramRef::temp(order),
            slot: SramRef::temp(0x1000),
            idx: SramRef::temp(0x2000),
            rows: 4,
            sel: 8,
            n: 32,
            reuse: true,
        }
    }

    fn gather(idx: u32) -> Instr {
        Instr::Gather {
            dst: SramRef::token(0),
            src: DramAddr(0),
            idx: SramRef::temp(idx),
            max_rows: 32,
            row_bytes: 64,
            stride: 64,
        }
    }

    #[test]
    fn gather_uses_the_count_of_the_rass_list_it_reads() {
        let mut m = ListModel::default();
        assert_eq!(m.counts(&rass(0x800)).rows, Some(22));
        assert_eq!(m.counts(&gather(0x800)).rows, Some(22));
        // A list at another address: the static bound.
        assert_eq!(m.counts(&gather(0x900)).rows, None);
    }

    #[test]
    fn an_overlapping_write_forgets_the_list() {
        let mut m = ListModel::default();
        m.counts(&rass(0x800));
        let copy = Instr::Copy {
            dst: SramRef::temp(0x810),
            src: SramRef::token(0),
            bytes: 4,
        };
        m.counts(&copy);
        assert_eq!(m.counts(&gather(0x800)).rows, None);
    }
}
