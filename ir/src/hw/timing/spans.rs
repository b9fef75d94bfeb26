//! Per-region figures without a record per instruction: a sequence cut at instruction indices
//! ([`Cuts`]) into intervals, each accumulating what regions report ([`PerInterval`]) — the
//! first start, the last end and the busy cycles of its instructions ([`Spans`], filled by the
//! event loop), or the simulator's traffic tallies. A region whose ends are cuts is a run of
//! whole intervals, so its figures combine theirs.
//! Memory follows the number of regions, not of instructions: a 34.5 M-instruction program
//! with a few hundred layer regions keeps a few hundred entries, not a slot each.

use std::ops::Range;

/// Sorted, distinct instruction indices; interval `k` runs from the `k`-th cut (0 before
/// the first) to the next (the end after the last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cuts(Vec<usize>);

impl Cuts {
    /// The cuts at every start and end of `regions`.
    pub fn of_regions<'a>(regions: impl IntoIterator<Item = &'a Range<usize>>) -> Cuts {
        let mut cuts: Vec<usize> = regions
            .into_iter()
            .flat_map(|r| [r.start, r.end])
            .filter(|&c| c > 0)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Cuts(cuts)
    }

    /// How many intervals the cuts make.
    pub fn intervals(&self) -> usize {
        self.0.len() + 1
    }

    /// The interval holding instruction `index`.
    pub fn interval_of(&self, index: usize) -> usize {
        self.0.partition_point(|&c| c <= index)
    }

    /// The intervals that make up `range`, whose ends must be cuts (or 0); `None` otherwise.
    pub fn covering(&self, range: &Range<usize>) -> Option<Range<usize>> {
        let is_cut = |i: usize| i == 0 || self.0.binary_search(&i).is_ok();
        (is_cut(range.start) && is_cut(range.end) && range.start <= range.end)
            .then(|| self.interval_of(range.start)..self.interval_of(range.end))
    }
}

/// When the instructions of an interval (or region) ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanStats {
    /// The first start, `None` when no instruction ran.
    pub start: Option<u64>,
    /// The last end (start + cycles).
    pub end: u64,
    /// Cycles summed over the instructions.
    pub busy: u64,
}

impl SpanStats {
    /// `self` and `other` together; `None` when the busy cycles overflow.
    pub fn merge(self, other: SpanStats) -> Option<SpanStats> {
        let start = match (self.start, other.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Some(SpanStats {
            start,
            end: self.end.max(other.end),
            busy: self.busy.checked_add(other.busy)?,
        })
    }
}

/// A value per interval of [`Cuts`]: what each interval's instructions add up to. A region
/// whose ends are cuts reads the values of the intervals it covers ([`PerInterval::covering`])
/// and combines them as its figures do (first start, last end, checked sums).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerInterval<T> {
    cuts: Cuts,
    values: Vec<T>,
}

impl<T: Clone + Default> PerInterval<T> {
    pub fn new(cuts: Cuts) -> PerInterval<T> {
        PerInterval {
            values: vec![T::default(); cuts.intervals()],
            cuts,
        }
    }
}

impl<T> PerInterval<T> {
    pub fn cuts(&self) -> &Cuts {
        &self.cuts
    }

    /// The value of the interval holding instruction `index`.
    pub fn at_mut(&mut self, index: usize) -> &mut T {
        let k = self.cuts.interval_of(index);
        &mut self.values[k]
    }

    /// The values of the intervals that make up `range`; `None` when its ends are not cuts.
    pub fn covering(&self, range: &Range<usize>) -> Option<&[T]> {
        self.cuts.covering(range).map(|ks| &self.values[ks])
    }
}

/// When each interval's instructions ran.
pub type Spans = PerInterval<SpanStats>;

impl Spans {
    /// Instruction `index` ran from `start` to `end` (`cycles` long); `None` when the busy
    /// cycles overflow.
    pub fn add(&mut self, index: usize, (start, end, cycles): (u64, u64, u64)) -> Option<()> {
        let s = self.at_mut(index);
        *s = s.merge(SpanStats {
            start: Some(start),
            end,
            busy: cycles,
        })?;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_combine_the_intervals_between_their_cuts() {
        let cuts = Cuts::of_regions(&[2..5, 0..2, 5..9]);
        assert_eq!(cuts, Cuts(vec![2, 5, 9]));
        assert_eq!(cuts.intervals(), 4);
        assert_eq!(
            [0, 1, 2, 4, 5, 8, 9, 20].map(|i| cuts.interval_of(i)),
            [0, 0, 1, 1, 2, 2, 3, 3]
        );
        assert_eq!(cuts.covering(&(2..9)), Some(1..3));
        assert_eq!(cuts.covering(&(3..9)), None);
        let mut spans = Spans::new(cuts);
        // Instructions run out of index order, as engines interleave.
        spans.add(6, (40, 50, 10)).unwrap();
        spans.add(2, (10, 14, 4)).unwrap();
        spans.add(3, (12, 30, 18)).unwrap();
        spans.add(5, (35, 36, 1)).unwrap();
        let combined = |r: std::ops::Range<usize>| {
            let parts = spans.covering(&r)?;
            parts
                .iter()
                .try_fold(SpanStats::default(), |a, &s| a.merge(s))
        };
        let first = combined(2..5).unwrap();
        assert_eq!((first.start, first.end, first.busy), (Some(10), 30, 22));
        let both = combined(2..9).unwrap();
        assert_eq!((both.start, both.end, both.busy), (Some(10), 50, 33));
        assert_eq!(combined(0..2).unwrap().start, None);
        assert_eq!(spans.covering(&(1..5)), None);
    }
}
