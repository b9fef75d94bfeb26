//! The hardware description: every number the compiler's cost model and the simulator use.
//!
//! [`HwConfig`] is plain data, read from TOML or JSON with unknown keys rejected
//! (`deny_unknown_fields`), so a misspelt key is an error and never a silently ignored setting
//! (Timeloop/Accelergy's classic trap). [`HwConfig::validate`] reports *every* problem with the
//! dotted key path (`sram.temp_bytes must be > 0`). [`HwConfig::default`] is the chip of the paper
//! (Wang et al., MICRO 2024, Table III/IV) and `configs/sofa-28nm.toml` ships it verbatim.
//!
//! Every value is an integer in a unit named by its key (`_mhz`, `_bytes`, `_uw` microwatts,
//! `_fj_per_byte` femtojoules), so arithmetic is exact and checked, the canonical serialisation
//! is unambiguous and [`HwConfig::hash`] (FNV-1a over the compact JSON) is stable across
//! platforms and releases. The sources of the defaults are cited per field: **\[S\]** stated in the
//! paper, **\[I\]** our inference (see `paper-notes.md`).
//!
//! The cycle formulas of the instructions live in [`cost`], the energy formulas in [`energy`],
//! and the execution model that turns them into a program's time (the event loop over the
//! engines' queues and semaphores, and the count model used without data) in [`timing`]; all
//! read only this struct, so the compiler's cost model and the simulator's timing cannot
//! disagree.

pub mod cost;
pub mod energy;
pub mod roofline;
pub mod timing;
mod validate;

use serde::{Deserialize, Serialize};

pub use cost::{CostError, Cycles, DynamicCounts};
pub use energy::{DramEnergy, Femtojoules};

/// A complete hardware description. See the module docs for units and sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HwConfig {
    /// A label carried into reports (`sofa-28nm` for the paper's chip).
    pub name: String,
    pub clock: Clock,
    pub block: Block,
    pub dlzs: Dlzs,
    pub sads: Sads,
    pub kvpe: Kvpe,
    pub sufa: Sufa,
    pub vector: Vector,
    pub control: Control,
    pub sram: Sram,
    pub dram: Dram,
}

/// The core clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Core clock in MHz. \[S\] 1 GHz (Table III; critical path < 1 ns).
    pub freq_mhz: u64,
}

/// The query block processed in parallel (LTPP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Query rows per block. \[S\] 128 queries in parallel (§IV, Fig. 11). Also the width of the
    /// RASS query bitmask, so SADS/RASS/SU-FA instructions may not exceed it.
    pub query_rows: u32,
}

/// Rounding of a value to its power of two in DLZS (paper-notes §2.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    /// `2^floor(log2|y|)`: the leading one. \[S-fig\] Fig. 7(c): 24 × 6 → 24 << 2 = 96.
    Floor,
    /// The nearer power of two (linear midpoint).
    Nearest,
    /// `2^ceil(log2|y|)`, as Eq. (1c) read literally.
    Ceil,
}

/// The DLZS prediction engine: a shift-add array (phase 1.1 K̂, phase 1.2 Â).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dlzs {
    /// Rows of the shift-add array. \[S\] 128×32 shift PEs (Table III, §IV-B).
    pub rows: u32,
    /// Columns of the shift-add array. \[S\] 32.
    pub cols: u32,
    /// How the log-domain operand snaps to a power of two. \[S-fig\] floor (Fig. 7c).
    pub rounding: Rounding,
    /// Power while busy, µW. \[S\] 29.05 mW (Table III).
    pub power_uw: u64,
}

/// The SADS top-k engine: one streaming bitonic sorter per query row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sads {
    /// Number of sort cores (rows sorted in parallel). \[S\] 128 (Table III).
    pub sorters: u32,
    /// Inputs of one sort core. \[S\] 16-to-4 bitonic sorter (Fig. 13).
    pub sorter_inputs: u32,
    /// Outputs of one sort core, carried into the next round. \[S\] 4, so 12 new inputs a round.
    pub sorter_outputs: u32,
    /// Power while busy, µW. \[S\] 112.79 mW (Table III).
    pub power_uw: u64,
}

/// The PE array that generates K/V on demand and runs dense GEMMs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kvpe {
    /// PE rows. \[S\] 128×4 16-bit PEs (Table III).
    pub rows: u32,
    /// PE columns. \[S\] 4.
    pub cols: u32,
    /// Power while busy, µW. \[S\] 146.21 mW (Table III).
    pub power_uw: u64,
}

/// The SU-FA engine: SA-1 (Q·Kᵀ) and SA-2 (P·V) share `cols`, plus exp and divide units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sufa {
    /// Lines (query rows in flight). \[S\] 128 (Table III "128×4", Fig. 11 "128×2×2").
    pub rows: u32,
    /// PEs per line, split evenly between SA-1 and SA-2. \[S\] 4 = 2 + 2 (Fig. 14).
    pub cols: u32,
    /// Exponential units. \[S\] 128 (Table III).
    pub exp_units: u32,
    /// Divide units. \[S\] 128 (Table III).
    pub div_units: u32,
    /// Power while busy, µW. \[S\] 485.12 mW (Table III).
    pub power_uw: u64,
}

/// The vector unit for the non-attention parts of a model (norms, activations, residuals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// Elements per cycle. \[I\] 128, one per query row; the paper's chip has no vector unit.
    pub lanes: u32,
    /// Power while busy, µW. \[I\] 128 lanes at the KV array's power per PE:
    /// 146.21 mW × 128 / 512 = 36.55 mW.
    pub power_uw: u64,
}

/// The controller/sequencer: dispatch, semaphores, the RASS FSM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Number of counting semaphores engines synchronise through. \[I\] 32.
    pub semaphores: u32,
    /// Power while busy, µW. \[S\] "Scheduler and others" 6.45 mW (Table III).
    pub power_uw: u64,
}

/// The on-chip SRAMs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sram {
    /// Token SRAM, bytes. \[S\] 192 KB (Table III).
    pub token_bytes: u64,
    /// Weight SRAM, bytes. \[S\] 96 KB (Table III).
    pub weight_bytes: u64,
    /// Temp SRAM, bytes. \[S\] 28 KB (Table III).
    pub temp_bytes: u64,
    /// Bytes per cycle of an SRAM-to-SRAM `COPY`. \[I\] 64 (one 512-bit port).
    pub copy_bytes_per_cycle: u64,
    /// Read energy, fJ/byte. \[I\] 0.1 pJ/bit, the SRAM figure the paper cites (§II-B); at this
    /// rate Table III's 170.23 mW memory power is ≈ 213 bytes/cycle at 1 GHz.
    pub read_fj_per_byte: u64,
    /// Write energy, fJ/byte. \[I\] as reads.
    pub write_fj_per_byte: u64,
}

/// Off-chip memory (HBM2) and its interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dram {
    /// Addressable DRAM, bytes. \[I\] 8 GiB (two 4 GiB HBM2 stacks).
    pub capacity_bytes: u64,
    /// Peak bandwidth, MB/s (10⁶ bytes per second). \[I\] from \[S\] "16 HBM channels at 2 GHz":
    /// 16 × 128 bit × 2 Gb/s = 512 GB/s.
    pub bandwidth_mb_s: u64,
    /// Latency of one DMA before its first byte, ns. \[I\] 100 ns (HBM2 row miss plus controller).
    pub latency_ns: u64,
    /// DRAM device energy, fJ/byte. \[S\]-derived: 1.92 W at 59.8 GB/s (Table IV) = 32.107 pJ/B.
    pub energy_fj_per_byte: u64,
    /// Memory interface energy, fJ/byte. \[S\]-derived: 0.53 W at 59.8 GB/s (Table IV) = 8.863 pJ/B.
    pub interface_fj_per_byte: u64,
}

impl Default for HwConfig {
    /// The SOFA chip of the paper (TSMC 28 nm, 1 GHz, HBM2); sources on each field.
    fn default() -> Self {
        HwConfig {
            name: "sofa-28nm".into(),
            clock: Clock { freq_mhz: 1000 },
            block: Block { query_rows: 128 },
            dlzs: Dlzs {
                rows: 128,
                cols: 32,
                rounding: Rounding::Floor,
                power_uw: 29_050,
            },
            sads: Sads {
                sorters: 128,
                sorter_inputs: 16,
                sorter_outputs: 4,
                power_uw: 112_790,
            },
            kvpe: Kvpe {
                rows: 128,
                cols: 4,
                power_uw: 146_210,
            },
            sufa: Sufa {
                rows: 128,
                cols: 4,
                exp_units: 128,
                div_units: 128,
                power_uw: 485_120,
            },
            vector: Vector {
                lanes: 128,
                power_uw: 36_553,
            },
            control: Control {
                semaphores: 32,
                power_uw: 6_450,
            },
            sram: Sram {
                token_bytes: 192 * 1024,
                weight_bytes: 96 * 1024,
                temp_bytes: 28 * 1024,
                copy_bytes_per_cycle: 64,
                read_fj_per_byte: 800,
                write_fj_per_byte: 800,
            },
            dram: Dram {
                capacity_bytes: 8 << 30,
                bandwidth_mb_s: 512_000,
                latency_ns: 100,
                energy_fj_per_byte: 32_107,
                interface_fj_per_byte: 8_863,
            },
        }
    }
}

/// Why a hardware configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HwLoadError {
    #[error("cannot read hardware config '{}': {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("hardware config '{}': {source}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        source: HwConfigError,
    },
}

/// Why a configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HwConfigError {
    /// The text is not valid TOML/JSON or does not match the schema (unknown key, wrong type,
    /// missing key); the message names the key and, for TOML, the line and column.
    #[error("{format} error: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// The values parsed but break rules; one entry per problem, each naming its dotted key.
    #[error("invalid hardware configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    /// Serialisation failed (a value outside TOML's signed 64-bit integers).
    #[error("cannot serialise the hardware configuration: {0}")]
    Serialize(String),
}

impl HwConfig {
    /// Parse TOML and validate.
    pub fn from_toml_str(text: &str) -> Result<HwConfig, HwConfigError> {
        let cfg: HwConfig = toml::from_str(text).map_err(|e| HwConfigError::Syntax {
            format: "TOML",
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validated()
    }

    /// Read, parse and validate a TOML file; errors name the file.
    pub fn load(path: &std::path::Path) -> Result<HwConfig, HwLoadError> {
        let text = std::fs::read(path)
            .and_then(crate::text::decode_utf8_io)
            .map_err(|source| HwLoadError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        HwConfig::from_toml_str(&text).map_err(|source| HwLoadError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parse JSON and validate.
    pub fn from_json_str(text: &str) -> Result<HwConfig, HwConfigError> {
        let cfg: HwConfig = serde_json::from_str(text).map_err(|e| HwConfigError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })?;
        cfg.validated()
    }

    /// The TOML form (sections in declaration order); `configs/sofa-28nm.toml` is exactly
    /// `HwConfig::default().to_toml_string()`.
    pub fn to_toml_string(&self) -> Result<String, HwConfigError> {
        toml::to_string(self).map_err(|e| HwConfigError::Serialize(e.to_string()))
    }

    /// The JSON form, pretty-printed.
    pub fn to_json_string(&self) -> Result<String, HwConfigError> {
        serde_json::to_string_pretty(self).map_err(|e| HwConfigError::Serialize(e.to_string()))
    }

    /// Every rule violation, each as `dotted.key message`; empty when the config is usable.
    pub fn problems(&self) -> Vec<String> {
        validate::problems(self)
    }

    /// `Ok(())` or all problems at once.
    pub fn validate(&self) -> Result<(), HwConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(HwConfigError::Invalid(problems))
        }
    }

    fn validated(self) -> Result<HwConfig, HwConfigError> {
        self.validate().map(|()| self)
    }

    /// A stable 64-bit identity: FNV-1a over the compact JSON serialisation (fields in
    /// declaration order, integers only). Binaries record it so a program runs only on the
    /// hardware it was compiled for.
    pub fn hash(&self) -> u64 {
        // Serialising plain integers and strings into a Vec cannot fail.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        fnv1a64(&bytes)
    }

    /// Capacity of an on-chip SRAM space in bytes.
    pub fn sram_capacity(&self, space: crate::isa::SramSpace) -> u64 {
        use crate::isa::SramSpace;
        match space {
            SramSpace::Token => self.sram.token_bytes,
            SramSpace::Weight => self.sram.weight_bytes,
            SramSpace::Temp => self.sram.temp_bytes,
        }
    }

    /// The config key naming an SRAM space's capacity (for messages that trace to the config).
    pub fn sram_capacity_key(space: crate::isa::SramSpace) -> &'static str {
        use crate::isa::SramSpace;
        match space {
            SramSpace::Token => "sram.token_bytes",
            SramSpace::Weight => "sram.weight_bytes",
            SramSpace::Temp => "sram.temp_bytes",
        }
    }
}

/// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn default_is_valid_and_sums_to_the_papers_316_kb() {
        let hw = HwConfig::default();
        assert_eq!(hw.problems(), Vec::<String>::new());
        let total = hw.sram.token_bytes + hw.sram.weight_bytes + hw.sram.temp_bytes;
        assert_eq!(total, 316 * 1024);
        let core_uw = hw.dlzs.power_uw
            + hw.sads.power_uw
            + hw.kvpe.power_uw
            + hw.sufa.power_uw
            + hw.control.power_uw;
        // Table III: 949.85 mW in total, of which 170.23 mW is the memory (per-byte here).
        assert_eq!(core_uw, 949_850 - 170_230);
    }
}
