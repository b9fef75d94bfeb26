//! The instruction tally both pricings build their figures with: instructions priced by
//! [`Instr::cycles`] (the simulator's formulas) with their DRAM traffic, then the energy of the
//! busy cycles and bytes ([`finish_with`]).

use sofa_ir::hw::{energy, HwConfig};
use sofa_ir::isa::{DType, DramAddr, Engine, Instr, SramRef, SufaMode};

use super::LayerCost;
use crate::schedule::{Ablation, PerEngine, ScheduleError, TensorClass};

/// Accumulates instruction cycles and traffic.
pub(super) struct Tally<'a> {
    pub(super) hw: &'a HwConfig,
    pub(super) cost: LayerCost,
}

const S0: SramRef = SramRef {
    space: sofa_ir::isa::SramSpace::Temp,
    offset: 0,
};

fn narrow<T: TryFrom<u64>>(v: u64, what: &'static str) -> Result<T, ScheduleError> {
    T::try_from(v).map_err(|_| ScheduleError::Field { what, value: v })
}

impl<'a> Tally<'a> {
    /// An empty tally on chip `hw`.
    pub(super) fn new(hw: &'a HwConfig) -> Tally<'a> {
        Tally {
            hw,
            cost: LayerCost::default(),
        }
    }

    pub(super) fn issue(&mut self, i: &Instr, times: u64) -> Result<(), ScheduleError> {
        if times == 0 {
            return Ok(());
        }
        let c = i.cycles(self.hw)?.saturating_mul(times);
        *self.cost.cycles.entry(i.engine().name()).or_default() += c;
        *self.cost.instrs.entry(i.opcode().mnemonic()).or_default() += times;
        Ok(())
    }

    pub(super) fn traffic(&mut self, class: TensorClass, bytes: u64, write: bool) {
        let t = self.cost.dram.entry(class.name()).or_default();
        if write {
            t.written += bytes;
        } else {
            t.read += bytes;
        }
    }

    /// LD (or ST when `write`) of `rows × row_bytes`, `times` times.
    pub(super) fn dma(
        &mut self,
        class: TensorClass,
        rows: u64,
        row_bytes: u64,
        times: u64,
        write: bool,
    ) -> Result<(), ScheduleError> {
        if rows == 0 || times == 0 {
            return Ok(());
        }
        let (rows32, rb) = (narrow(rows, "rows")?, narrow(row_bytes, "row bytes")?);
        let i = if write {
            Instr::St {
                dst: DramAddr(0),
                src: S0,
                rows: rows32,
                row_bytes: rb,
                stride: rb,
            }
        } else {
            Instr::Ld {
                dst: S0,
                src: DramAddr(0),
                rows: rows32,
                row_bytes: rb,
                stride: rb,
            }
        };
        self.issue(&i, times)?;
        self.traffic(class, rows * row_bytes * times, write);
        Ok(())
    }

    pub(super) fn gather(
        &mut self,
        class: TensorClass,
        rows: u64,
        row_bytes: u64,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let i = Instr::Gather {
            dst: S0,
            src: DramAddr(0),
            idx: S0,
            max_rows: narrow(rows, "gathered rows")?,
            row_bytes: narrow(row_bytes, "row bytes")?,
            stride: narrow(row_bytes, "row bytes")?,
        };
        self.issue(&i, times)?;
        self.traffic(class, rows * row_bytes * times, false);
        Ok(())
    }

    /// A prediction product `m × n` with depth `k`: DLZS, or a GEMM when DLZS is ablated.
    pub(super) fn predict(
        &mut self,
        phase_k: bool,
        m: u64,
        k: u64,
        n: u64,
        abl: Ablation,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let (rows, kk, nn) = (narrow(m, "rows")?, narrow(k, "depth")?, narrow(n, "cols")?);
        let i = match (abl.dlzs, phase_k) {
            (true, _) => Instr::Gemm {
                dst: S0,
                a: S0,
                b: S0,
                bias: None,
                m: rows,
                n: nn,
                k: kk,
                trans_b: !phase_k,
                acc: false,
                dt: DType::I8,
            },
            (false, true) => Instr::DlzsK {
                dst: S0,
                x: S0,
                w: S0,
                rows,
                k: kk,
                n: nn,
                xt: DType::I8,
                wt: DType::Lz4,
                ot: DType::I16,
            },
            (false, false) => Instr::DlzsS {
                dst: S0,
                q: S0,
                khat: S0,
                rows,
                k: kk,
                n: nn,
                qt: DType::I16,
                kt: DType::I16,
                ot: DType::I8,
            },
        };
        self.issue(&i, times)
    }

    /// KVGEN of K and of V for `rows` generated rows.
    pub(super) fn kvgen(
        &mut self,
        rows: u64,
        hidden: u64,
        d: u64,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let i = Instr::Kvgen {
            dst: S0,
            x: S0,
            w: S0,
            list: S0,
            max_rows: narrow(rows, "rows")?,
            k: narrow(hidden, "hidden")?,
            n: narrow(d, "head_dim")?,
            acc: false,
            dt: DType::I8,
        };
        self.issue(&i, 2 * times)
    }

    /// SUFA.T of one tile; `acc`: merged into the block's running partials (every tile
    /// after a block's first).
    pub(super) fn sufa_tile(
        &mut self,
        rows: u64,
        sel: u64,
        d: u64,
        (fa2, acc): (bool, bool),
        times: u64,
    ) -> Result<(), ScheduleError> {
        let mode = if fa2 { SufaMode::Fa2 } else { SufaMode::Sorted };
        let i = Instr::SufaT {
            dst: S0,
            q: S0,
            k: S0,
            v: S0,
            slot: S0,
            rows: narrow(rows, "rows")?,
            sel: narrow(sel, "sel")?,
            d: narrow(d, "d")?,
            slots: narrow(sel, "sel")?,
            mode,
            acc,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    /// SUFA.SYNC of a `rows`-row block over `tiles` tiles' partials.
    pub(super) fn sync(
        &mut self,
        rows: u64,
        tiles: u64,
        d: u64,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let i = Instr::SufaSync {
            dst: S0,
            part: S0,
            rows: narrow(rows, "rows")?,
            tiles: narrow(tiles.max(1), "tiles")?,
            d: narrow(d, "d")?,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    /// VEC.AFFINE (the score scale) of a `rows × d` Q block.
    pub(super) fn vec_affine(
        &mut self,
        rows: u64,
        d: u64,
        times: u64,
    ) -> Result<(), ScheduleError> {
        let i = Instr::VecAffine {
            dst: S0,
            a: S0,
            rows: narrow(rows, "rows")?,
            cols: narrow(d, "d")?,
            mul: 1.0,
            add: 0.0,
            dt: DType::F16,
        };
        self.issue(&i, times)
    }

    pub(super) fn select(
        &mut self,
        rows: u64,
        n: u64,
        sel: u64,
        abl: Ablation,
        times: u64,
    ) -> Result<u64, ScheduleError> {
        let (r16, s16, n32) = (narrow(rows, "rows")?, narrow(sel, "sel")?, narrow(n, "n")?);
        self.issue(
            &Instr::Sads {
                idx: S0,
                top: S0,
                src: S0,
                rows: r16,
                n: n32,
                sel: s16,
                base: 0,
                radius: 0.0,
                dt: DType::I8,
            },
            times,
        )?;
        self.issue(
            &Instr::Rass {
                order: S0,
                slot: S0,
                idx: S0,
                rows: r16,
                sel: s16,
                n: n32,
                reuse: !abl.rass,
            },
            times,
        )?;
        // Rows whose K/V must be generated: RASS shares a key among the block's queries.
        Ok(if abl.rass {
            rows * sel
        } else {
            n.min(rows * sel)
        })
    }
}

/// Fill in the energy of `cost` (busy cycles × engine power, DRAM energy per byte).
pub(super) fn finish_with(hw: &HwConfig, mut cost: LayerCost) -> Result<LayerCost, ScheduleError> {
    let mut e = PerEngine::new();
    for (&name, &c) in &cost.cycles {
        let engine = Engine::from_name(name).unwrap_or(Engine::Ctrl);
        e.insert(name, energy::busy_energy(hw, engine, c)?);
    }
    let dram = energy::dram_energy(hw, cost.dram_bytes())?;
    e.insert("dram_device", dram.device);
    e.insert("dram_interface", dram.interface);
    cost.energy = e;
    Ok(cost)
}
