//! The e-graph language of attention-block dataflows.
//!
//! `(attn q k v)` is the block as the IR states it: what is computed, not how. Every other
//! operator is one way of running it on the chip, with its plan dimensions as leaf children:
//! - `(fa2-dense tc qb kv q k v)`: FlashAttention-2 over every visible key in `tc` key tiles;
//! - `(staged qb kv abl q k v)`: Â and A through DRAM, one whole-row top-k (K̂ always spilled);
//! - `(cct tc qb khat kv abl q k v)`: SOFA's cross-stage coordinated tiling with `tc` key tiles.
//!
//! `qb` is the query block: the rows that make one pass over the keys together.
//!
//! Leaves print as `key=value` so they never parse as one another: `tc=32`, `qb=128`,
//! `khat=recompute|spill`, `kv=on-demand|preload`, `abl=none|dlzs+sads+sufa+rass`.

use std::fmt;
use std::str::FromStr;

use egg::{define_language, Id};

use crate::schedule::{Ablation, KhatPlacement, KvSource};

/// A key tile count `Tc`, printed `tc=32`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tiles(pub u64);

impl fmt::Display for Tiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tc={}", self.0)
    }
}

impl FromStr for Tiles {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("tc=")
            .and_then(|n| n.parse().ok())
            .map(Tiles)
            .ok_or_else(|| format!("'{s}' is not a tile count"))
    }
}

/// Query rows per block, printed `qb=256`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rows(pub u64);

impl fmt::Display for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qb={}", self.0)
    }
}

impl FromStr for Rows {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("qb=")
            .and_then(|n| n.parse().ok())
            .map(Rows)
            .ok_or_else(|| format!("'{s}' is not a query block"))
    }
}

/// Where K̂ lives, printed `khat=spill`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Khat(pub KhatPlacement);

impl fmt::Display for Khat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "khat={}", self.0.name())
    }
}

impl FromStr for Khat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "khat=recompute" => Ok(Khat(KhatPlacement::Recompute)),
            "khat=spill" => Ok(Khat(KhatPlacement::Spill)),
            _ => Err(format!("'{s}' is not a K̂ placement")),
        }
    }
}

/// How K/V reach SU-FA, printed `kv=preload`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kv(pub KvSource);

impl fmt::Display for Kv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kv={}", self.0.name())
    }
}

impl FromStr for Kv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("kv=")
            .and_then(|k| KvSource::parse(k).ok())
            .map(Kv)
            .ok_or_else(|| format!("'{s}' is not a K/V placement"))
    }
}

/// The mechanisms replaced by their baseline, as a bit set (egg leaves must hash), printed
/// `abl=none` or `abl=dlzs+rass`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Abl(u8);

/// Mechanism names in bit order.
const MECHANISMS: [&str; 4] = ["dlzs", "sads", "sufa", "rass"];

impl Abl {
    pub const NONE: Abl = Abl(0);

    /// The bit of a mechanism name (`dlzs`, `sads`, `sufa`, `rass`).
    pub fn mechanism(name: &str) -> Option<Abl> {
        MECHANISMS
            .iter()
            .position(|&m| m == name)
            .map(|i| Abl(1 << i))
    }

    pub fn contains(self, other: Abl) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Abl) -> Abl {
        Abl(self.0 | other.0)
    }

    pub fn intersect(self, other: Abl) -> Abl {
        Abl(self.0 & other.0)
    }

    pub fn to_ablation(self) -> Ablation {
        let on = |i: u8| self.0 & (1 << i) != 0;
        Ablation {
            dlzs: on(0),
            sads: on(1),
            sufa: on(2),
            rass: on(3),
        }
    }
}

impl From<Ablation> for Abl {
    fn from(a: Ablation) -> Abl {
        let bits = [a.dlzs, a.sads, a.sufa, a.rass];
        Abl(bits
            .iter()
            .enumerate()
            .fold(0, |acc, (i, &b)| acc | (u8::from(b) << i)))
    }
}

impl fmt::Display for Abl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.to_ablation().to_list().replace(',', "+");
        let list = if list.is_empty() { "none" } else { &list };
        write!(f, "abl={list}")
    }
}

impl FromStr for Abl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not an ablation set");
        let body = s.strip_prefix("abl=").ok_or_else(bad)?;
        if body == "none" {
            return Ok(Abl::NONE);
        }
        body.split('+').try_fold(Abl::NONE, |acc, m| {
            Abl::mechanism(m).map(|b| acc.union(b)).ok_or_else(bad)
        })
    }
}

define_language! {
    /// Attention-block dataflows (see the module doc for each node's meaning).
    pub enum SchedLang {
        "attn" = Attn([Id; 3]),
        "fa2-dense" = Dense([Id; 6]),
        "staged" = Staged([Id; 6]),
        "cct" = Cct([Id; 8]),
        "q" = Q,
        "k" = K,
        "v" = V,
        Tiles(Tiles),
        Rows(Rows),
        Khat(Khat),
        Kv(Kv),
        Abl(Abl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    #[test]
    fn leaves_print_and_parse_back() {
        let text = "(cct tc=32 qb=256 khat=spill kv=preload abl=dlzs+rass q k v)";
        let e: RecExpr<SchedLang> = text.parse().unwrap();
        assert_eq!(e.to_string(), text);
        let nodes = e.as_ref();
        assert!(nodes.contains(&SchedLang::Tiles(Tiles(32))));
        assert!(nodes.contains(&SchedLang::Rows(Rows(256))));
        let abl = Abl::from(Ablation::parse("rass,dlzs").unwrap());
        assert!(nodes.contains(&SchedLang::Abl(abl)));
        assert_eq!("abl=none".parse::<Abl>().unwrap(), Abl::NONE);
        assert!("abl=dlzs+nope".parse::<Abl>().is_err());
        assert!("kv=later".parse::<Kv>().is_err());
        assert!("tc=x".parse::<Tiles>().is_err());
        assert!("qb=".parse::<Rows>().is_err());
    }

    #[test]
    fn ablation_bits_round_trip() {
        for bits in 0..16u8 {
            let a = Abl(bits);
            assert_eq!(Abl::from(a.to_ablation()), a);
        }
        let sads = Abl::mechanism("sads").unwrap();
        assert!(Abl(0b0110).contains(sads));
        assert_eq!(Abl(0b0110).intersect(Abl(0b1001)), Abl::NONE);
    }
}
