//! `shape-infer{bind=...}` + `canonicalize` on every ONNX fixture: with batch and seq bound, the
//! exporters' shape arithmetic folds away completely and every value type becomes static.

mod onnx_common;

use onnx_common::{fixture_path, FIXTURES};
use sofa_compiler::onnx::{import_file, ImportOptions};
use sofa_compiler::passes::registry;
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::verify::verify;
use sofa_ir::{Module, Type};

/// What the pipeline does to one fixture.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    shapes_before: usize,
    ops_before: usize,
    ops_after: usize,
}

fn count_named(m: &Module, name: &str) -> usize {
    m.all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == name)
        .count()
}

/// Values of `m` (block arguments and results of attached ops) whose type is not fully static.
fn non_static_values(m: &Module) -> Vec<String> {
    let mut out = Vec::new();
    for op in m.all_ops() {
        let data = m.op(op);
        let args = data
            .regions
            .iter()
            .flat_map(|&r| &m.regions[r].blocks)
            .flat_map(|&b| m.blocks[b].args.iter().copied());
        for v in data.results.iter().copied().chain(args) {
            match m.value_type(v) {
                Type::Tensor(t) if t.static_dims().is_none() => {
                    out.push(format!("{} ({}): {t:?}", v, data.name));
                }
                _ => {}
            }
        }
    }
    out
}

/// Import `name`, run `shape-infer{bind}` + `canonicalize`, check the invariants common to every
/// fixture and return the counts.
fn run_fixture(name: &str, bind: &str) -> Counts {
    let mut m = import_file(&fixture_path(name), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let dialects = DialectRegistry::with_core_dialects();
    verify(&m, &dialects).unwrap_or_else(|e| panic!("{name}: import does not verify:\n{e}"));
    let shapes_before = count_named(&m, "onnx.Shape");
    let ops_before = m.num_ops();
    let pipeline = format!("shape-infer{{bind={bind}}},canonicalize");
    let mut pm = PassManager::from_pipeline(dialects.clone(), &registry(), &pipeline)
        .unwrap_or_else(|e| panic!("{name}: pipeline: {e}"));
    let records = pm
        .run(&mut m, &mut NoInstrumentation)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    verify(&m, &dialects).unwrap_or_else(|e| panic!("{name}: output does not verify:\n{e}"));
    assert!(
        records[0].stats.get("dims-bound") > 0,
        "{name}: nothing was bound"
    );
    assert_eq!(count_named(&m, "onnx.Shape"), 0, "{name}: Shape ops left");
    let non_static = non_static_values(&m);
    assert!(
        non_static.is_empty(),
        "{name}: values with non-static types:\n{}",
        non_static.join("\n")
    );
    Counts {
        shapes_before,
        ops_before,
        ops_after: m.num_ops(),
    }
}

/// The bindings of the fixtures' first input case (ViT has no `seq`: its token count is static).
fn bind_for(name: &str) -> &'static str {
    if name.starts_with("vit") {
        "batch:2"
    } else {
        "batch:2,seq:8"
    }
}

#[test]
fn bound_shape_arithmetic_folds_away_on_every_fixture() {
    // (fixture, Shape ops before, ops before, ops after), ops counted with module and func.
    let expected = [
        ("bert_sdpa_ts_op17", 19, 362, 151),
        ("bert_eager_ts_op17", 13, 313, 142),
        ("gpt2_sdpa_ts_op17", 51, 560, 157),
        ("gpt2_eager_ts_op17", 45, 513, 150),
        ("vit_sdpa_ts_op17", 13, 257, 131),
        ("vit_eager_ts_op17", 7, 221, 130),
        ("qwen2_gqa_rope_sdpa_dynamo_op18", 5, 244, 199),
        ("mistral_swa_eager_ts_op17", 34, 588, 197),
    ];
    assert_eq!(expected.len(), FIXTURES.len());
    for (name, shapes_before, ops_before, ops_after) in expected {
        let counts = run_fixture(name, bind_for(name));
        assert_eq!(
            counts,
            Counts {
                shapes_before,
                ops_before,
                ops_after
            },
            "{name}"
        );
    }
}

#[test]
fn unbound_shape_infer_agrees_with_the_importer_and_is_idempotent() {
    let dialects = DialectRegistry::with_core_dialects();
    for name in FIXTURES {
        let mut m = import_file(&fixture_path(name), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
        let mut pm = PassManager::from_pipeline(dialects.clone(), &registry(), "shape-infer")
            .expect("pipeline");
        let records = pm
            .run(&mut m, &mut NoInstrumentation)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The importer's inference (with symbolic shape values) is already as precise.
        assert!(
            !records[0].outcome.changed(),
            "{name}: {:?}",
            records[0].stats
        );
        let mut pm = PassManager::from_pipeline(
            dialects.clone(),
            &registry(),
            &format!("shape-infer{{bind={}}}", bind_for(name)),
        )
        .expect("pipeline");
        let first = pm.run(&mut m, &mut NoInstrumentation).expect("bound run");
        assert!(first[0].outcome.changed(), "{name}");
        let text = sofa_ir::text::print_module(&m);
        let again = pm.run(&mut m, &mut NoInstrumentation).expect("second run");
        assert!(!again[0].outcome.changed(), "{name}: {:?}", again[0].stats);
        assert_eq!(sofa_ir::text::print_module(&m), text, "{name}");
    }
}
