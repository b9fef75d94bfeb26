//! Pass statistics: named counters a pass reports (`ops-folded`, `ops-erased`, `iterations`).
//! Sorted by name so reports never churn.

use std::collections::BTreeMap;

/// Named counters of one pass run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    counters: BTreeMap<&'static str, u64>,
    /// Free-text findings in report order (e.g. why a candidate was left alone).
    notes: Vec<String>,
}

impl Statistics {
    /// Add `n` to `name` (a counter is created at zero on first use, so `add(name, 0)` records it).
    pub fn add(&mut self, name: &'static str, n: u64) {
        let c = self.counters.entry(name).or_insert(0);
        *c = c.saturating_add(n);
    }

    /// The counter's value; 0 when it was never reported.
    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Every counter, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counters.iter().map(|(&k, &v)| (k, v))
    }

    /// Record a free-text finding (kept in the order reported).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The notes, in the order reported.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.notes.is_empty()
    }

    /// Add every counter of `other` into `self`.
    pub fn merge(&mut self, other: &Statistics) {
        for (k, v) in other.iter() {
            self.add(k, v);
        }
        self.notes.extend(other.notes.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_and_sort() {
        let mut s = Statistics::default();
        s.add("ops-folded", 2);
        s.add("iterations", 1);
        s.add("ops-folded", 3);
        assert_eq!(s.get("ops-folded"), 5);
        assert_eq!(s.get("missing"), 0);
        let names: Vec<_> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(names, vec!["iterations", "ops-folded"]);
        let mut t = Statistics::default();
        t.add("iterations", 4);
        t.merge(&s);
        assert_eq!(t.get("iterations"), 5);
        t.note("candidate at loc(\"x\") left alone: softmax axis is 1");
        assert_eq!(t.notes().len(), 1);
        assert!(!t.is_empty());
    }
}
