//! The ISA's two external forms are exact: binary and assembly round-trip a program that uses
//! every instruction, `disasm | asm` reproduces the bytes, and the layout is pinned.

mod isa_common;

use sofa_ir::hw::HwConfig;
use sofa_ir::isa::{
    parse_asm, print_asm, Bcast, DType, DramAddr, Engine, Instr, Program, ProgramLoc, SramRef,
    TensorKind, WeightsRef, INSTR_BYTES,
};

#[test]
fn the_program_covers_the_isa_and_is_valid() {
    let p = isa_common::program();
    isa_common::assert_covers_every_opcode(&p);
    assert_eq!(p.check(&HwConfig::default()), Ok(()));
}

#[test]
fn binary_round_trip() {
    let p = isa_common::program();
    let bytes = p.encode();
    assert_eq!(Program::decode(&bytes), Ok(p.clone()));
    assert_eq!(p.encode(), bytes, "encoding is deterministic");
    let tensor_bytes: usize = p
        .tensors
        .iter()
        .map(|t| 2 + t.name.len() + 4 + 8 + 8 * t.shape.len() + 8 + t.data.len())
        .sum();
    let host_bytes: usize = p
        .host_ops
        .iter()
        .map(|h| {
            let args = h.operands.iter().flatten().chain(&h.results);
            let absent = h.operands.iter().filter(|a| a.is_none()).count();
            2 + h.op.len()
                + 2
                + h.name.len()
                + 2
                + 4
                + h.attrs_text().len()
                + 2
                + args.map(|a| 5 + 8 * a.shape.len()).sum::<usize>()
                + 5 * absent
        })
        .sum();
    assert_eq!(
        bytes.len(),
        28 + tensor_bytes + host_bytes + INSTR_BYTES * p.instrs.len()
    );
}

#[test]
fn text_round_trip() {
    let p = isa_common::program();
    let text = print_asm(&p);
    let parsed = parse_asm(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed, p);
    assert_eq!(print_asm(&parsed), text, "printing is canonical");
}

#[test]
fn disasm_then_asm_reproduces_the_bytes() {
    let bytes = isa_common::program().encode();
    let text = print_asm(&Program::decode(&bytes).unwrap());
    assert_eq!(parse_asm(&text).unwrap().encode(), bytes);
}

#[test]
fn the_binary_layout_is_pinned() {
    let p = Program {
        host_ops: vec![],
        config_hash: 0x0102_0304_0506_0708,
        tensors: vec![sofa_ir::isa::TensorDecl {
            name: "w".into(),
            kind: TensorKind::Const,
            dtype: DType::F16,
            shape: vec![2],
            dram: 0x40,
            data: vec![0x00, 0x3c, 0x00, 0x40].into(),
            weights: None,
        }],
        instrs: vec![
            Instr::Ld {
                dst: SramRef::temp(0x10),
                src: DramAddr(0x40),
                rows: 1,
                row_bytes: 4,
                stride: 4,
            },
            Instr::Halt {},
        ],
    };
    let mut expected = Vec::new();
    expected.extend_from_slice(b"SOFA");
    expected.extend_from_slice(&[1, 0, 0, 0]); // version 1, reserved
    expected.extend_from_slice(&[8, 7, 6, 5, 4, 3, 2, 1]); // config hash, little-endian
    expected.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]); // 1 tensor, 2 instructions
    expected.extend_from_slice(&[1, 0, b'w']); // name
    expected.extend_from_slice(&[2, 2, 1, 0]); // const, f16, rank 1, no flags
    expected.extend_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 0]); // dram
    expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]); // dims
    expected.extend_from_slice(&[4, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x3c, 0x00, 0x40]); // data
    let mut ld = vec![0x01];
    ld.extend_from_slice(&(0x8000_0010u32).to_le_bytes()); // temp (2 << 30) | 0x10
    ld.extend_from_slice(&0x40u64.to_le_bytes());
    ld.extend_from_slice(&[1, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0]);
    ld.resize(32, 0);
    expected.extend_from_slice(&ld);
    let mut halt = vec![0x7f];
    halt.resize(32, 0);
    expected.extend_from_slice(&halt);
    assert_eq!(p.encode(), expected);
    assert_eq!(
        print_asm(&p),
        "; SOFA assembly (.sofabin format version 1)\n\
         .version 1\n\
         .config_hash 0x0102030405060708\n\
         .tensor \"w\" kind=const dtype=f16 shape=[2] dram=0x40\n\
         .data 003c0040\n\
         \n\
         LD dst=temp[0x10] src=0x40 rows=1 row_bytes=4 stride=4 ; @w\n\
         HALT\n"
    );
}

/// A `const` tensor whose bytes stay in a weights file.
fn referencing_program() -> Program {
    Program {
        config_hash: 0x0102_0304_0506_0708,
        tensors: vec![sofa_ir::isa::TensorDecl {
            weights: Some(WeightsRef {
                file: "m.data".into(),
                offset: 0x10,
                checksum: 0xabcd,
            }),
            ..sofa_ir::isa::TensorDecl::new(
                "w".into(),
                TensorKind::Const,
                DType::F16,
                vec![2],
                0x40,
            )
        }],
        host_ops: vec![],
        instrs: vec![Instr::Halt {}],
    }
}

#[test]
fn a_weights_reference_layout_is_pinned_and_round_trips() {
    let p = referencing_program();
    let bytes = p.encode();
    let mut tensor = Vec::new();
    tensor.extend_from_slice(&[1, 0, b'w']);
    tensor.extend_from_slice(&[2, 2, 1, 1]); // const, f16, rank 1, flags: weights by reference
    tensor.extend_from_slice(&[0x40, 0, 0, 0, 0, 0, 0, 0]); // dram
    tensor.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]); // dims
    tensor.extend_from_slice(&[6, 0]); // file name length
    tensor.extend_from_slice(b"m.data");
    tensor.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0]); // offset
    tensor.extend_from_slice(&[0xcd, 0xab, 0, 0, 0, 0, 0, 0]); // checksum
    assert_eq!(&bytes[24..24 + tensor.len()], &tensor[..]);
    assert_eq!(
        bytes.len(),
        24 + tensor.len() + INSTR_BYTES,
        "no data bytes"
    );
    let back = Program::decode(&bytes).unwrap();
    assert_eq!(back, p);
    let text = print_asm(&back);
    assert!(
        text.contains(".weights \"m.data\" offset=0x10 checksum=0x000000000000abcd\n"),
        "{text}"
    );
    assert_eq!(parse_asm(&text).unwrap().encode(), bytes);
    let hw = HwConfig::default();
    let check = Program {
        config_hash: hw.hash(),
        ..back
    }
    .check(&hw);
    assert!(check.is_ok(), "{check:?}");
}

#[test]
fn weights_references_are_checked_where_they_are_written() {
    let mut bytes = referencing_program().encode();
    bytes[24 + 6] = 3; // an unknown flag bit
    assert!(decode_error(&bytes).contains("byte offset 30: tensor 'w': unknown flag bits 0x03"));
    let asm = |extra: &str| {
        let text = format!(
            ".config_hash 0x1\n.tensor \"w\" kind=const dtype=f16 shape=[2] dram=0x40\n{extra}"
        );
        parse_asm(&text).map(|_| ()).unwrap_err().to_string()
    };
    let both = asm(".weights \"m\" offset=0 checksum=1\n.data 00000000\n");
    assert!(
        both.starts_with("4:1:") && both.contains("not both"),
        "{both}"
    );
    let missing = asm(".weights \"m\" offset=0\n");
    assert!(
        missing.starts_with("3:1:") && missing.contains("checksum"),
        "{missing}"
    );
    let empty = asm(".weights \"\" offset=0 checksum=1\n");
    assert!(empty.contains("empty weights file name"), "{empty}");
    let mut scratch = referencing_program();
    scratch.tensors[0].kind = TensorKind::Scratch;
    let errors = format!("{:?}", scratch.check(&HwConfig::default()).unwrap_err());
    assert!(
        errors.contains("scratch tensor references weights"),
        "{errors}"
    );
}

#[test]
fn hand_written_assembly_is_lenient_where_it_is_unambiguous() {
    let text = "; comment only\n\
                .config_hash 0x10 ; trailing comment\n\
                .tensor \"x y\" kind=input dtype=f32 shape=[] dram=4096\n\
                \tLD   stride=0x10 rows=2 src=@\"x y\"+8 row_bytes=16 dst=token[16]   \r\n\
                SIGNAL sem=1 engine=vec\n\
                WAIT engine=kvpe sem=1\n\
                HALT";
    let p = parse_asm(text).unwrap();
    assert_eq!(p.config_hash, 0x10);
    assert_eq!(
        p.instrs[0],
        Instr::Ld {
            dst: SramRef::token(16),
            src: DramAddr(4096 + 8),
            rows: 2,
            row_bytes: 16,
            stride: 16
        }
    );
    assert_eq!(p.instrs[1].engine(), Engine::Vec);
    assert_eq!(p.instrs[2].engine(), Engine::Kvpe);
}

fn asm_error(text: &str) -> String {
    parse_asm(text).unwrap_err().to_string()
}

#[test]
fn assembly_errors_carry_line_and_column() {
    let h = ".config_hash 0\n";
    assert_eq!(
        asm_error(&format!("{h}FOO x=1")),
        "2:1: unknown instruction 'FOO'"
    );
    assert_eq!(
        asm_error(&format!("{h}COPY dst=temp[0x0] src=temp[0x10]")),
        "2:1: COPY is missing field `bytes` (fields: dst src bytes)"
    );
    assert_eq!(
        asm_error(&format!(
            "{h}COPY dst=temp[0x0] src=temp[0x10] bytes=4 extra=1"
        )),
        "2:43: unknown field `extra` for COPY (fields: dst src bytes)"
    );
    assert_eq!(
        asm_error(&format!("{h}COPY dst=temp[0x0] src=dram[0x10] bytes=4")),
        "2:24: field `src`: expected SPACE[OFFSET] with SPACE one of token, weight, temp; found 'dram[0x10]'"
    );
    assert_eq!(
        asm_error(&format!("{h}SIGNAL engine=dma sem=70000")),
        "2:23: field `sem`: 70000 is out of range (at most 16 bits)"
    );
    assert_eq!(
        asm_error(&format!("{h}SIGNAL engine=dma engine=vec sem=1")),
        "2:19: duplicate field `engine`"
    );
    assert_eq!(
        asm_error(&format!(
            "{h}LD dst=token[0] src=@nope rows=1 row_bytes=1 stride=1"
        )),
        "2:21: field `src`: no tensor named 'nope' is declared before this line"
    );
    assert_eq!(
        asm_error(".tensor \"x kind=input"),
        "1:9: unterminated string"
    );
    assert_eq!(asm_error("HALT"), "1:1: missing `.config_hash` directive");
    assert_eq!(asm_error(".data 00"), "1:1: `.data` before any `.tensor`");
    assert_eq!(
        asm_error(&format!(
            "{h}.tensor \"t\" kind=const dtype=f32 shape=[1] dram=0\n.data 0g"
        )),
        "3:7: invalid hex digit"
    );
}

#[test]
fn check_names_the_instruction_and_the_config_entry() {
    let hw = HwConfig::default();
    let mut p = isa_common::program();
    p.instrs.insert(
        3,
        Instr::Copy {
            dst: SramRef::temp(0x6f00),
            src: SramRef::token(0),
            bytes: 0x200,
        },
    );
    p.instrs.insert(
        4,
        Instr::Wait {
            engine: Engine::Sads,
            sem: 40,
        },
    );
    let short = p.tensors[1].data.len() - 1;
    p.tensors[1].data.truncate(short);
    let errs = p.check(&hw).unwrap_err();
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "tensor #1 '/enc/layer.0/attn/\"q\" \\ w': const data has 11 bytes, the shape needs 12",
            "instr #3 (COPY): operand `dst` temp[0x6f00]+512 exceeds sram.temp_bytes (28672)",
            "instr #4 (WAIT): semaphore 40 out of range (control.semaphores = 32)",
        ]
    );
    assert_eq!(
        errs[1].loc,
        ProgramLoc::Instr(3, sofa_ir::isa::Opcode::Copy)
    );
}

#[test]
fn check_enforces_stream_and_engine_rules() {
    let hw = HwConfig::default();
    let p = Program {
        config_hash: hw.hash(),
        tensors: vec![],
        host_ops: vec![],
        instrs: vec![
            Instr::Halt {},
            Instr::Sads {
                idx: SramRef::temp(0),
                top: SramRef::temp(0x1000),
                src: SramRef::temp(0x2000),
                rows: 129,
                n: 4,
                sel: 5,
                base: 0,
                radius: -1.0,
                dt: DType::Lz4,
            },
            Instr::Wait {
                engine: Engine::Dma,
                sem: 2,
            },
        ],
    };
    let text: Vec<String> = p
        .check(&hw)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        vec![
            "program: HALT must be the last instruction and appear once (found at [0] of 3)",
            "program: instr #2 waits on semaphore 2, which nothing signals (certain deadlock)",
            "instr #1 (SADS): `rows` 129 exceeds block.query_rows (128)",
            "instr #1 (SADS): `sel` 5 exceeds the tile width `n` 4",
            "instr #1 (SADS): `radius` -1 is negative",
            "instr #1 (SADS): `dt` lz4 is not a DLZS/SADS data type",
        ]
    );
}

#[test]
fn every_instruction_has_a_cycle_count_on_the_default_hardware() {
    let hw = HwConfig::default();
    for i in isa_common::instrs() {
        let c = i.cycles(&hw).unwrap_or_else(|e| panic!("{i:?}: {e}"));
        // The host's time is not chip time.
        let host = matches!(i, Instr::Host { .. });
        assert_eq!(c == 0, host, "{i:?}");
        assert!(!i.formula().is_empty());
    }
}

/// `y = floor(x)` on the host: the smallest program with a host-op table.
fn floor_program() -> Program {
    let t = |name: &str, kind, dram| sofa_ir::isa::TensorDecl {
        name: name.into(),
        kind,
        dtype: DType::F32,
        shape: vec![2],
        dram,
        data: Default::default(),
        weights: None,
    };
    Program {
        config_hash: HwConfig::default().hash(),
        tensors: vec![
            t("x", TensorKind::Input, 0),
            t("y", TensorKind::Output, 0x40),
        ],
        host_ops: vec![sofa_ir::isa::HostOp {
            op: "onnx.Floor".into(),
            name: "F".into(),
            opset: 17,
            attrs: Default::default(),
            operands: vec![Some(sofa_ir::isa::HostArg {
                tensor: 0,
                shape: vec![2],
            })],
            results: vec![sofa_ir::isa::HostArg {
                tensor: 1,
                shape: vec![2],
            }],
        }],
        instrs: vec![Instr::Host { op: 0 }, Instr::Halt {}],
    }
}

/// Offset of the host-op table of [`floor_program`]'s binary.
const FLOOR_HOST_TABLE: usize = 28 + 2 * (2 + 1 + 4 + 8 + 8 + 8);

#[test]
fn the_host_op_table_layout_is_pinned() {
    let p = floor_program();
    assert_eq!(p.check(&HwConfig::default()), Ok(()));
    let bytes = p.encode();
    assert_eq!(&bytes[4..6], &[2, 0], "version 2");
    assert_eq!(&bytes[24..28], &[1, 0, 0, 0], "one host op");
    let mut table = Vec::new();
    table.extend_from_slice(&[10, 0]);
    table.extend_from_slice(b"onnx.Floor");
    table.extend_from_slice(&[1, 0, b'F', 17, 0]); // name, opset
    table.extend_from_slice(&[2, 0, 0, 0, b'{', b'}']); // attributes
    table.extend_from_slice(&[1, 1]); // one operand, one result
    table.extend_from_slice(&[0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0]); // x as [2]
    table.extend_from_slice(&[1, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0]); // y as [2]
    assert_eq!(
        &bytes[FLOOR_HOST_TABLE..FLOOR_HOST_TABLE + table.len()],
        &table[..]
    );
    assert_eq!(
        bytes.len(),
        FLOOR_HOST_TABLE + table.len() + 2 * INSTR_BYTES
    );
    assert_eq!(bytes[FLOOR_HOST_TABLE + table.len()], 0xa0, "HOST");
    let text = print_asm(&p);
    assert!(
        text.contains(".version 2\n.config_hash 0x")
            && text.contains(
                ".host \"onnx.Floor\" name=\"F\" opset=17 attrs=\"{}\"\n\
             .operand \"x\" shape=[2]\n\
             .result \"y\" shape=[2]\n\nHOST op=0 ; onnx.Floor \"F\"\nHALT\n"
            ),
        "{text}"
    );
    assert_eq!(parse_asm(&text).unwrap().encode(), bytes);
    // Without host ops the same program is a version-1 file.
    let mut chip = p.clone();
    chip.host_ops.clear();
    chip.instrs.remove(0);
    assert_eq!(&chip.encode()[4..6], &[1, 0]);
}

fn decode_error(bytes: &[u8]) -> String {
    Program::decode(bytes).unwrap_err().to_string()
}

#[test]
fn malformed_host_tables_are_rejected_at_their_byte_offset() {
    let good = floor_program().encode();
    let h = FLOOR_HOST_TABLE;
    let with = |at: usize, patch: &[u8]| {
        let mut b = good.clone();
        b[at..at + patch.len()].copy_from_slice(patch);
        b
    };
    // Attribute text starts after op (12), name (3), opset (2) and its length (4).
    let attrs = h + 12 + 3 + 2 + 4;
    assert_eq!(
        decode_error(&with(24, &[0, 0, 0, 0])),
        "byte offset 24: a version 2 file must have host ops (without them it is written as \
         version 1)"
    );
    assert_eq!(
        decode_error(&with(attrs, b"{ ")),
        format!(
            "byte offset {attrs}: host op #0 (onnx.Floor): attributes: 1:3: expected an \
             attribute name, found end of file"
        )
    );
    assert_eq!(
        decode_error(&with(attrs, &[0xff])),
        format!("byte offset {attrs}: host op #0 (onnx.Floor): attributes are not UTF-8")
    );
    assert_eq!(
        decode_error(&with(h + 2, &[0xc3])),
        format!("byte offset {}: host op #0 op name is not UTF-8", h + 2)
    );
    let operand = attrs + 2 + 2;
    assert_eq!(
        decode_error(&with(operand, &[9, 0, 0, 0])),
        format!(
            "byte offset {operand}: host op #0 (onnx.Floor) operand 0: tensor index 9 is not \
             below the tensor count 2"
        )
    );
    let result = operand + 13;
    assert_eq!(
        decode_error(&with(result, &[0xff, 0xff, 0xff, 0xff, 0])),
        format!(
            "byte offset {result}: host op #0 (onnx.Floor) result 0: a result cannot be absent"
        )
    );
    assert_eq!(
        decode_error(&with(operand, &[0xff, 0xff, 0xff, 0xff, 1])),
        format!(
            "byte offset {}: host op #0 (onnx.Floor) operand 0: an absent operand has rank 0",
            operand + 4
        )
    );
    assert!(decode_error(&good[..h + 20]).starts_with(&format!("byte offset {}", h + 17)));
    // Non-canonical attribute text (`{ }`) has another encoding: rejected.
    let mut spaced = good[..attrs - 4].to_vec();
    spaced.extend_from_slice(&[3, 0, 0, 0, b'{', b' ', b'}']);
    spaced.extend_from_slice(&good[attrs + 2..]);
    assert_eq!(
        decode_error(&spaced),
        format!(
            "byte offset {attrs}: host op #0 (onnx.Floor): attributes are not in canonical form \
             (expected `{{}}`)"
        )
    );
}

#[test]
fn host_op_assembly_errors_are_located() {
    let h = ".config_hash 0\n.tensor \"x\" kind=input dtype=f32 shape=[2] dram=0\n";
    assert_eq!(
        asm_error(&format!("{h}.operand \"x\" shape=[2]")),
        "3:1: `.operand` before any `.host`"
    );
    assert_eq!(
        asm_error(&format!(
            "{h}.host \"onnx.Floor\" name=\"F\" opset=17 attrs=\"{{a=1}}\""
        )),
        "3:44: field `attrs`: attributes are not in canonical form (expected `{a = 1 : i64}`)"
    );
    assert_eq!(
        asm_error(&format!(
            "{h}.host \"onnx.Floor\" name=\"F\" opset=17 attrs=\"{{}}\"\n.result \"z\" shape=[2]"
        )),
        "4:9: no tensor named 'z' is declared before this line"
    );
    assert_eq!(
        asm_error(&format!(
            ".version 1\n{h}.host \"onnx.Floor\" name=\"F\" opset=17 attrs=\"{{}}\""
        )),
        "4:1: host ops need `.version 2`"
    );
    assert_eq!(
        asm_error(&format!(
            "{h}.host \"onnx.Floor\" name=\"F\" opset=17 attrs=\"{{}}\"\n.data 00"
        )),
        "4:1: `.data` must follow its `.tensor` (or another `.data`)"
    );
}

#[test]
fn check_names_the_host_op() {
    let hw = HwConfig::default();
    let mut p = floor_program();
    p.host_ops[0].op = "onnx.Hardmax".into();
    p.host_ops[0].results[0].tensor = 0;
    p.host_ops[0].operands[0] = Some(sofa_ir::isa::HostArg {
        tensor: 1,
        shape: vec![3],
    });
    p.instrs.insert(0, Instr::Host { op: 4 });
    let text: Vec<String> = p
        .check(&hw)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        vec![
            "instr #0 (HOST): host op 4 is not in the host-op table (1 entries)",
            "host op #0 (onnx.Hardmax): 'onnx.Hardmax' has no host kernel",
            "host op #0 (onnx.Hardmax): operand 0: shape [3] does not hold the 2 elements of \
             tensor 'y' [2]",
            "host op #0 (onnx.Hardmax): result 0 writes input tensor 'x'",
        ]
    );
    let mut twice = floor_program();
    twice.instrs.insert(0, Instr::Host { op: 0 });
    assert_eq!(
        twice.check(&hw).unwrap_err()[0].to_string(),
        "host op #0 (onnx.Floor): run by 2 HOST instructions, expected exactly 1"
    );
}

#[test]
fn check_enforces_the_integer_types_of_quantized_compute() {
    let hw = HwConfig::default();
    let p = Program {
        config_hash: hw.hash(),
        tensors: vec![],
        host_ops: vec![],
        instrs: vec![
            Instr::GemmQ {
                dst: SramRef::temp(0),
                a: SramRef::token(0),
                b: SramRef::weight(0),
                azp: None,
                bzp: None,
                m: 1,
                n: 0,
                k: 1,
                trans_b: false,
                acc: false,
                at: DType::F32,
                bt: DType::I32,
            },
            Instr::VecQuant {
                dst: SramRef::temp(0),
                a: SramRef::token(0),
                scale: SramRef::weight(0),
                zp: None,
                rows: 1,
                cols: 1,
                bcast: Bcast::Scalar,
                from: DType::I8,
                to: DType::F32,
            },
            Instr::VecDequant {
                dst: SramRef::temp(0),
                a: SramRef::token(0),
                scale: SramRef::weight(0),
                zp: None,
                rows: 1,
                cols: 1,
                bcast: Bcast::Scalar,
                from: DType::F16,
                to: DType::I8,
            },
            Instr::VecQParam {
                scale: SramRef::temp(0),
                zp: SramRef::temp(0x40),
                src: SramRef::temp(0x80),
                qt: DType::I16,
            },
            Instr::Halt {},
        ],
    };
    let text: Vec<String> = p
        .check(&hw)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        vec![
            "instr #0 (GEMM.Q): `n` must be > 0",
            "instr #0 (GEMM.Q): `at` must be u8 or i8, found f32",
            "instr #0 (GEMM.Q): `bt` must be u8 or i8, found i32",
            "instr #1 (VEC.QUANT): `from` must be a float type, found i8",
            "instr #1 (VEC.QUANT): `to` must be u8 or i8, found f32",
            "instr #2 (VEC.DEQUANT): `from` must be u8, i8 or i32, found f16",
            "instr #2 (VEC.DEQUANT): `to` must be a float type, found i8",
            "instr #3 (VEC.QPARAM): `qt` must be u8 or i8, found i16",
        ]
    );
}

fn sufa_bias(rows: u16, sel: u16, n: u32, base: u32, dt: DType) -> Instr {
    Instr::SufaBias {
        bias: SramRef::temp(0x40),
        idx: SramRef::temp(0x1000),
        rows,
        sel,
        n,
        base,
        dt,
    }
}

#[test]
fn sufa_bias_encodes_in_its_opcode_byte_and_round_trips_as_text() {
    let i = sufa_bias(16, 4, 20, 7, DType::F32);
    let p = Program {
        config_hash: 0,
        tensors: vec![],
        host_ops: vec![],
        instrs: vec![i.clone(), Instr::Halt {}],
    };
    let bytes = p.encode();
    let at = bytes.len() - 2 * INSTR_BYTES;
    let mut want = vec![0x33];
    want.extend_from_slice(&(0x8000_0040u32).to_le_bytes()); // temp[0x40]
    want.extend_from_slice(&(0x8000_1000u32).to_le_bytes()); // temp[0x1000]
    want.extend_from_slice(&[16, 0, 4, 0, 20, 0, 0, 0, 7, 0, 0, 0]);
    want.push(DType::F32.code());
    want.resize(INSTR_BYTES, 0);
    assert_eq!(&bytes[at..at + INSTR_BYTES], want.as_slice());
    assert_eq!(Program::decode(&bytes), Ok(p.clone()));
    let text = print_asm(&p);
    assert!(
        text.contains(
            "SUFA.BIAS bias=temp[0x40] idx=temp[0x1000] rows=16 sel=4 n=20 base=7 dt=f32"
        ),
        "{text}"
    );
    assert_eq!(parse_asm(&text), Ok(p));
}

#[test]
fn check_rejects_bad_sufa_bias_fields_and_dangling_prefixes() {
    let hw = HwConfig::default();
    let tile = |rows, sel| Instr::SufaT {
        dst: SramRef::token(0),
        q: SramRef::token(0x4000),
        k: SramRef::token(0x8000),
        v: SramRef::token(0xc000),
        slot: SramRef::temp(0x2000),
        rows,
        sel,
        d: 8,
        slots: 8,
        mode: sofa_ir::isa::SufaMode::Fa2,
        acc: false,
        dt: DType::F32,
    };
    let p = Program {
        config_hash: hw.hash(),
        tensors: vec![],
        host_ops: vec![],
        instrs: vec![
            sufa_bias(129, 9, 8, u32::MAX - 4, DType::I32),
            tile(129, 9),
            sufa_bias(4, 4, 8, 0, DType::F32),
            Instr::SufaSync {
                dst: SramRef::token(0),
                part: SramRef::token(0x1000),
                rows: 4,
                tiles: 1,
                d: 8,
                dt: DType::F32,
            },
            sufa_bias(4, 4, 8, 0, DType::F32),
            tile(4, 2),
            sufa_bias(4, 4, 8, 0, DType::F32),
            Instr::Halt {},
        ],
    };
    let text: Vec<String> = p
        .check(&hw)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        vec![
            "instr #2 (SUFA.BIAS): the SUFA.BIAS at instr #2 is not followed by a SUFA.T on the \
             sufa queue (next: SUFA.SYNC at instr #3)",
            "instr #4 (SUFA.BIAS): the SUFA.T at instr #5 attends 4×2 entries, but the SUFA.BIAS \
             at instr #4 gathered 4×4",
            "instr #6 (SUFA.BIAS): the SUFA.BIAS at instr #6 is not followed by a SUFA.T on the \
             sufa queue (the stream ends)",
            "instr #0 (SUFA.BIAS): `rows` 129 exceeds block.query_rows (128)",
            "instr #0 (SUFA.BIAS): `sel` 9 exceeds the bias width `n` 8",
            "instr #0 (SUFA.BIAS): `base` 4294967291 + `n` 8 leaves the u32 key indices",
            "instr #0 (SUFA.BIAS): `dt` must be a float type, found i32",
            "instr #1 (SUFA.T): `rows` 129 exceeds block.query_rows (128)",
        ]
    );
}
