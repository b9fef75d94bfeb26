//! Tests of the sofa dialect: a small kernel verifies and round-trips in the generic syntax;
//! each structural rule is reported by name.

use super::*;
use crate::dialect::DialectRegistry;
use crate::module::{Block, OpSpec};
use crate::text::{parse_module, print_module};
use crate::types::{ElemType, TensorType, Type};
use crate::verify::verify;

fn t(dims: &[u64]) -> Type {
    Type::Tensor(TensorType::static_shape(dims, ElemType::F32))
}

fn s(v: &str) -> Attribute {
    Attribute::string(v)
}

fn i(v: i64) -> Attribute {
    Attribute::i64(v)
}

/// Append an op with `attrs` (and one block per region) to `block`; returns the op and its
/// first region's block, if any.
fn add(
    m: &mut Module,
    block: Block,
    name: &str,
    attrs: &[(&str, Attribute)],
    regions: usize,
) -> (Op, Option<Block>) {
    let mut spec = OpSpec::new(name).regions(regions);
    for (k, a) in attrs {
        spec = spec.attr(*k, a.clone());
    }
    let op = m.build_at_end(block, spec);
    let region = m.op(op).regions.first().copied();
    let inner = region.map(|r| m.add_block(r, vec![]));
    (op, inner)
}

fn buffer(m: &mut Module, b: Block, name: &str, space: &str, offset: i64, bytes: i64) -> Op {
    let attrs = [
        ("name", s(name)),
        ("space", s(space)),
        ("offset", i(offset)),
        ("bytes", i(bytes)),
        ("ring", i(2)),
    ];
    add(m, b, BUFFER, &attrs, 0).0
}

fn looped(m: &mut Module, b: Block, dim: &str, upper: i64, step: i64) -> (Op, Block) {
    let attrs = [
        ("dim", s(dim)),
        ("lower", i(0)),
        ("upper", i(upper)),
        ("step", i(step)),
    ];
    let (op, inner) = add(m, b, FOR, &attrs, 1);
    (op, inner.expect("a for has one region"))
}

/// Handles into [`kernel`]'s module for the tests that break it.
struct Kernel {
    m: Module,
    kernel: Op,
    body: Block,
    k_loop: Op,
    load: Op,
}

/// `@main(q, k, v)` whose body is one kernel: q and k_tile buffers, a head loop and a k_tile
/// loop loading and predicting.
fn kernel() -> Kernel {
    let mut m = Module::new();
    let (q, kv) = (t(&[1, 2, 8, 4]), t(&[1, 2, 16, 4]));
    let (_, entry) = m.add_func("main", vec![q.clone(), kv.clone(), kv], vec![]);
    let args = m.blocks[entry].args.clone();
    let mut spec = OpSpec::new(KERNEL).operands(args).results([q]).regions(1);
    let attrs = MhaAttrs {
        heads: 2,
        kv_heads: 2,
        head_dim: 4,
        scale: 0.5,
        causal: true,
        window: None,
    };
    for (k, a) in attrs.to_attrs() {
        spec = spec.attr(k, a);
    }
    spec = spec.attr("sofa.from", s(MHA)).attr("sofa.tc", i(8));
    let kernel = m.build_at_end(entry, spec);
    let body = m.add_block(m.op(kernel).regions[0], vec![]);
    buffer(&mut m, body, "q", "token", 0, 64);
    buffer(&mut m, body, "k_tile", "token", 128, 64);
    buffer(&mut m, body, "a_hat", "temp", 0, 256);
    let (_, heads) = looped(&mut m, body, "head", 2, 1);
    let load_attrs = [
        ("dst", s("q")),
        ("from", s("q")),
        ("rows", i(8)),
        ("bytes", i(16)),
    ];
    add(&mut m, heads, DMA_LOAD, &load_attrs, 0);
    let (k_loop, tiles) = looped(&mut m, heads, "k_tile", 16, 8);
    m.op_mut(k_loop)
        .attrs
        .insert("causal".into(), Attribute::Bool(true));
    let k_attrs = [
        ("dst", s("k_tile")),
        ("from", s("k")),
        ("rows", i(8)),
        ("bytes", i(16)),
    ];
    let (load, _) = add(&mut m, tiles, DMA_LOAD, &k_attrs, 0);
    let predict = [
        ("dst", s("a_hat")),
        ("q", s("q")),
        ("khat", s("k_tile")),
        ("engine", s("dlzs")),
    ];
    add(&mut m, tiles, PREDICT_SCORES, &predict, 0);
    Kernel {
        m,
        kernel,
        body,
        k_loop,
        load,
    }
}

fn errors(m: &Module) -> Vec<String> {
    match verify(m, &DialectRegistry::with_core_dialects()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn assert_reports(m: &Module, want: &str) {
    let e = errors(m);
    assert!(e.iter().any(|s| s.contains(want)), "{want}: {e:?}");
}

#[test]
fn kernel_verifies_and_round_trips() {
    let k = kernel();
    assert_eq!(errors(&k.m), Vec::<String>::new());
    let text = print_module(&k.m);
    assert!(text.contains("\"sofa.kernel\""), "{text}");
    assert!(text.contains("causal = true, dim = \"k_tile\""), "{text}");
    let back = parse_module(&text).unwrap();
    assert_eq!(print_module(&back), text);
    assert_eq!(errors(&back), Vec::<String>::new());
    assert_eq!(back.all_ops().len(), k.m.all_ops().len());
}

#[test]
fn every_op_has_a_summary_and_steps_declare_their_buffer_attrs() {
    for def in SOFA.ops {
        assert!(!def.summary.is_empty(), "{}", def.name);
        for key in buffer_attrs(def.name) {
            assert!(def.attrs.iter().any(|a| a.name == *key), "{}", def.name);
        }
    }
    assert_eq!(buffer_attrs(SUFA_TILE).len(), 5);
    assert!(buffer_attrs(FOR).is_empty());
}

#[test]
fn undeclared_buffers_and_bad_enums_are_named() {
    let mut k = kernel();
    k.m.op_mut(k.load).attrs.insert("dst".into(), s("nowhere"));
    k.m.op_mut(k.load).attrs.insert("from".into(), s("disk"));
    assert_reports(&k.m, "refers to undeclared buffer 'nowhere' (dst)");
    assert_reports(&k.m, "from = \"disk\" is not one of q, k, v");
}

#[test]
fn loop_bounds_are_checked() {
    let mut k = kernel();
    k.m.op_mut(k.k_loop).attrs.insert("step".into(), i(0));
    k.m.op_mut(k.k_loop).attrs.insert("upper".into(), i(0));
    assert_reports(&k.m, "step must be positive, got 0");
    assert_reports(&k.m, "lower (0) must be below upper (0)");
    let mut k = kernel();
    k.m.op_mut(k.k_loop).attrs.insert("dim".into(), s("head"));
    assert_reports(&k.m, "causal = true is only meaningful on a k_tile loop");
}

#[test]
fn overlapping_duplicate_and_late_buffers_are_reported() {
    let mut k = kernel();
    // k_tile spans [128, 256) of token SRAM; this one starts inside it.
    buffer(&mut k.m, k.body, "late", "token", 200, 8);
    assert_reports(
        &k.m,
        "buffer 'late' [200, 216) overlaps buffer 'k_tile' in token SRAM",
    );
    assert_reports(
        &k.m,
        "buffer 'late' must come before the kernel's other ops",
    );
    let mut k = kernel();
    let dup = buffer(&mut k.m, k.body, "q", "weight", 0, 8);
    let first = k.m.blocks[k.body].ops[0];
    k.m.detach(dup);
    k.m.insert_before(first, dup);
    assert_reports(&k.m, "buffer 'q' is declared twice");
    // The same range in another space does not overlap.
    assert!(!errors(&k.m).iter().any(|e| e.contains("overlaps")));
}

#[test]
fn buffers_and_steps_outside_a_kernel_are_rejected() {
    let mut k = kernel();
    let func_body = k.m.blocks[k.m.op(k.kernel).parent.unwrap()].ops.clone();
    assert_eq!(func_body, vec![k.kernel]);
    let outer = k.m.op(k.kernel).parent.unwrap();
    buffer(&mut k.m, outer, "stray", "temp", 0, 8);
    let (_, inner) = looped(&mut k.m, outer, "batch", 1, 1);
    add(
        &mut k.m,
        inner,
        SUFA_SYNC,
        &[("dst", s("a")), ("part", s("b"))],
        0,
    );
    assert_reports(&k.m, "'sofa.buffer' op #");
    assert_reports(&k.m, "must be directly in a sofa.kernel body");
    assert_reports(&k.m, "'sofa.sufa_sync' op #");
    assert_reports(&k.m, "must be inside a sofa.kernel");
}

#[test]
fn sparse_kernels_check_the_sparse_attributes() {
    let mut k = kernel();
    k.m.op_mut(k.kernel)
        .attrs
        .insert("sofa.from".into(), s(SPARSE_MHA));
    assert_reports(&k.m, "keep_ratio must be a float");
    k.m.op_mut(k.kernel)
        .attrs
        .insert("sofa.from".into(), s("onnx.MatMul"));
    assert_reports(
        &k.m,
        "sofa.from = \"onnx.MatMul\" is not one of attn.mha, attn.sparse_mha",
    );
}
