//! `sofa run MODEL.onnx --timing-only` without a trace: the model is lowered into an unnamed
//! temporary file ([`super::model::lower_streamed`]), checked and then replayed piece by piece
//! (`sofa_runtime::sim::simulate_timing_pieces`), each piece a run of whole ops the lowering
//! handed on at once. The program is never whole in memory: a 34.5 M-instruction model runs
//! in the memory of its largest piece. The report equals the in-memory run's
//! (`tests/sim_model.rs` checks it field for field).

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use sofa_compiler::driver::{self, Target};
use sofa_ir::isa::{Instr, PieceCheck, Program, INSTR_BYTES};
use sofa_ir::Module;
use sofa_runtime::sim::{simulate_timing_pieces, Mode, RooflineRequest, SimError, SimOptions};

use super::diag::CliError;
use super::model::{lower_streamed, Streamed};
use super::run::{print_report, program_problems, write_files, RunArgs};
use crate::progress::Progress;

/// Lower, check and simulate `module` (from `path`) timing-only, in pieces.
pub(super) fn run(
    args: &RunArgs,
    path: &Path,
    target: &Target,
    module: &Module,
) -> Result<(), CliError> {
    let mut s = lower_streamed(module, target, path)?;
    let work = driver::model_roofline(module, &s.lowered.head, target)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let opts = SimOptions {
        mode: Mode::TimingOnly,
        trace: false,
        regions: Vec::new(),
        roofline: Some(RooflineRequest {
            work,
            layer_instrs: s.lowered.layer_instrs.clone(),
        }),
    };
    let count = s.lowered.count;
    let mut pieces = Pieces::new(&mut s)?;
    let head = pieces.head;
    // Each piece is checked before it runs; the rules on the whole stream after the last.
    let mut check = PieceCheck::new(head, &target.hw);
    let simulated = {
        let mut next = || {
            let piece = pieces.next()?;
            if let Some(p) = &piece {
                check.piece(p);
                if !check.clean() {
                    return Err(SimError::general("the program does not fit the hardware"));
                }
            }
            Ok(piece)
        };
        Progress::watch(count as u64, "sofa run: instructions", false, |started| {
            simulate_timing_pieces(head, count, &target.hw, &opts, &mut next, started)
        })
    };
    if !check.clean() {
        // Report every problem, as the whole program's check would.
        let in_file = |e: SimError| CliError::input(format!("{}: {e}", path.display()));
        while let Some(piece) = pieces.next().map_err(in_file)? {
            check.piece(&piece);
        }
    }
    check
        .finish()
        .map_err(|errs| program_problems(&errs, &target.hw, path))?;
    let outcome = simulated
        .map_err(|e| CliError::input(format!("{}: simulation failed: {e}", path.display())))?;
    print_report(args, &outcome.report);
    write_files(args, None, &outcome.report, None)
}

/// The instructions of a [`Streamed`] lowering, read back one hand-on at a time.
struct Pieces<'a> {
    head: &'a Program,
    file: &'a mut File,
    cuts: &'a [usize],
    /// The next piece's index in `cuts`, and its first instruction.
    next: usize,
    from: usize,
}

impl<'a> Pieces<'a> {
    fn new(s: &'a mut Streamed) -> Result<Pieces<'a>, CliError> {
        s.instrs
            .rewind()
            .map_err(|e| CliError::input(format!("cannot reread the lowered program: {e}")))?;
        Ok(Pieces {
            head: &s.lowered.head,
            file: &mut s.instrs,
            cuts: &s.cuts,
            next: 0,
            from: 0,
        })
    }

    /// The next piece, `None` after the last.
    fn next(&mut self) -> Result<Option<Vec<Instr>>, SimError> {
        let Some(&to) = self.cuts.get(self.next) else {
            return Ok(None);
        };
        let mut bytes = vec![0; (to - self.from) * INSTR_BYTES];
        self.file
            .read_exact(&mut bytes)
            .map_err(|e| SimError::general(format!("cannot reread the lowered program: {e}")))?;
        let piece = Program::decode_instrs(&bytes, self.from)
            .map_err(|e| SimError::general(format!("the lowered program: {e}")))?;
        self.next += 1;
        self.from = to;
        Ok(Some(piece))
    }
}
