//! The accuracy `sofa calibrate` measures does not depend on what was reused: a measurement
//! resumed from checkpoints equals, bit for bit, the same one made from scratch (compiled and
//! run from the inputs with nothing cached),
//! and the worst over several inputs is the worst of each input alone. On the developer fixture
//! `bert_sdpa_ts_op17` (two attention layers), with both of its input files.

use std::collections::BTreeMap;
use std::path::Path;

use sofa::calibrate::accuracy::cosine;
use sofa::calibrate::{Case, InterpAccuracy};
use sofa_compiler::calibrate::{layer_override, Accuracy, Setting};
use sofa_compiler::driver::{front_pipeline, selection_pipeline, Target};
use sofa_compiler::onnx::{import_model, load_model, ImportOptions, LoadedModel};
use sofa_ir::eval::Tensor;
use sofa_ir::pass::NoInstrumentation;
use sofa_runtime::interp::run_function;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MODEL: &str = "tests/fixtures/models/bert_sdpa_ts_op17.onnx";
const INPUTS: [&str; 2] = [
    "tests/fixtures/models/bert_sdpa_ts_op17.input.npz",
    "tests/fixtures/models/bert_sdpa_ts_op17.input2.npz",
];

fn model() -> LoadedModel {
    load_model(&Path::new(ROOT).join(MODEL)).unwrap()
}

/// A case with its dims bound from the arrays (`input_ids` is [batch, seq]).
fn case(file: &str) -> Case {
    let inputs: BTreeMap<String, Tensor> =
        sofa::npz::read_npz(&Path::new(ROOT).join(file)).unwrap();
    let shape = inputs["input_ids"].shape().to_vec();
    let bindings = [("batch", shape[0]), ("seq", shape[1])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v as u64))
        .collect();
    Case {
        name: file.to_string(),
        inputs,
        bindings,
    }
}

/// `keeps` with the tiles the cost model picks.
fn auto(keeps: &[f64]) -> Vec<Setting> {
    keeps
        .iter()
        .map(|&keep| Setting { keep, tiles: None })
        .collect()
}

/// The worst output cosine of `settings` on one input, with nothing reused: the module
/// compiled and both runs made from the inputs, by the public APIs only.
fn from_scratch(model: &LoadedModel, case: &Case, settings: &[Setting]) -> f64 {
    let opts = ImportOptions {
        shape_bindings: case.bindings.clone(),
    };
    let mut front = import_model(model, &opts).unwrap().module;
    front_pipeline()
        .unwrap()
        .run(&mut front, &mut NoInstrumentation)
        .unwrap();
    let dense = run_function(&front, &case.inputs).unwrap();
    let layers = settings
        .iter()
        .enumerate()
        .map(|(index, &s)| (index, layer_override(index, s)))
        .collect();
    let target = Target {
        layers,
        ..Target::default()
    };
    let mut sparse = front.clone();
    selection_pipeline(&target)
        .run(&mut sparse, &mut NoInstrumentation)
        .unwrap();
    let outputs = run_function(&sparse, &case.inputs).unwrap();
    dense
        .iter()
        .map(|(name, d)| cosine(outputs[name].as_f32().unwrap(), d.as_f32().unwrap()))
        .fold(f64::INFINITY, f64::min)
}

/// Choices in the order a descent visits them: one layer changed at a time.
const WALK: [[f64; 2]; 6] = [
    [1.0, 0.75],
    [0.75, 1.0],
    [1.0, 0.5],
    [1.0, 0.25],
    [0.5, 0.25],
    [0.5, 0.125],
];

#[test]
fn resumed_measurements_equal_fresh_ones_bit_for_bit() {
    let model = model();
    let cases = || INPUTS.iter().map(|f| case(f)).collect::<Vec<_>>();
    let mut reused = InterpAccuracy::new(&model, cases(), &Target::default()).unwrap();
    assert_eq!(reused.layers(), 2);
    for (i, keeps) in WALK.iter().enumerate() {
        let got = reused.measure(&auto(keeps)).unwrap();
        if i == 2 {
            reused.settle(&auto(&[1.0, 0.5]));
        }
        let fresh = INPUTS
            .iter()
            .map(|f| from_scratch(&model, &case(f), &auto(keeps)))
            .fold(f64::INFINITY, f64::min);
        assert_eq!(
            got.to_bits(),
            fresh.to_bits(),
            "{keeps:?}: {got} vs {fresh}"
        );
        assert!(got < 1.0, "{keeps:?} is sparse: {got}");
    }
    let r = reused.reuse();
    // Two dense runs, then six choices on two inputs.
    assert_eq!(r.runs, 2 + 6 * 2);
    // A choice whose layer-0 keep was run before resumes before layer 1: [1, 0.75], [1, 0.5],
    // [1, 0.25] (the dense run cached the prefix [1]) and [0.5, 0.125] (after [0.5, 0.25]);
    // on both inputs. [0.75, 1] and [0.5, 0.25] start from the checkpoint before layer 0.
    assert_eq!(r.resumed_past_first_layer, 4 * 2);
    assert_eq!(r.layers_skipped, 4 * 2);
    assert_eq!(r.layers_run + r.layers_skipped, 2 * 2 + 6 * 2 * 2);
}

#[test]
fn the_worst_over_inputs_is_the_worst_of_each_alone() {
    let model = model();
    let keeps = [0.5, 0.375];
    let both = InterpAccuracy::new(
        &model,
        INPUTS.iter().map(|f| case(f)).collect(),
        &Target::default(),
    )
    .unwrap()
    .worst_cosine(&auto(&keeps))
    .unwrap();
    let alone: Vec<f64> = INPUTS
        .iter()
        .map(|f| {
            InterpAccuracy::new(&model, vec![case(f)], &Target::default())
                .unwrap()
                .worst_cosine(&auto(&keeps))
                .unwrap()
        })
        .collect();
    assert_eq!(both, alone[0].min(alone[1]));
    assert_ne!(alone[0], alone[1], "the inputs differ: {alone:?}");
    // Dense is the reference itself.
    let dense = InterpAccuracy::new(&model, vec![case(INPUTS[0])], &Target::default())
        .unwrap()
        .worst_cosine(&auto(&[1.0, 1.0]))
        .unwrap();
    assert_eq!(dense, 1.0);
}

/// A setting with pinned key tiles is measured with those tiles: it equals the same choice
/// compiled from scratch with the tiles pinned, and selects differently from the cost model's
/// tiles (4 tiles of 3-4 keys against its whole-row selection, 1 tile, at 13 tokens).
#[test]
fn pinned_tiles_are_measured_with_those_tiles() {
    let model = model();
    let mut acc = InterpAccuracy::new(&model, vec![case(INPUTS[1])], &Target::default()).unwrap();
    let pinned = [
        Setting {
            keep: 0.25,
            tiles: Some(4),
        },
        Setting {
            keep: 0.25,
            tiles: None,
        },
    ];
    let got = acc.measure(&pinned).unwrap();
    let fresh = from_scratch(&model, &case(INPUTS[1]), &pinned);
    assert_eq!(got.to_bits(), fresh.to_bits(), "{got} vs {fresh}");
    let automatic = acc.measure(&auto(&[0.25, 0.25])).unwrap();
    assert_ne!(got, automatic, "4 tiles select like the cost model's tiles");
}
