//! The assembly printer. Its output is canonical: [`super::parse_asm`] reads it back to an
//! equal [`Program`], so `disasm | asm` reproduces a binary byte for byte.
//!
//! ```text
//! ; SOFA assembly (.sofabin format version 1)
//! .version 1
//! .config_hash 0x8a3c6f1e0b2d4c59
//! .tensor "x" kind=input dtype=f32 shape=[128,64] dram=0x0
//! .tensor "w" kind=const dtype=f16 shape=[2,2] dram=0x8000
//! .data 003c0040004200bc
//!
//! LD dst=token[0x0] src=0x0 rows=128 row_bytes=256 stride=256 ; @x
//! HALT
//! ```
//!
//! A program with host ops (format version 2) lists them after the tensors, each `.host`
//! followed by its operands and results, which name tensors declared above:
//!
//! ```text
//! .host "onnx.Floor" name="/Floor" opset=17 attrs="{}"
//! .operand "x" shape=[2,8]
//! .operand none
//! .result "y" shape=[2,8]
//! ```
//!
//! Every field is printed, by name, in encoding order; integers in decimal, addresses in hex,
//! immediates as the shortest decimal that reads back to the same bits. Tensor names are quoted
//! (`\"`, `\\` and `\xNN` for control characters). Initializer bytes follow their tensor as
//! `.data` lines of 32 bytes in hex. The `; @name+0x..` comments after DRAM operands and
//! the `; onnx.Floor "/Floor"` comment after `HOST` are for readers only.

use std::fmt::Write as _;

use super::{DramAddr, HostArg, HostOp, Instr, Program, TensorDecl};

/// Bytes of initializer data per `.data` line.
const DATA_BYTES_PER_LINE: usize = 32;

/// The canonical assembly text of a program.
pub fn print_asm(p: &Program) -> String {
    let mut out = String::new();
    let version = p.format_version();
    let _ = writeln!(out, "; SOFA assembly (.sofabin format version {version})");
    let _ = writeln!(out, ".version {version}");
    let _ = writeln!(out, ".config_hash {:#018x}", p.config_hash);
    for t in &p.tensors {
        print_tensor(t, &mut out);
    }
    for h in &p.host_ops {
        print_host_op(h, &p.tensors, &mut out);
    }
    out.push('\n');
    for i in &p.instrs {
        out.push_str(&print_instr(i, &p.tensors));
        if let Instr::Host { op } = i {
            if let Some(h) = p.host_ops.get(*op as usize) {
                let _ = write!(out, " ; {} {}", h.op, quote(&h.name));
            }
        }
        out.push('\n');
    }
    out
}

fn print_host_op(h: &HostOp, tensors: &[TensorDecl], out: &mut String) {
    let _ = writeln!(
        out,
        ".host {} name={} opset={} attrs={}",
        quote(&h.op),
        quote(&h.name),
        h.opset,
        quote(&h.attrs_text())
    );
    for a in &h.operands {
        match a {
            Some(a) => print_host_arg(".operand", a, tensors, out),
            None => out.push_str(".operand none\n"),
        }
    }
    for a in &h.results {
        print_host_arg(".result", a, tensors, out);
    }
}

/// `.operand "name" shape=[..]`; a tensor index outside the table prints as `#index` (which
/// the parser rejects, as `Program::check` does).
fn print_host_arg(directive: &str, a: &HostArg, tensors: &[TensorDecl], out: &mut String) {
    let shape: Vec<String> = a.shape.iter().map(u64::to_string).collect();
    let tensor = tensors
        .get(a.tensor as usize)
        .map_or_else(|| format!("#{}", a.tensor), |t| quote(&t.name));
    let _ = writeln!(out, "{directive} {tensor} shape=[{}]", shape.join(","));
}

fn print_tensor(t: &TensorDecl, out: &mut String) {
    let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        ".tensor {} kind={} dtype={} shape=[{}] dram={:#x}",
        quote(&t.name),
        t.kind,
        t.dtype,
        shape.join(","),
        t.dram
    );
    if let Some(w) = &t.weights {
        let _ = writeln!(
            out,
            ".weights {} offset={:#x} checksum={:#018x}",
            quote(&w.file),
            w.offset,
            w.checksum
        );
        return;
    }
    for chunk in t.data.chunks(DATA_BYTES_PER_LINE) {
        out.push_str(".data ");
        for b in chunk {
            let _ = write!(out, "{b:02x}");
        }
        out.push('\n');
    }
}

/// One instruction line (no newline), with a comment naming the tensor a DRAM operand hits.
pub fn print_instr(i: &Instr, tensors: &[TensorDecl]) -> String {
    let mut line = i.opcode().mnemonic().to_string();
    i.print_fields(&mut line);
    if let Some(addr) = dram_operand(i) {
        if let Some(t) = tensors.iter().find(|t| t.contains(addr.0)) {
            let _ = write!(line, " ; @{}", symbol(&t.name));
            if addr.0 > t.dram {
                let _ = write!(line, "+{:#x}", addr.0 - t.dram);
            }
        }
    }
    line
}

fn dram_operand(i: &Instr) -> Option<DramAddr> {
    match i {
        Instr::Ld { src, .. } | Instr::Gather { src, .. } => Some(*src),
        Instr::St { dst, .. } => Some(*dst),
        _ => None,
    }
}

/// A tensor name as an `@` reference: bare when unambiguous, quoted otherwise.
fn symbol(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:-".contains(c));
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}

/// `"name"` with `"` and `\` escaped and control characters as `\xNN`.
pub(crate) fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{DType, SramRef, TensorKind};

    #[test]
    fn quoting_escapes_only_what_it_must() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\x0ad""#);
        assert_eq!(
            quote("/enc/layer.0/Add_output_0"),
            "\"/enc/layer.0/Add_output_0\""
        );
    }

    #[test]
    fn dram_operands_are_annotated_with_their_tensor() {
        let tensors = vec![TensorDecl {
            name: "x".into(),
            kind: TensorKind::Input,
            dtype: DType::F32,
            shape: vec![4, 4],
            dram: 0x100,
            data: Default::default(),
            weights: None,
        }];
        let ld = Instr::Ld {
            dst: SramRef::token(0),
            src: DramAddr(0x110),
            rows: 1,
            row_bytes: 16,
            stride: 16,
        };
        assert_eq!(
            print_instr(&ld, &tensors),
            "LD dst=token[0x0] src=0x110 rows=1 row_bytes=16 stride=16 ; @x+0x10"
        );
    }
}
