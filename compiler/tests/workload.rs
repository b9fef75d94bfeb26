//! Workload specs: every shipped file in `workloads/` parses, validates and builds verifying
//! attention-only IR with one `attn.mha` per layer; bad specs are rejected naming the file, the
//! line and the key; a small spec's IR runs in the reference evaluator and matches `attn.mha`
//! called directly; what the tool cannot hold (layers, DRAM, program size) is refused.

use std::path::PathBuf;

use sofa_compiler::driver::{self, DriverError, Target};
use sofa_compiler::workload::{
    build_module, load_spec, parse_spec, WorkloadError, MAX_LAYERS, MAX_PROGRAM_INSTRS,
};
use sofa_ir::dialect::attn::{MhaAttrs, MHA};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::eval::mha::mha_tensors;
use sofa_ir::eval::{eval_op, Tensor};
use sofa_ir::hw::HwConfig;
use sofa_ir::{Module, Op};

fn workloads_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../workloads")
}

fn ops(m: &Module, name: &str) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == name)
        .collect()
}

fn verify(m: &Module) {
    if let Err(e) = sofa_ir::verify::verify(m, &DialectRegistry::with_core_dialects()) {
        panic!("invalid IR: {e:?}");
    }
}

/// (file stem, layers, heads, head_dim, seq, causal) of every shipped workload.
const SHIPPED: [(&str, u64, i64, i64, u64, bool); 8] = [
    ("bert-base", 12, 12, 64, 512, false),
    ("bert-large", 24, 16, 64, 512, false),
    ("gpt2", 12, 12, 64, 1024, true),
    ("bloom-1.7b", 24, 16, 128, 2048, true),
    ("llama-7b", 32, 32, 128, 4096, true),
    ("llama-13b", 40, 40, 128, 4096, true),
    ("vit-b16", 12, 12, 64, 197, false),
    ("pvt", 3, 1, 64, 3192, false),
];

#[test]
fn every_shipped_workload_builds_verifying_ir() {
    let mut files: Vec<String> = std::fs::read_dir(workloads_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let mut want: Vec<String> = SHIPPED.iter().map(|s| format!("{}.toml", s.0)).collect();
    want.sort();
    assert_eq!(files, want, "workloads/ holds exactly the paper's models");
    for (stem, layers, heads, head_dim, seq, causal) in SHIPPED {
        let spec = load_spec(&workloads_dir().join(format!("{stem}.toml")))
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(spec.name, stem);
        assert!(spec.source.len() > 20, "{stem}: cite the shapes' source");
        assert_eq!((spec.layers, spec.seq, spec.causal), (layers, seq, causal));
        let m = build_module(&spec).unwrap();
        verify(&m);
        let mhas = ops(&m, MHA);
        assert_eq!(mhas.len() as u64, layers, "{stem}");
        let a = MhaAttrs::of(&m, mhas[0]).unwrap();
        assert_eq!((a.heads, a.head_dim, a.causal), (heads, head_dim, causal));
        assert!((a.scale - 1.0 / (head_dim as f64).sqrt()).abs() < 1e-7);
        let q = m.value_type(m.op(mhas[0]).operands[0]).as_tensor().unwrap();
        assert_eq!(
            q.static_dims(),
            Some(vec![1, heads as u64, seq, head_dim as u64])
        );
        let entry = m.entry_block(m.funcs()[0]).unwrap();
        assert_eq!(m.blocks[entry].args.len() as u64, 3 * layers);
    }
}

#[test]
fn spec_keep_ratio_drives_sparsify() {
    let spec = parse_spec(
        "name = \"s\"\nlayers = 2\nhidden = 64\nheads = 4\nseq = 2048\ncausal = true\n\
         keep_ratio = 0.25\n",
    )
    .unwrap();
    let keep_of = |target: &Target| {
        let m = driver::compile_workload(&spec, target).unwrap();
        let kernels = ops(&m, sofa_ir::dialect::sofa::KERNEL);
        assert_eq!(kernels.len(), 2);
        let a = sofa_ir::dialect::attn::SparseMhaAttrs::from_dict(&m.op(kernels[1]).attrs);
        a.unwrap().keep_ratio
    };
    assert_eq!(keep_of(&Target::default()), 0.25);
    let half = Target {
        keep: Some(0.5),
        ..Target::default()
    };
    assert_eq!(keep_of(&half), 0.5);
}

#[test]
fn small_spec_runs_in_the_reference_evaluator() {
    let spec = parse_spec(
        "name = \"gqa\"\nlayers = 2\nhidden = 32\nheads = 4\nkv_heads = 2\nseq = 6\n\
         batch = 2\ncausal = true\n",
    )
    .unwrap();
    let m = build_module(&spec).unwrap();
    verify(&m);
    let attrs = spec.mha_attrs();
    for op in ops(&m, MHA) {
        let data = m.op(op);
        let ins: Vec<Tensor> = data
            .operands
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let dims = m.value_type(v).as_tensor().unwrap().static_dims().unwrap();
                let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
                let n: usize = shape.iter().product();
                let vals = (0..n).map(|j| ((j * 7 + i * 3) % 11) as f32 / 11.0 - 0.5);
                Tensor::from_f32(shape, vals.collect()).unwrap()
            })
            .collect();
        let refs: Vec<Option<&Tensor>> = ins.iter().map(Some).collect();
        let out = eval_op(MHA, &data.attrs, &refs, 17).unwrap();
        let want = mha_tensors(&ins[0], &ins[1], &ins[2], None, &attrs).unwrap();
        assert_eq!(out[0], want);
        assert_eq!(out[0].shape(), &[2, 4, 6, 8]);
    }
}

fn invalid_key(text: &str) -> &'static str {
    match parse_spec(text) {
        Err(WorkloadError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn bad_specs_name_the_key() {
    let base = "name = \"bad\"\nlayers = 2\nhidden = 768\nheads = 12\nseq = 512\ncausal = false\n";
    assert!(parse_spec(base).is_ok());
    let with = |from: &str, to: &str| base.replace(from, to);
    assert_eq!(invalid_key(&with("heads = 12", "heads = 7")), "heads");
    assert_eq!(
        invalid_key(&with("heads = 12", "heads = 12\nkv_heads = 5")),
        "kv_heads"
    );
    assert_eq!(invalid_key(&with("seq = 512", "seq = 0")), "seq");
    assert_eq!(invalid_key(&with("layers = 2", "layers = 0")), "layers");
    assert_eq!(
        invalid_key(&with("causal = false", "causal = false\nkeep_ratio = 0")),
        "keep_ratio"
    );
    assert_eq!(invalid_key(&with("\"bad\"", "\"  \"")), "name");
    assert_eq!(
        invalid_key(&with("causal = false", "causal = false\nwindow = 64")),
        "window"
    );
    assert_eq!(
        invalid_key(&with("causal = false", "causal = true\nwindow = 0")),
        "window"
    );
    let e = parse_spec(&with("seq = 512", "seq = 512\nsequence = 4")).unwrap_err();
    assert!(
        matches!(&e, WorkloadError::Parse { message, .. } if message.contains("sequence")),
        "{e}"
    );
    let e = parse_spec(&with("causal = false\n", "")).unwrap_err();
    assert!(e.to_string().contains("causal"), "{e}");
    let e = parse_spec(&with("seq = 512", "seq = -4")).unwrap_err();
    assert!(e.to_string().contains("seq"), "{e}");
    let e = build_module(&sofa_compiler::workload::WorkloadSpec {
        heads: 7,
        ..parse_spec(base).unwrap()
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload spec: key 'heads': 7 heads do not divide hidden 768 (give head_dim explicitly \
         otherwise)"
    );
}

const BASE: &str =
    "name = \"bad\"\nlayers = 2\nhidden = 768\nheads = 12\nseq = 512\ncausal = false\n";

/// The error of loading `text` from a file, and the file's path as errors print it.
fn load_error(text: &[u8]) -> (String, WorkloadError) {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let e = load_spec(file.path()).unwrap_err();
    (file.path().display().to_string(), e)
}

#[test]
fn spec_file_errors_name_the_file_line_and_key() {
    let (p, e) = load_error(BASE.replace("layers = 2", "layers = 1000000000").as_bytes());
    assert_eq!(
        e.to_string(),
        format!(
            "{p}:2:10: key 'layers': 1000000000 is more than 4096, the most a spec may have \
             (every layer is materialised; see MAX_LAYERS)"
        )
    );
    let (p, e) = load_error(format!("{BASE}keep_ratio = 1e-300\n").as_bytes());
    assert_eq!(
        e.to_string(),
        format!(
            "{p}:7:14: key 'keep_ratio': 1e-300 is out of range: must be in [1.1754944e-38, 1] \
             (stored as f32)"
        )
    );
    let (p, e) = load_error(BASE.replace("seq = 512", "seq = -4").as_bytes());
    assert_eq!(
        e.to_string(),
        format!("{p}:5:7: key 'seq': invalid value: integer `-4`, expected u64")
    );
    let mut bytes = BASE.as_bytes().to_vec();
    bytes[9] = 0xff; // the 'a' of "bad"
    let (p, e) = load_error(&bytes);
    assert_eq!(
        e.to_string(),
        format!("cannot read workload spec '{p}': invalid UTF-8 at byte 9 (line 1, column 10)")
    );
    // Text without a file is located all the same.
    let e = parse_spec(&BASE.replace("heads = 12", "heads = 7")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workload spec:4:9: key 'heads': 7 heads do not divide hidden 768 (give head_dim \
         explicitly otherwise)"
    );
}

#[test]
fn the_layer_count_is_capped_at_max_layers() {
    let at = |n: u64| BASE.replace("layers = 2", &format!("layers = {n}"));
    assert_eq!(parse_spec(&at(MAX_LAYERS)).unwrap().layers, MAX_LAYERS);
    assert_eq!(invalid_key(&at(MAX_LAYERS + 1)), "layers");
}

#[test]
fn keep_ratios_that_f32_cannot_hold_are_out_of_range() {
    let keep = |k: &str| format!("{BASE}keep_ratio = {k}\n");
    for bad in ["1e-300", "1e-39", "0.0", "-0.5", "1.5", "nan"] {
        assert_eq!(invalid_key(&keep(bad)), "keep_ratio", "{bad}");
    }
    assert_eq!(parse_spec(&keep("1.2e-38")).unwrap().keep_ratio, 1.2e-38);
}

#[test]
fn every_layer_must_fit_the_dram_for_every_command() {
    let spec = parse_spec(BASE).unwrap();
    // q, k, v and o of 2 layers: 4 × [1, 12, 512, 64] f16 each.
    assert_eq!(spec.dram_bytes(), Some(2 * 4 * 12 * 512 * 64 * 2));
    let mut hw = HwConfig::default();
    hw.dram.capacity_bytes = 1;
    let want = "the tensors of its 2 layer(s) (q, k, v and o) need 6291456 B of DRAM, more than \
                dram.capacity_bytes (1)";
    assert_eq!(spec.check_dram(&hw).unwrap_err().to_string(), want);
    // The driver's workload path, shared by schedule-json, --emit mlir|bin and sofa run,
    // refuses it alike.
    let target = Target {
        hw: hw.clone(),
        ..Target::default()
    };
    let e = driver::compile_workload(&spec, &target).unwrap_err();
    assert_eq!(e.to_string(), want);
    hw.dram.capacity_bytes = 6291456;
    assert_eq!(spec.check_dram(&hw), Ok(()));
}

#[test]
fn programs_too_large_to_hold_are_refused_before_lowering() {
    let mut hw = HwConfig::default();
    hw.dram.capacity_bytes = u64::MAX;
    let target = Target {
        hw,
        ..Target::default()
    };
    let lower = |spec: &str| {
        let spec = parse_spec(spec).unwrap();
        let m = driver::compile_workload(&spec, &target).unwrap();
        driver::lower_workload(&m, &target)
    };
    assert!(lower(BASE).is_ok());
    let huge = BASE.replace("seq = 512", "seq = 512\nbatch = 1000000");
    let Err(DriverError::Workload(e)) = lower(&huge) else {
        panic!("expected the program-size refusal");
    };
    let WorkloadError::ProgramTooLarge { layers, instrs } = e else {
        panic!("{e:?}");
    };
    assert_eq!(layers, 2);
    assert!(instrs > MAX_PROGRAM_INSTRS, "{instrs}");
    assert!(
        e.to_string().starts_with(&format!(
            "the program of 2 layer(s) would have about {instrs} instructions ({} B encoded), \
             more than the 134217728 (MAX_PROGRAM_INSTRS) the tool holds in memory",
            instrs * 32
        )),
        "{e}"
    );
}
