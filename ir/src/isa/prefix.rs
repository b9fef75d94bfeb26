//! `SUFA.BIAS` is the ISA's one prefix: the bias it gathers stays in the SU-FA engine until
//! the next `SUFA.T` of the SU-FA queue adds it. [`BiasPrefix`] follows one engine queue in
//! order and rejects a prefix that no `SUFA.T` of the same `rows × sel` consumes.
//! [`super::Program::check`] runs it over the program (the queue is the program order of the
//! `sufa` instructions); the simulator runs it again as instructions start, so an unchecked
//! program fails there too, naming the instruction.

use super::{Engine, Instr, Opcode};

/// A `SUFA.BIAS` whose bias nothing (or the wrong `SUFA.T`) consumes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The next SU-FA instruction after the prefix is not a `SUFA.T` (`None`: the stream ends).
    #[error("the SUFA.BIAS at instr #{prefix} is not followed by a SUFA.T on the sufa queue ({})", next_text(*.next))]
    Dangling {
        prefix: usize,
        next: Option<(usize, Opcode)>,
    },
    /// The consuming `SUFA.T` attends another `rows × sel` than the bias was gathered for.
    #[error("the SUFA.T at instr #{at} attends {rows}×{sel} entries, but the SUFA.BIAS at instr #{prefix} gathered {bias_rows}×{bias_sel}")]
    Shape {
        prefix: usize,
        at: usize,
        bias_rows: u16,
        bias_sel: u16,
        rows: u16,
        sel: u16,
    },
}

impl PrefixError {
    /// The instruction the problem is reported at: the prefix.
    pub fn prefix(&self) -> usize {
        match self {
            PrefixError::Dangling { prefix, .. } | PrefixError::Shape { prefix, .. } => *prefix,
        }
    }
}

fn next_text(next: Option<(usize, Opcode)>) -> String {
    match next {
        Some((i, op)) => format!("next: {} at instr #{i}", op.mnemonic()),
        None => "the stream ends".into(),
    }
}

/// The prefix state of the SU-FA queue: the pending `SUFA.BIAS` (index, rows, sel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BiasPrefix {
    pending: Option<(usize, u16, u16)>,
}

impl BiasPrefix {
    /// Instruction `index` of the stream reaches its engine (instructions of other engines,
    /// and the SU-FA engine's `SIGNAL`/`WAIT`, pass untouched).
    pub fn step(&mut self, index: usize, instr: &Instr) -> Result<(), PrefixError> {
        if instr.engine() != Engine::Sufa || is_sync(instr) {
            return Ok(());
        }
        let pending = self.pending.take();
        if let Instr::SufaBias { rows, sel, .. } = instr {
            self.pending = Some((index, *rows, *sel));
        }
        let Some((prefix, bias_rows, bias_sel)) = pending else {
            return Ok(());
        };
        match instr {
            Instr::SufaT { rows, sel, .. } if (bias_rows, bias_sel) != (*rows, *sel) => {
                Err(PrefixError::Shape {
                    prefix,
                    at: index,
                    bias_rows,
                    bias_sel,
                    rows: *rows,
                    sel: *sel,
                })
            }
            Instr::SufaT { .. } => Ok(()),
            other => Err(PrefixError::Dangling {
                prefix,
                next: Some((index, other.opcode())),
            }),
        }
    }

    /// The stream has ended: a pending prefix dangles.
    pub fn finish(&mut self) -> Result<(), PrefixError> {
        match self.pending.take() {
            Some((prefix, _, _)) => Err(PrefixError::Dangling { prefix, next: None }),
            None => Ok(()),
        }
    }

    /// The pending prefix's instruction index, if any.
    pub fn pending(&self) -> Option<usize> {
        self.pending.map(|(i, _, _)| i)
    }
}

fn is_sync(instr: &Instr) -> bool {
    matches!(instr, Instr::Signal { .. } | Instr::Wait { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{DType, SramRef, SufaMode};

    /// Every prefix error of `instrs`, in stream order.
    fn check_prefixes(instrs: &[Instr]) -> Vec<PrefixError> {
        let mut state = BiasPrefix::default();
        let mut errs: Vec<PrefixError> = instrs
            .iter()
            .enumerate()
            .filter_map(|(i, instr)| state.step(i, instr).err())
            .collect();
        errs.extend(state.finish().err());
        errs
    }

    fn bias(rows: u16, sel: u16) -> Instr {
        Instr::SufaBias {
            bias: SramRef::temp(0),
            idx: SramRef::temp(0x100),
            rows,
            sel,
            n: 8,
            base: 0,
            dt: DType::F32,
        }
    }

    fn tile(rows: u16, sel: u16) -> Instr {
        Instr::SufaT {
            dst: SramRef::token(0),
            q: SramRef::token(0x100),
            k: SramRef::token(0x200),
            v: SramRef::token(0x300),
            slot: SramRef::temp(0x200),
            rows,
            sel,
            d: 4,
            slots: 8,
            mode: SufaMode::Fa2,
            acc: false,
            dt: DType::F32,
        }
    }

    fn sync() -> Instr {
        Instr::SufaSync {
            dst: SramRef::token(0),
            part: SramRef::token(0x100),
            rows: 2,
            tiles: 1,
            d: 4,
            dt: DType::F32,
        }
    }

    #[test]
    fn a_prefix_reaches_its_sufa_t_across_semaphores_and_other_engines() {
        let ok = [
            bias(2, 3),
            Instr::Signal {
                engine: Engine::Sufa,
                sem: 0,
            },
            Instr::Halt {},
            tile(2, 3),
            tile(2, 3),
        ];
        assert_eq!(check_prefixes(&ok), vec![]);
    }

    #[test]
    fn dangling_and_mismatched_prefixes_name_the_prefix() {
        let bad = [
            bias(2, 3),
            sync(),
            bias(2, 3),
            bias(2, 3),
            tile(2, 4),
            bias(1, 1),
        ];
        let errs = check_prefixes(&bad);
        assert_eq!(
            errs,
            vec![
                PrefixError::Dangling {
                    prefix: 0,
                    next: Some((1, Opcode::SufaSync))
                },
                PrefixError::Dangling {
                    prefix: 2,
                    next: Some((3, Opcode::SufaBias))
                },
                PrefixError::Shape {
                    prefix: 3,
                    at: 4,
                    bias_rows: 2,
                    bias_sel: 3,
                    rows: 2,
                    sel: 4
                },
                PrefixError::Dangling {
                    prefix: 5,
                    next: None
                },
            ]
        );
        assert_eq!(
            errs[0].to_string(),
            "the SUFA.BIAS at instr #0 is not followed by a SUFA.T on the sufa queue (next: \
             SUFA.SYNC at instr #1)"
        );
        assert_eq!(errs[3].prefix(), 5);
    }
}
