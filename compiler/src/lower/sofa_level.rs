//! The `sofa.*` level: one attention op as a `sofa.kernel` with its SRAM buffers and loop nest
//! explicit (see `sofa_ir::dialect::sofa`).
//!
//! [`kernel_body`] mirrors [`super::attention::emit_segment`] for a layer and its layout
//! ([`Fit`]): the buffers of `fit.sram` (named by the snake case of their [`Buf`]), then
//! batch → head (stepping by the query heads a block stacks, [`Fit::stack`]) → q_block (by
//! the positions of each) → the schedule's steps. Loop bounds are the real sizes; the sizes on
//! steps (rows, bytes, sel) are those of a full query block seeing every key — the emitter
//! shortens the last block and tile, and causal blocks skip future tiles (`causal = true` on
//! the k_tile loop). Semaphores, ring entries and DRAM addresses stay below this level.
//!
//! [`check_kernel`] rebuilds the body from the kernel's attributes and reports the first
//! difference, so an edited body is rejected and an edited plan attribute shows as the plan it
//! implies.

use sofa_ir::attr::Attribute;
use sofa_ir::dialect::sofa::{self as d, KERNEL};
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::SramSpace;
use sofa_ir::{Module, Op};

use super::buffers::{elem, exact, fit, gathered, score_dt, Fit, StagedPlan, F32, U32};
use super::sram::Buf;
use super::{loc_text, plan_layer, Layer, LowerDefaults, LowerError, MaskRef};
use sofa_ir::dialect::attn::Schedule;

mod kernel;

pub use kernel::{build_kernel, check_kernel, kernel_counts};

/// One op of a kernel body: its name, attributes and (for loops) nested steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: &'static str,
    pub attrs: Vec<(&'static str, Attribute)>,
    pub body: Vec<Step>,
}

impl Step {
    fn new(name: &'static str, attrs: Vec<(&'static str, Attribute)>) -> Step {
        Step {
            name,
            attrs,
            body: Vec::new(),
        }
    }

    fn looped(dim: &str, upper: u64, step: u64, causal: bool, body: Vec<Step>) -> Step {
        let mut attrs = vec![
            ("dim", Attribute::string(dim)),
            ("lower", int(0)),
            ("upper", int(upper)),
            ("step", int(step.max(1))),
        ];
        if causal {
            attrs.push(("causal", Attribute::Bool(true)));
        }
        Step {
            name: d::FOR,
            attrs,
            body,
        }
    }

    /// The k_tile loop of a windowed layer records its window (see `sofa.for`).
    fn windowed(mut self, window: Option<u64>) -> Step {
        if let Some(w) = window {
            self.attrs.push(("window", int(w)));
        }
        self
    }

    /// Loops in this step and below.
    pub fn loops(&self) -> u64 {
        u64::from(self.name == d::FOR) + self.body.iter().map(Step::loops).sum::<u64>()
    }
}

fn int(v: u64) -> Attribute {
    Attribute::i64(i64::try_from(v).unwrap_or(i64::MAX))
}

fn s(v: &str) -> Attribute {
    Attribute::string(v)
}

/// The IR name of a buffer: the snake case of its variant (`QScaled` → `q_scaled`).
pub fn buf_name(b: Buf) -> String {
    let mut out = String::new();
    for (i, c) in format!("{b:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn b(buf: Buf) -> Attribute {
    s(&buf_name(buf))
}

fn load(dst: Buf, from: &str, rows: u64, bytes: u64) -> Step {
    Step::new(
        d::DMA_LOAD,
        vec![
            ("dst", b(dst)),
            ("from", s(from)),
            ("rows", int(rows)),
            ("bytes", int(bytes)),
        ],
    )
}

fn store(src: Buf, to: &str, rows: u64, bytes: u64) -> Step {
    Step::new(
        d::DMA_STORE,
        vec![
            ("src", b(src)),
            ("to", s(to)),
            ("rows", int(rows)),
            ("bytes", int(bytes)),
        ],
    )
}

fn mask_add(dst: Buf, mask: Buf, kind: &str) -> Step {
    Step::new(
        d::MASK_ADD,
        vec![("dst", b(dst)), ("mask", b(mask)), ("kind", s(kind))],
    )
}

/// The layer's sizes the steps share.
struct Ctx<'a> {
    l: &'a Layer,
    f: &'a Fit,
    /// Rows of a full query block, bytes of one activation row, of one score element.
    rows: u64,
    rb: u64,
    sc: u64,
}

impl Ctx<'_> {
    fn buffers(&self) -> Vec<Step> {
        self.f
            .sram
            .buffers()
            .map(|(buf, at, stride, depth)| {
                Step::new(
                    d::BUFFER,
                    vec![
                        ("name", b(buf)),
                        ("space", s(at.space.name())),
                        ("offset", int(u64::from(at.offset))),
                        ("bytes", int(stride)),
                        ("ring", int(u64::from(depth))),
                    ],
                )
            })
            .collect()
    }

    fn load_q(&self) -> Vec<Step> {
        let scale = Step::new(
            d::SCALE_Q,
            vec![
                ("src", b(Buf::QScaled)),
                ("dst", b(Buf::QScaled)),
                ("scale", Attribute::f32(self.l.shape.scale)),
            ],
        );
        vec![load(Buf::QScaled, "q", self.rows, self.rb), scale]
    }

    /// LD K̂, predict, and the masks of a tile of `width` keys (the predicting schedules).
    fn predict(&self, width: u64) -> Vec<Step> {
        let l = self.l;
        let engine = if l.plan.ablate.dlzs { "kvpe" } else { "dlzs" };
        let mut v = match l.plan.kv_gen {
            // On demand, K̂ is predicted from the tile's token rows.
            Some(g) => vec![
                load(Buf::XTile, "x", width, g.hidden * elem(l.shape.dt)),
                Step::new(
                    d::PREDICT_K,
                    vec![("src", b(Buf::XTile)), ("dst", b(Buf::KTile))],
                ),
            ],
            None => vec![load(Buf::KTile, "k", width, self.rb)],
        };
        v.extend([Step::new(
            d::PREDICT_SCORES,
            vec![
                ("dst", b(Buf::AHat)),
                ("q", b(Buf::QScaled)),
                ("khat", b(Buf::KTile)),
                ("engine", s(engine)),
            ],
        )]);
        if l.shape.causal {
            v.push(load(Buf::Mask, "causal_table", self.rows, width * self.sc));
        }
        if l.dram.mask.is_some() {
            v.push(load(Buf::UMask, "mask", self.rows, width * F32));
        }
        if l.shape.causal {
            v.push(mask_add(Buf::AHat, Buf::Mask, "causal"));
        }
        if l.dram.mask.is_some() {
            v.push(mask_add(Buf::AHat, Buf::UMask, "mask"));
        }
        v
    }

    fn sads(&self, sel: u64, whole_row: bool) -> Step {
        let mut attrs = vec![
            ("src", b(Buf::AHat)),
            ("idx", b(Buf::Idx)),
            ("top", b(Buf::Top)),
            ("sel", int(sel)),
        ];
        if self.l.plan.radius.is_finite() {
            attrs.push(("radius", Attribute::f32(self.l.plan.radius)));
        }
        attrs.push(("whole_row", Attribute::Bool(whole_row)));
        Step::new(d::SADS, attrs)
    }

    /// RASS → GATHER K, V → (with a score bias, SUFA.BIAS from `bias`) → SUFA.T of one
    /// selection listing `listed` rows.
    fn attend(&self, listed: u64, mode: &str, bias: Buf) -> Vec<Step> {
        let gather = |dst: Buf, from: &str| {
            Step::new(
                d::GATHER,
                vec![
                    ("dst", b(dst)),
                    ("idx", b(Buf::Order)),
                    ("from", s(from)),
                    ("rows", int(listed)),
                ],
            )
        };
        [Step::new(
            d::RASS,
            vec![
                ("idx", b(Buf::Idx)),
                ("order", b(Buf::Order)),
                ("slot", b(Buf::Slot)),
                ("reuse", Attribute::Bool(!self.l.plan.ablate.rass)),
            ],
        )]
        .into_iter()
        .chain(match self.l.plan.kv_gen {
            // On demand: the listed token rows, then K and V generated from them.
            Some(_) => vec![
                gather(Buf::GX, "x"),
                kvgen(Buf::GK, "wk"),
                kvgen(Buf::GV, "wv"),
            ],
            None => vec![gather(Buf::GK, "k"), gather(Buf::GV, "v")],
        })
        .chain(self.l.biased().then(|| sufa_bias(bias)))
        .chain([sufa_tile(Buf::GK, Buf::GV, Buf::Slot, mode)])
        .collect()
    }

    /// On demand: the KV head's weight columns and bias rows, loaded once per head.
    fn head_weights(&self) -> Vec<Step> {
        let Some(g) = self.l.plan.kv_gen else {
            return Vec::new();
        };
        let act = elem(self.l.shape.dt);
        let mut v = vec![
            load(Buf::Wk, "wk", g.hidden, self.rb),
            load(Buf::Wv, "wv", g.hidden, self.rb),
        ];
        let listed = super::buffers::listed_cap(self.l, self.f.rows_cap);
        for (buf, from, bias) in [(Buf::Bk, "bk", g.bias_k), (Buf::Bv, "bv", g.bias_v)] {
            if bias {
                v.push(load(buf, from, listed, self.l.shape.head_dim * act));
            }
        }
        v
    }

    /// Key tiles of a full block seeing every key.
    fn tiles(&self) -> u64 {
        self.l.shape.seq_k.div_ceil(self.l.bc().max(1))
    }

    fn cct_tile(&self) -> Vec<Step> {
        let l = self.l;
        let mut v = self.predict(l.bc());
        let sel = if exact(l) {
            l.bc()
        } else {
            l.budget(l.shape.seq_k)
                .div_ceil(self.tiles().max(1))
                .min(l.bc())
        };
        v.push(self.sads(sel, l.plan.ablate.sads));
        let mode = if l.plan.ablate.sufa { "fa2" } else { "sorted" };
        v.extend(self.attend(gathered(l, l.bc(), self.rows, sel), mode, Buf::UMask));
        v
    }

    fn dense_tile(&self) -> Vec<Step> {
        let l = self.l;
        let mut v = vec![
            load(Buf::DenseK, "k", l.bc(), self.rb),
            load(Buf::VTile, "v", l.bc(), self.rb),
        ];
        if l.dram.mask.is_none() {
            v.push(load(Buf::DenseSlot, "slot_table", self.rows, l.bc() * U32));
            v.push(sufa_tile(Buf::DenseK, Buf::VTile, Buf::DenseSlot, "fa2"));
            return v;
        }
        // The combined mask lands in Â; SADS over all its columns lists the unmasked keys.
        if l.shape.causal {
            v.push(load(Buf::Mask, "causal_table", self.rows, l.bc() * F32));
        }
        v.push(load(Buf::UMask, "mask", self.rows, l.bc() * F32));
        v.push(mask_add(Buf::AHat, Buf::UMask, "mask"));
        if l.shape.causal {
            v.push(mask_add(Buf::AHat, Buf::Mask, "causal"));
        }
        v.push(self.sads(l.bc(), false));
        if l.biased() {
            v.push(sufa_bias(Buf::UMask));
        }
        v.push(sufa_tile(Buf::DenseK, Buf::VTile, Buf::Idx, "fa2"));
        v
    }

    /// The tile loop and the merge of a cct or dense block.
    fn tiled_block(&self) -> Vec<Step> {
        let l = self.l;
        let tile = if l.plan.schedule == Schedule::Dense {
            self.dense_tile()
        } else {
            self.cct_tile()
        };
        let mut v = self.load_q();
        v.push(
            Step::looped("k_tile", l.shape.seq_k, l.bc(), l.shape.causal, tile)
                .windowed(l.shape.window),
        );
        v.extend(self.sync_store(Buf::Part, self.rows));
        v
    }

    fn sync_store(&self, part: Buf, rows: u64) -> Vec<Step> {
        // The output rows overwrite the block's scaled Q where the layout has no output buffer.
        let out = if self.f.out_in_q {
            Buf::QScaled
        } else {
            Buf::Out
        };
        vec![
            Step::new(d::SUFA_SYNC, vec![("dst", b(out)), ("part", b(part))]),
            store(out, "out", rows, self.rb),
        ]
    }

    fn staged_block(&self, p: &StagedPlan) -> Vec<Step> {
        let l = self.l;
        let prb = (l.shape.head_dim + 2) * F32;
        let width = p.khat_keys.max(1);
        let mut predict = self.predict(width);
        predict.push(store(Buf::AHat, "ahat_spill", self.rows, width * self.sc));
        let sel = l.budget(l.shape.seq_k);
        let (rc, keys) = p.chunk(l, self.rows, l.shape.seq_k);
        let (lists, listed) = if keys >= sel {
            (1, gathered(l, l.shape.seq_k, rc, sel))
        } else {
            (rc * sel.div_ceil(keys.max(1)), gathered(l, keys, 1, keys))
        };
        let tiles = sel.div_ceil(keys.max(1));
        let bias_rows = load(Buf::BiasRows, "mask", rc, l.shape.seq_k * F32);
        let mut chunk: Vec<Step> = l.biased().then_some(bias_rows).into_iter().collect();
        chunk.extend([
            load(Buf::AHat, "ahat_spill", rc, l.shape.seq_k * self.sc),
            self.sads(sel, true),
            Step::looped(
                "list",
                lists,
                1,
                false,
                self.attend(listed, "fa2", Buf::BiasRows),
            ),
            store(Buf::Part, "a_spill", tiles * rc, prb),
            load(Buf::Part, "a_spill", tiles * rc, prb),
        ]);
        chunk.extend(self.sync_store(Buf::Part, rc));
        let mut v = self.load_q();
        v.push(Step::looped(
            "k_tile",
            l.shape.seq_k,
            width,
            l.shape.causal,
            predict,
        ));
        v.push(Step::looped("row_chunk", self.rows, rc, false, chunk));
        v
    }
}

fn kvgen(dst: Buf, weight: &str) -> Step {
    Step::new(
        d::KVGEN,
        vec![("dst", b(dst)), ("src", b(Buf::GX)), ("weight", s(weight))],
    )
}

fn sufa_bias(bias: Buf) -> Step {
    Step::new(d::SUFA_BIAS, vec![("bias", b(bias)), ("idx", b(Buf::Idx))])
}

fn sufa_tile(k: Buf, v: Buf, slot: Buf, mode: &str) -> Step {
    Step::new(
        d::SUFA_TILE,
        vec![
            ("dst", b(Buf::Part)),
            ("q", b(Buf::QScaled)),
            ("k", b(k)),
            ("v", b(v)),
            ("slot", b(slot)),
            ("mode", s(mode)),
        ],
    )
}

/// The body of the kernel of `layer` under layout `fit`: the buffers, then the loop nest.
pub fn kernel_body(layer: &Layer, fit: &Fit) -> Result<Vec<Step>, LowerError> {
    let cx = Ctx {
        l: layer,
        f: fit,
        rows: fit
            .rows_cap
            .min(layer.shape.seq_q.saturating_mul(match fit.runs {
                // Packed: the block's rows run on across heads.
                1 => fit.stack,
                _ => layer.shape.batch.saturating_mul(layer.shape.heads),
            }))
            .max(1),
        rb: layer.shape.head_dim * elem(layer.shape.dt),
        sc: elem(score_dt(layer)),
    };
    let block = match (layer.plan.schedule, &fit.staged) {
        (Schedule::Staged, Some(p)) => cx.staged_block(p),
        (Schedule::Staged, None) => {
            return Err(layer_err(layer, "the staged schedule has no plan".into()))
        }
        _ => cx.tiled_block(),
    };
    if fit.runs > 1 {
        // Packed blocks run on from one head's rows into the next's.
        let s = &layer.shape;
        let rows = s.batch.saturating_mul(s.heads).saturating_mul(s.seq_q);
        let mut body = cx.buffers();
        body.push(Step::looped("row_block", rows, cx.rows, false, block));
        return Ok(body);
    }
    let nest = Step::looped(
        "batch",
        layer.shape.batch,
        1,
        false,
        vec![Step::looped(
            "head",
            layer.shape.heads,
            fit.stack,
            false,
            cx.head_weights()
                .into_iter()
                .chain([Step::looped(
                    "q_block",
                    layer.shape.seq_q,
                    cx.rows / fit.stack.max(1),
                    false,
                    block,
                )])
                .collect(),
        )],
    );
    let mut body = cx.buffers();
    body.push(nest);
    Ok(body)
}

fn layer_err(l: &Layer, message: String) -> LowerError {
    LowerError::Op {
        op: KERNEL.into(),
        loc: l.name.clone(),
        message,
    }
}

fn op_err(m: &Module, op: Op, message: String) -> LowerError {
    LowerError::Op {
        op: m.op(op).name.clone(),
        loc: loc_text(&m.op(op).loc),
        message,
    }
}

/// The layer of an attention op or kernel as the segment emitter sees it (a mask operand
/// sized in, the sads ablation as one whole-row tile, activations of type `dt` when given),
/// and its SRAM layout, checked against the capacities.
pub fn kernel_layer(
    m: &Module,
    op: Op,
    hw: &HwConfig,
    defaults: &LowerDefaults,
) -> Result<(Layer, Fit), LowerError> {
    let mut l = plan_layer(m, op, 0, hw, defaults)?;
    if l.shape.masked {
        l.dram.mask = Some(MaskRef::default());
    }
    let f = fit(hw, &l)?;
    for (buf, at, stride, depth) in f.sram.buffers() {
        let end = u64::from(at.offset) + stride * u64::from(depth);
        check_capacity(hw, at.space, end, &buf_name(buf)).map_err(|e| op_err(m, op, e))?;
    }
    Ok((l, f))
}

fn check_capacity(hw: &HwConfig, space: SramSpace, end: u64, name: &str) -> Result<(), String> {
    let cap = hw.sram_capacity(space);
    if end > cap {
        return Err(format!(
            "buffer '{name}' ends at {end} B, beyond {} = {cap}",
            HwConfig::sram_capacity_key(space)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_names_are_snake_case() {
        assert_eq!(buf_name(Buf::QScaled), "q_scaled");
        assert_eq!(buf_name(Buf::GK), "g_k");
        assert_eq!(buf_name(Buf::AHat), "a_hat");

        assert_eq!(buf_name(Buf::DenseSlot), "dense_slot");
    }
}
