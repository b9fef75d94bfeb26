//! Unit tests of `dce`, `cse` and `canonicalize` against the test dialects, built with the module
//! API so that each test states exactly the IR it is about.

use sofa_ir::attr::{Attribute, DenseAttr};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{Pass, PassContext, PassOutcome, Statistics};
use sofa_ir::text::print_module;
use sofa_ir::types::{ElemType, TensorType};
use sofa_ir::verify::verify;
use sofa_ir::{Block, Module, Op, OpSpec, Type, Value};

use super::canonicalize::Canonicalize;
use super::cse::Cse;
use super::dce::Dce;
use super::test_dialect;

fn t2() -> Type {
    Type::Tensor(TensorType::static_shape(&[2], ElemType::F32))
}

/// A module with `func @main(%x: tensor<2xf32>)`; returns (module, entry block, %x).
fn func() -> (Module, Block, Value) {
    let mut m = Module::new();
    let (_, entry) = m.add_func("main", vec![t2()], vec![]);
    let x = m.blocks[entry].args[0];
    (m, entry, x)
}

fn constant(m: &mut Module, block: Block, values: &[f32]) -> Value {
    let d = DenseAttr::from_f32(&[values.len() as u64], values).unwrap();
    let op = m.build_at_end(
        block,
        OpSpec::new("test.constant")
            .attr("value", Attribute::Dense(d))
            .results([t2()]),
    );
    m.result(op, 0)
}

fn build(m: &mut Module, block: Block, name: &str, operands: &[Value]) -> Value {
    let op = m.build_at_end(
        block,
        OpSpec::new(name)
            .operands(operands.iter().copied())
            .results([t2()]),
    );
    m.result(op, 0)
}

fn sink(m: &mut Module, block: Block, operands: &[Value]) -> Op {
    m.build_at_end(
        block,
        OpSpec::new("test.sink").operands(operands.iter().copied()),
    )
}

/// `test.scope { <body> test.yield }` appended to `block`; returns the body block.
fn scope(m: &mut Module, block: Block, name: &str) -> Block {
    let results = if name == "test.pure_scope" {
        vec![t2()]
    } else {
        vec![]
    };
    let op = m.build_at_end(block, OpSpec::new(name).results(results).regions(1));
    m.add_block(m.op(op).regions[0], vec![])
}

fn finish(m: &mut Module, entry: Block) {
    m.build_at_end(entry, OpSpec::new("func.return"));
}

/// Run `pass`, check the result verifies, return (outcome, statistics).
fn run(pass: &mut dyn Pass, m: &mut Module) -> (PassOutcome, Statistics) {
    let dialects: DialectRegistry = test_dialect::registry();
    verify(m, &dialects).expect("test input verifies");
    let mut cx = PassContext::new(&dialects);
    let outcome = pass.run(m, &mut cx).expect("pass succeeds");
    verify(m, &dialects).unwrap_or_else(|e| panic!("output does not verify:\n{e}"));
    (outcome, cx.stats)
}

fn names(m: &Module, block: Block) -> Vec<&str> {
    m.blocks[block]
        .ops
        .iter()
        .map(|&o| m.op(o).name.as_str())
        .collect()
}

fn f32_values(m: &Module, v: Value) -> Vec<f64> {
    let op = m.defining_op(v).unwrap();
    match m.op(op).attrs.get("value") {
        Some(Attribute::Dense(d)) => (0..d.len()).map(|i| d.get_f64(i)).collect(),
        other => panic!("not a dense constant: {other:?}"),
    }
}

// ---- dce ------------------------------------------------------------------------------------

#[test]
fn dce_erases_dead_chains_and_keeps_side_effects() {
    let (mut m, entry, x) = func();
    let a = build(&mut m, entry, "test.neg", &[x]);
    build(&mut m, entry, "test.neg", &[a]); // dead, and makes `a` dead
    let c = build(&mut m, entry, "test.neg", &[x]);
    build(&mut m, entry, "test.effect", &[]); // unused but not Pure
    sink(&mut m, entry, &[c]);
    finish(&mut m, entry);
    let (outcome, stats) = run(&mut Dce, &mut m);
    assert_eq!(outcome, PassOutcome::Changed);
    assert_eq!(stats.get("ops-erased"), 2);
    assert_eq!(
        names(&m, entry),
        ["test.neg", "test.effect", "test.sink", "func.return"]
    );
    let (outcome, stats) = run(&mut Dce, &mut m);
    assert_eq!(
        (outcome, stats.get("ops-erased")),
        (PassOutcome::Unchanged, 0)
    );
}

#[test]
fn dce_walks_nested_regions_and_erases_pure_region_ops_whole() {
    let (mut m, entry, x) = func();
    let body = scope(&mut m, entry, "test.scope");
    build(&mut m, body, "test.neg", &[x]); // dead inside a kept region
    m.build_at_end(body, OpSpec::new("test.yield"));
    let pure_body = scope(&mut m, entry, "test.pure_scope"); // result unused: dead
    let y = build(&mut m, pure_body, "test.neg", &[x]);
    m.build_at_end(pure_body, OpSpec::new("test.yield").operands([y]));
    finish(&mut m, entry);
    let (_, stats) = run(&mut Dce, &mut m);
    // neg in test.scope (1) + test.pure_scope with its neg and yield (3)
    assert_eq!(stats.get("ops-erased"), 4);
    assert_eq!(names(&m, entry), ["test.scope", "func.return"]);
    assert_eq!(names(&m, body), ["test.yield"]);
}

#[test]
fn dce_leaves_unregistered_ops_alone() {
    let (mut m, entry, x) = func();
    build(&mut m, entry, "test.neg", &[x]);
    let dialects = test_dialect::registry();
    let mut cx = PassContext::new(&dialects);
    m.build_at_end(entry, OpSpec::new("mystery.op").results([t2()]));
    finish(&mut m, entry);
    Dce.run(&mut m, &mut cx).unwrap();
    assert_eq!(names(&m, entry), ["mystery.op", "func.return"]);
}

// ---- cse ------------------------------------------------------------------------------------

#[test]
fn cse_merges_commutative_twins_but_not_swapped_subtractions() {
    let (mut m, entry, x) = func();
    let y = build(&mut m, entry, "test.neg", &[x]);
    let a1 = build(&mut m, entry, "test.add", &[x, y]);
    let a2 = build(&mut m, entry, "test.add", &[y, x]);
    let s1 = build(&mut m, entry, "test.sub", &[x, y]);
    let s2 = build(&mut m, entry, "test.sub", &[y, x]);
    let k = sink(&mut m, entry, &[a1, a2, s1, s2]);
    finish(&mut m, entry);
    let (outcome, stats) = run(&mut Cse::default(), &mut m);
    assert_eq!(
        (outcome, stats.get("ops-merged")),
        (PassOutcome::Changed, 1)
    );
    assert_eq!(m.op(k).operands, vec![a1, a1, s1, s2]);
    assert_eq!(
        names(&m, entry),
        [
            "test.neg",
            "test.add",
            "test.sub",
            "test.sub",
            "test.sink",
            "func.return"
        ]
    );
}

#[test]
fn cse_merges_equal_constants_by_bits_and_respects_attributes() {
    let (mut m, entry, x) = func();
    let c1 = constant(&mut m, entry, &[1.0, 2.0]);
    let c2 = constant(&mut m, entry, &[1.0, 2.0]);
    let z = constant(&mut m, entry, &[0.0, 0.0]);
    let nz = constant(&mut m, entry, &[-0.0, 0.0]);
    let n1 = build(&mut m, entry, "test.neg", &[x]);
    let tagged = m.build_at_end(
        entry,
        OpSpec::new("test.neg")
            .operands([x])
            .attr("tag", Attribute::i64(1))
            .results([t2()]),
    );
    let n2 = m.result(tagged, 0);
    let e1 = build(&mut m, entry, "test.effect", &[]);
    let e2 = build(&mut m, entry, "test.effect", &[]);
    let k = sink(&mut m, entry, &[c1, c2, z, nz, n1, n2, e1, e2]);
    finish(&mut m, entry);
    let (_, stats) = run(&mut Cse::default(), &mut m);
    assert_eq!(stats.get("ops-merged"), 1);
    assert_eq!(m.op(k).operands, vec![c1, c1, z, nz, n1, n2, e1, e2]);
}

#[test]
fn cse_crosses_into_nested_regions_only_when_aggressive() {
    let build_ir = || {
        let (mut m, entry, x) = func();
        let outer = build(&mut m, entry, "test.neg", &[x]);
        let body = scope(&mut m, entry, "test.scope");
        let inner = build(&mut m, body, "test.neg", &[x]);
        let k = sink(&mut m, body, &[inner]);
        m.build_at_end(body, OpSpec::new("test.yield"));
        sink(&mut m, entry, &[outer]);
        finish(&mut m, entry);
        (m, body, outer, k)
    };
    let (mut m, body, _, _) = build_ir();
    let (outcome, _) = run(&mut Cse::default(), &mut m);
    assert_eq!(outcome, PassOutcome::Unchanged);
    assert_eq!(names(&m, body), ["test.neg", "test.sink", "test.yield"]);

    let (mut m, body, outer, k) = build_ir();
    let (_, stats) = run(&mut Cse { aggressive: true }, &mut m);
    assert_eq!(stats.get("ops-merged"), 1);
    assert_eq!(names(&m, body), ["test.sink", "test.yield"]);
    assert_eq!(m.op(k).operands, vec![outer]);
}

#[test]
fn aggressive_cse_never_crosses_functions() {
    let mut m = Module::new();
    let mut sinks = Vec::new();
    for name in ["f", "g"] {
        let (_, entry) = m.add_func(name, vec![], vec![]);
        let c = constant(&mut m, entry, &[3.0, 4.0]);
        sinks.push((sink(&mut m, entry, &[c]), c));
        finish(&mut m, entry);
    }
    let (outcome, _) = run(&mut Cse { aggressive: true }, &mut m);
    assert_eq!(outcome, PassOutcome::Unchanged);
    for (k, c) in sinks {
        assert_eq!(m.op(k).operands, vec![c]);
    }
}

// ---- canonicalize ---------------------------------------------------------------------------

#[test]
fn canonicalize_folds_chains_and_cleans_up() {
    let (mut m, entry, x) = func();
    let c1 = constant(&mut m, entry, &[1.0, 2.0]);
    let c2 = constant(&mut m, entry, &[3.0, 4.0]);
    let a = build(&mut m, entry, "test.add", &[c1, c2]);
    let n = build(&mut m, entry, "test.neg", &[a]);
    let live = build(&mut m, entry, "test.sub", &[x, c1]); // x is not constant: stays
    let k = sink(&mut m, entry, &[n, live]);
    finish(&mut m, entry);
    let (outcome, stats) = run(&mut Canonicalize::default(), &mut m);
    assert_eq!(outcome, PassOutcome::Changed);
    assert_eq!(stats.get("ops-folded"), 2);
    // neg, add, the constant folded from add (only neg used it), c2 (c1 still feeds the sub)
    assert_eq!(stats.get("ops-erased"), 4);
    assert_eq!(stats.get("iterations"), 2);
    assert_eq!(stats.get("converged"), 1);
    assert_eq!(f32_values(&m, m.op(k).operands[0]), vec![-4.0, -6.0]);
    assert_eq!(
        names(&m, entry),
        [
            "test.constant",
            "test.constant",
            "test.sub",
            "test.sink",
            "func.return"
        ]
    );
}

#[test]
fn canonicalize_merges_folded_results_that_are_equal() {
    let (mut m, entry, _) = func();
    let c1 = constant(&mut m, entry, &[1.0, 1.0]);
    let c2 = constant(&mut m, entry, &[2.0, 2.0]);
    let a = build(&mut m, entry, "test.add", &[c1, c1]); // [2, 2] == c2 after folding
    let k = sink(&mut m, entry, &[a, c2]);
    finish(&mut m, entry);
    let (_, stats) = run(&mut Canonicalize::default(), &mut m);
    assert_eq!(stats.get("ops-merged"), 1);
    assert_eq!(m.op(k).operands[0], m.op(k).operands[1]);
}

#[test]
fn canonicalize_skips_dialects_without_a_constant_op() {
    let (mut m, entry, _) = func();
    let c = constant(&mut m, entry, &[1.0, 2.0]);
    let t = build(&mut m, entry, "other.twice", &[c]);
    sink(&mut m, entry, &[t]);
    finish(&mut m, entry);
    let (outcome, stats) = run(&mut Canonicalize::default(), &mut m);
    assert_eq!(
        (outcome, stats.get("ops-folded")),
        (PassOutcome::Unchanged, 0)
    );
    assert_eq!(stats.get("iterations"), 1);
}

#[test]
fn canonicalize_stops_at_max_iterations() {
    let (mut m, entry, _) = func();
    let c = constant(&mut m, entry, &[1.0, 2.0]);
    let n = build(&mut m, entry, "test.neg", &[c]);
    sink(&mut m, entry, &[n]);
    finish(&mut m, entry);
    let mut pass = Canonicalize { max_iterations: 1 };
    let (outcome, stats) = run(&mut pass, &mut m);
    assert_eq!(outcome, PassOutcome::Changed);
    assert_eq!((stats.get("iterations"), stats.get("converged")), (1, 0));
}

#[test]
fn canonicalize_reports_a_fold_hook_with_the_wrong_arity() {
    let (mut m, entry, _) = func();
    let c = constant(&mut m, entry, &[1.0, 2.0]);
    let b = build(&mut m, entry, "test.bad_fold", &[c]);
    sink(&mut m, entry, &[b]);
    finish(&mut m, entry);
    let dialects = test_dialect::registry();
    let mut cx = PassContext::new(&dialects);
    let err = Canonicalize::default().run(&mut m, &mut cx).unwrap_err();
    assert_eq!(
        err.message,
        "fold hook of 'test.bad_fold' returned 2 value(s) for 1 result(s)"
    );
}

// ---- registry -------------------------------------------------------------------------------

#[test]
fn registry_builds_every_pass_with_defaults_and_rejects_bad_options() {
    let r = super::registry();
    for info in r.iter() {
        let built = r
            .build(info.name)
            .unwrap_or_else(|e| panic!("{}: {e}", info.name));
        assert_eq!(built[0].name(), info.name);
        assert_eq!(built[0].description(), info.description);
    }
    let passes = r.build("canonicalize,cse,dce").unwrap();
    let names: Vec<&str> = passes.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["canonicalize", "cse", "dce"]);
    assert!(r.build("cse{aggressive=true}").is_ok());
    let e = r.build("canonicalize{max-iterations=0}").err().unwrap();
    assert!(e.message.contains("at least 1"), "{}", e.message);
    let e = r.build("cse{aggressive=maybe}").err().unwrap();
    assert!(e.message.contains("expected bool value"), "{}", e.message);
    let e = r.build("dce{x=1}").err().unwrap();
    assert!(e.message.contains("takes no options"), "{}", e.message);
}

// ---- snapshots of printed IR ----------------------------------------------------------------

/// The IR before and after `pass`, with the outcome and statistics, for an insta snapshot.
fn before_after(pass: &mut dyn Pass, m: &mut Module) -> String {
    let before = print_module(m);
    let (outcome, stats) = run(pass, m);
    let stats: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "// ---- before\n{before}// ---- after: {outcome:?}, {}\n{}",
        stats.join(" "),
        print_module(m)
    )
}

#[test]
fn snapshot_dce() {
    let (mut m, entry, x) = func();
    let a = build(&mut m, entry, "test.neg", &[x]);
    build(&mut m, entry, "test.neg", &[a]);
    let body = scope(&mut m, entry, "test.scope");
    let kept = build(&mut m, body, "test.neg", &[x]);
    build(&mut m, body, "test.add", &[kept, kept]);
    sink(&mut m, body, &[kept]);
    m.build_at_end(body, OpSpec::new("test.yield"));
    finish(&mut m, entry);
    insta::assert_snapshot!(before_after(&mut Dce, &mut m));
}

#[test]
fn snapshot_cse_aggressive() {
    let (mut m, entry, x) = func();
    let c1 = constant(&mut m, entry, &[1.0, 2.0]);
    let c2 = constant(&mut m, entry, &[1.0, 2.0]);
    let a1 = build(&mut m, entry, "test.add", &[x, c1]);
    let a2 = build(&mut m, entry, "test.add", &[c2, x]);
    let body = scope(&mut m, entry, "test.scope");
    let a3 = build(&mut m, body, "test.add", &[x, c1]);
    sink(&mut m, body, &[a3]);
    m.build_at_end(body, OpSpec::new("test.yield"));
    sink(&mut m, entry, &[a1, a2]);
    finish(&mut m, entry);
    insta::assert_snapshot!(before_after(&mut Cse { aggressive: true }, &mut m));
}

#[test]
fn snapshot_canonicalize() {
    let (mut m, entry, x) = func();
    let c1 = constant(&mut m, entry, &[1.5, -2.0]);
    let c2 = constant(&mut m, entry, &[0.5, 4.0]);
    let sum = build(&mut m, entry, "test.add", &[c1, c2]);
    let neg = build(&mut m, entry, "test.neg", &[sum]);
    let twice = build(&mut m, entry, "other.twice", &[c2]);
    let live = build(&mut m, entry, "test.sub", &[x, neg]);
    let again = build(&mut m, entry, "test.add", &[c2, c1]);
    sink(&mut m, entry, &[live, twice, again]);
    finish(&mut m, entry);
    insta::assert_snapshot!(before_after(&mut Canonicalize::default(), &mut m));
}
