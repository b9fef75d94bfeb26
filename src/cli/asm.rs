//! `sofa asm`: assemble SOFA assembly text (`.s`) into a `.sofabin`.
//!
//! The text format is the one `sofa disasm` prints, so `sofa disasm X.sofabin | sofa asm -`
//! reproduces X byte for byte. With `--check` the program is also validated against a hardware
//! description (buffer ranges, engine limits, semaphores), errors pointing at source lines.

use std::path::{Path, PathBuf};

use clap::Args;
use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{parse_asm, AsmError, ProgramError, ProgramLoc};
use sofa_ir::text::caret_snippet;

use super::diag::CliError;
use super::io::{read_input, write_output};

#[derive(Debug, Args)]
#[command(
    long_about = "Assemble SOFA assembly text into a .sofabin binary.\n\n\
                  One instruction per line (`LD dst=token[0x0] src=@x rows=128 ...`), `;` \
                  comments, directives .version, .config_hash, .tensor and .data. The reference \
                  of every instruction is in the sofa-ir crate docs (module isa).",
    after_help = "Examples:\n  \
                  sofa asm prog.s -o prog.sofabin\n  \
                  sofa disasm prog.sofabin | sofa asm - -o same.sofabin\n  \
                  sofa asm prog.s --check --hw configs/sofa-28nm.toml -o prog.sofabin"
)]
pub struct AsmArgs {
    /// The assembly file (`-` reads standard input).
    #[arg(value_name = "IN.s")]
    pub input: PathBuf,

    /// Write the binary to OUT (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.sofabin")]
    pub output: Option<PathBuf>,

    /// Also validate the program against the hardware description (`--hw`, default: the
    /// paper's chip).
    #[arg(long)]
    pub check: bool,

    /// Hardware description for `--check`: TOML, or JSON when the name ends in `.json`.
    #[arg(long, value_name = "CONFIG", requires = "check")]
    pub hw: Option<PathBuf>,
}

/// Run `sofa asm`.
pub fn run(args: &AsmArgs) -> Result<(), CliError> {
    let input = read_input(&args.input)?;
    let program = parse_asm(&input.text).map_err(|e| asm_error(&input.name, &input.text, &e))?;
    if args.check {
        let hw = load_hw_config(args.hw.as_deref())?;
        program
            .check(&hw)
            .map_err(|errs| check_errors(&input.name, &input.text, &hw, &errs))?;
    }
    write_output(args.output.as_deref(), &program.encode())
}

/// A parse error as `name:line:col: message`, the source line and a caret.
fn asm_error(name: &str, text: &str, e: &AsmError) -> CliError {
    let line = text.split('\n').nth(e.line.saturating_sub(1)).unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    CliError::input(format!(
        "{name}:{}:{}: {}\n{}",
        e.line,
        e.col,
        e.message,
        caret_snippet(line, e.col, 1)
    ))
}

/// `check` failures, instructions located at their source lines.
fn check_errors(name: &str, text: &str, hw: &HwConfig, errs: &[ProgramError]) -> CliError {
    let lines = instr_lines(text);
    let mut out: Vec<String> = errs
        .iter()
        .map(|e| match e.loc {
            ProgramLoc::Instr(i, _) => match lines.get(i) {
                Some(l) => format!("{name}:{}: {e}", l + 1),
                None => format!("{name}: {e}"),
            },
            _ => format!("{name}: {e}"),
        })
        .collect();
    out.push(format!(
        "{name}: {} error(s) against hardware '{}'",
        errs.len(),
        hw.name
    ));
    CliError::input(out.join("\nerror: "))
}

/// 0-based line of each instruction: lines whose first token is not a directive or comment,
/// the same rule the parser uses.
fn instr_lines(text: &str) -> Vec<usize> {
    text.split('\n')
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with(';') && !t.starts_with('.')
        })
        .map(|(i, _)| i)
        .collect()
}

/// Read a hardware description (TOML, or JSON for `*.json`); the default chip when `None`.
pub fn load_hw_config(path: Option<&Path>) -> Result<HwConfig, CliError> {
    let Some(path) = path else {
        return Ok(HwConfig::default());
    };
    let input = read_input(path)?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        HwConfig::from_json_str(&input.text)
    } else {
        HwConfig::from_toml_str(&input.text)
    };
    parsed.map_err(|e| CliError::input(format!("{}: {e}", input.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_lines_skip_directives_comments_and_blanks() {
        let text = "; c\n.config_hash 0\n\n  LD a=1\n.data 00\nHALT ; end\n";
        assert_eq!(instr_lines(text), vec![3, 5]);
    }

    #[test]
    fn parse_errors_show_the_line_and_a_caret() {
        let text = ".config_hash 0\n  FOO x=1\n";
        let e = parse_asm(text).unwrap_err();
        assert_eq!(
            asm_error("p.s", text, &e).to_string(),
            "error: p.s:2:3: unknown instruction 'FOO'\n    FOO x=1\n    ^"
        );
    }
}
