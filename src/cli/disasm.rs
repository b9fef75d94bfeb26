//! `sofa disasm`: print a `.sofabin` as SOFA assembly text.
//!
//! The text is canonical: `sofa asm` turns it back into the identical bytes. A malformed binary
//! is reported with the byte offset of the offending field.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use clap::Args;
use sofa_ir::isa::{print_asm, Program};

use super::diag::CliError;
use super::io::write_output;

#[derive(Debug, Args)]
#[command(
    long_about = "Print a .sofabin binary as SOFA assembly text. The output assembles back \
                  (sofa asm) to the identical bytes. Comments after DRAM operands name the \
                  tensor they address.",
    after_help = "Examples:\n  \
                  sofa disasm prog.sofabin\n  \
                  sofa disasm prog.sofabin -o prog.s\n  \
                  sofa disasm prog.sofabin | sofa asm - -o copy.sofabin"
)]
pub struct DisasmArgs {
    /// The binary (`-` reads standard input).
    #[arg(value_name = "IN.sofabin")]
    pub input: PathBuf,

    /// Write the text to OUT (atomically) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT.s")]
    pub output: Option<PathBuf>,
}

/// Run `sofa disasm`.
pub fn run(args: &DisasmArgs) -> Result<(), CliError> {
    let (name, bytes) = read_bytes(&args.input)?;
    let program = Program::decode(&bytes).map_err(|e| CliError::input(format!("{name}: {e}")))?;
    write_output(args.output.as_deref(), print_asm(&program).as_bytes())
}

/// The bytes of `path`, or of stdin for `-`, with the name to use in messages.
fn read_bytes(path: &Path) -> Result<(String, Vec<u8>), CliError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::input(format!("cannot read standard input: {e}")))?;
        return Ok(("<stdin>".into(), bytes));
    }
    let bytes = fs::read(path).map_err(|e| CliError::io("read", path, &e))?;
    Ok((path.display().to_string(), bytes))
}

#[cfg(test)]
mod tests {
    use super::super::asm::{self, AsmArgs};
    use super::*;

    const PROGRAM: &str = ".config_hash 0x1\n\
        .tensor \"w\" kind=const dtype=f16 shape=[2] dram=0x40\n\
        .data 003c0040\n\
        LD dst=temp[0x10] src=@w rows=1 row_bytes=4 stride=4\n\
        SIGNAL engine=dma sem=0\n\
        WAIT engine=vec sem=0\n\
        VEC.EXP dst=temp[0x10] a=temp[0x10] rows=1 cols=2 dt=f16\n\
        HALT\n";

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sofa-disasm-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn disasm_then_asm_reproduces_the_file_byte_for_byte() {
        let dir = temp_dir("roundtrip");
        let (src, bin, text, again) = (
            dir.join("p.s"),
            dir.join("p.sofabin"),
            dir.join("d.s"),
            dir.join("again.sofabin"),
        );
        fs::write(&src, PROGRAM).unwrap();
        let asm_to = |input: &Path, output: &Path| {
            asm::run(&AsmArgs {
                input: input.into(),
                output: Some(output.into()),
                check: false,
                hw: None,
            })
        };
        asm_to(&src, &bin).unwrap();
        run(&DisasmArgs {
            input: bin.clone(),
            output: Some(text.clone()),
        })
        .unwrap();
        asm_to(&text, &again).unwrap();
        assert_eq!(fs::read(&again).unwrap(), fs::read(&bin).unwrap());
        assert!(fs::read_to_string(&text)
            .unwrap()
            .contains("LD dst=temp[0x10] src=0x40 rows=1 row_bytes=4 stride=4 ; @w"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_binary_is_an_input_error_with_the_byte_offset() {
        let dir = temp_dir("corrupt");
        let (src, bin) = (dir.join("p.s"), dir.join("p.sofabin"));
        fs::write(&src, PROGRAM).unwrap();
        asm::run(&AsmArgs {
            input: src,
            output: Some(bin.clone()),
            check: false,
            hw: None,
        })
        .unwrap();
        let mut bytes = fs::read(&bin).unwrap();
        let last = bytes.len() - 32;
        bytes[last] = 0xee; // the HALT opcode
        fs::write(&bin, &bytes).unwrap();
        let err = run(&DisasmArgs {
            input: bin.clone(),
            output: None,
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            format!(
                "error: {}: byte offset {last}: instruction #4: unknown opcode 0xee",
                bin.display()
            )
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn asm_check_locates_errors_at_source_lines() {
        let dir = temp_dir("check");
        let src = dir.join("p.s");
        fs::write(&src, PROGRAM.replace("cols=2", "cols=0")).unwrap();
        let err = asm::run(&AsmArgs {
            input: src.clone(),
            output: None,
            check: true,
            hw: None,
        })
        .unwrap_err();
        let name = src.display();
        assert!(
            err.to_string().contains(&format!(
                "error: {name}:7: instr #3 (VEC.EXP): `cols` must be > 0"
            )),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
