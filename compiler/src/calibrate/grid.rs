//! What a layer may be set to: a keep ratio of the [`KeepGrid`] and, for sparse keeps, the
//! cost model's key tiles or one of the [`TileGrid`]'s counts. [`Grid`] numbers these
//! [`Setting`]s so that the search handles one index per layer: index 0 is dense, and each keep
//! of the keep grid (from 1 down) is followed by its pinned tile counts.

use super::CalibrateError;
use sofa_ir::dialect::attn::check_keep_ratio;

/// One layer's setting: its keep ratio and its key tiles (`None`: the count `cct-tile`'s cost
/// model picks; `Some(T)`: pinned, as a `--layers` file's `tiles` pins it).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Setting {
    pub keep: f64,
    pub tiles: Option<u64>,
}

/// The keeps a layer may take, from 1 (dense, index 0) down.
#[derive(Clone, Debug, PartialEq)]
pub struct KeepGrid(Vec<f64>);

impl KeepGrid {
    /// Sorted from 1 down; every keep range-checked, none repeated, 1 present.
    pub fn new(mut keeps: Vec<f64>) -> Result<KeepGrid, CalibrateError> {
        for &k in &keeps {
            check_keep_ratio(k)?;
        }
        keeps.sort_by(|a, b| b.total_cmp(a));
        if let Some(w) = keeps.windows(2).find(|w| w[0] == w[1]) {
            return Err(CalibrateError::RepeatedKeep(w[0]));
        }
        if keeps.first() != Some(&1.0) {
            return Err(CalibrateError::NoDense);
        }
        Ok(KeepGrid(keeps))
    }

    pub fn keeps(&self) -> &[f64] {
        &self.0
    }

    pub fn keep(&self, index: usize) -> f64 {
        self.0[index]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `1,0.75,0.5`: the form `--keeps` takes.
impl std::fmt::Display for KeepGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keeps: Vec<String> = self.0.iter().map(f64::to_string).collect();
        f.write_str(&keeps.join(","))
    }
}

impl Default for KeepGrid {
    fn default() -> KeepGrid {
        KeepGrid(super::DEFAULT_KEEPS.to_vec())
    }
}

/// Key-tile counts the search may pin a sparse layer to, besides the cost model's own choice
/// (`--tiles`; empty: tiles are not searched).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TileGrid(Vec<u64>);

impl TileGrid {
    /// Sorted ascending; each at least 1, none repeated.
    pub fn new(mut counts: Vec<u64>) -> Result<TileGrid, CalibrateError> {
        if counts.contains(&0) {
            return Err(CalibrateError::Tiles("0 key tiles".into()));
        }
        counts.sort_unstable();
        if let Some(w) = counts.windows(2).find(|w| w[0] == w[1]) {
            return Err(CalibrateError::Tiles(format!("{} is given twice", w[0])));
        }
        Ok(TileGrid(counts))
    }

    pub fn counts(&self) -> &[u64] {
        &self.0
    }
}

/// `2,4,8` (empty when tiles are not searched).
impl std::fmt::Display for TileGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&counts.join(","))
    }
}

/// Every setting a layer may take, numbered: per keep of the keep grid (from 1 down) the cost
/// model's tiles, then (below keep 1, which selects every key) each pinned count.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    keeps: KeepGrid,
    tiles: TileGrid,
    settings: Vec<Setting>,
}

impl Grid {
    pub fn new(keeps: KeepGrid, tiles: TileGrid) -> Grid {
        let mut settings = Vec::new();
        for &keep in keeps.keeps() {
            settings.push(Setting { keep, tiles: None });
            if keep < 1.0 {
                settings.extend(tiles.counts().iter().map(|&t| Setting {
                    keep,
                    tiles: Some(t),
                }));
            }
        }
        Grid {
            keeps,
            tiles,
            settings,
        }
    }

    pub fn keeps(&self) -> &KeepGrid {
        &self.keeps
    }

    pub fn tiles(&self) -> &TileGrid {
        &self.tiles
    }

    pub fn len(&self) -> usize {
        self.settings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }

    pub fn setting(&self, index: usize) -> Setting {
        self.settings[index]
    }

    /// The settings of a choice (one index per layer).
    pub fn settings(&self, choice: &[usize]) -> Vec<Setting> {
        choice.iter().map(|&i| self.setting(i)).collect()
    }

    /// The index of the keep grid's `keep`-th keep with the cost model's tiles (a uniform
    /// point's setting).
    pub fn automatic(&self, keep: usize) -> usize {
        let k = self.keeps.keep(keep);
        self.settings
            .iter()
            .position(|s| s.keep == k && s.tiles.is_none())
            .unwrap_or(0)
    }

    /// The position in the keep grid of setting `index`'s keep.
    pub fn keep_index(&self, index: usize) -> usize {
        let k = self.setting(index).keep;
        self.keeps.keeps().iter().position(|&g| g == k).unwrap_or(0)
    }
}

impl Default for Grid {
    fn default() -> Grid {
        Grid::new(KeepGrid::default(), TileGrid::default())
    }
}
