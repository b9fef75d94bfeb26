//! `lower-to-sofa`: workload modules planned by `cct-tile` become `sofa.kernel`s whose buffers
//! and loop bounds are the plan's figures; the text round-trips; `check_kernel` rejects edits.

use sofa_compiler::lower::sofa_level::{check_kernel, kernel_layer};
use sofa_compiler::lower::{LowerDefaults, LowerError};
use sofa_compiler::passes::registry;
use sofa_compiler::workload::{build_module, parse_spec};
use sofa_ir::dialect::sofa::{BUFFER, FOR, KERNEL};
use sofa_ir::dialect::DialectRegistry;
use sofa_ir::hw::HwConfig;
use sofa_ir::pass::{NoInstrumentation, PassManager};
use sofa_ir::text::{parse_module, print_module};
use sofa_ir::{Attribute, Module, Op};

fn spec(seq: u64, causal: bool) -> String {
    format!("name = \"t\"\nlayers = 2\nhidden = 64\nheads = 2\nseq = {seq}\ncausal = {causal}\n")
}

fn run(spec: &str, pipeline: &str) -> Module {
    let mut m = build_module(&parse_spec(spec).unwrap()).unwrap();
    let dialects = DialectRegistry::with_core_dialects();
    let mut pm = PassManager::from_pipeline(dialects, &registry(), pipeline).unwrap();
    pm.run(&mut m, &mut NoInstrumentation).unwrap();
    m
}

fn named(m: &Module, name: &str) -> Vec<Op> {
    m.all_ops()
        .into_iter()
        .filter(|&o| m.op(o).name == name)
        .collect()
}

fn int(m: &Module, op: Op, key: &str) -> i64 {
    m.op(op).attrs[key].as_int().unwrap()
}

fn text_attr<'a>(m: &'a Module, op: Op, key: &str) -> Option<&'a str> {
    m.op(op).attrs.get(key).and_then(Attribute::as_str)
}

/// The loop of dimension `dim` inside `kernel`.
fn loop_of(m: &Module, kernel: Op, dim: &str) -> Op {
    let mut found = None;
    m.walk_op(kernel, &mut |o| {
        if m.op(o).name == FOR && text_attr(m, o, "dim") == Some(dim) && found.is_none() {
            found = Some(o);
        }
    });
    found.unwrap_or_else(|| panic!("no {dim} loop"))
}

fn count_in(m: &Module, kernel: Op, pred: impl Fn(Op) -> bool) -> usize {
    let mut n = 0;
    m.walk_op(kernel, &mut |o| n += usize::from(pred(o)));
    n
}

const CCT: &str = "sparsify{keep=0.25},cct-tile,lower-to-sofa";

#[test]
fn cct_kernels_carry_the_plan_figures() {
    let m = run(&spec(300, false), CCT);
    let kernels = named(&m, KERNEL);
    assert_eq!(kernels.len(), 2);
    assert!(named(&m, "attn.sparse_mha").is_empty());
    let hw = HwConfig::default();
    for &k in &kernels {
        assert_eq!(text_attr(&m, k, "sofa.from"), Some("attn.sparse_mha"));
        let (layer, fit) = kernel_layer(&m, k, &hw, &LowerDefaults::default()).unwrap();
        let buffers = count_in(&m, k, |o| m.op(o).name == BUFFER);
        assert_eq!(buffers, fit.sram.buffers().count());
        // cct on chip (Q is scaled in place): q_scaled, k_tile, a_hat, idx, top, order, slot, g_k, g_v, part, out.
        assert_eq!(buffers, 11);
        let tiles = loop_of(&m, k, "k_tile");
        assert_eq!(int(&m, tiles, "step"), layer.bc() as i64);
        assert_eq!(int(&m, tiles, "upper"), 300);
        assert!(!m.op(tiles).attrs.contains_key("causal"));
        // Non-causal multi-head blocks pack: one loop over both heads' 300 rows.
        assert!(fit.runs > 1);
        let blocks = loop_of(&m, k, "row_block");
        assert_eq!(int(&m, blocks, "step") as u64, fit.rows_cap);
        assert_eq!(int(&m, blocks, "upper"), 2 * 300);
        assert_eq!(layer.bc(), 300u64.div_ceil(int(&m, k, "sofa.tc") as u64));
        check_kernel(&m, k, &hw, &LowerDefaults::default()).unwrap();
    }
}

#[test]
fn causal_layers_bound_key_tiles_and_add_the_causal_table() {
    // Heads of 64 over 600 causal keys (f16, as workloads compute).
    let wide = "name = \"t\"\nlayers = 2\nhidden = 128\nheads = 2\nseq = 600\ncausal = true\n";
    let m = run(wide, CCT);
    let k = named(&m, KERNEL)[0];
    let tiles = loop_of(&m, k, "k_tile");
    assert_eq!(m.op(tiles).attrs["causal"], Attribute::Bool(true));
    let causal_adds = count_in(&m, k, |o| {
        m.op(o).name == "sofa.mask_add" && text_attr(&m, o, "kind") == Some("causal")
    });
    assert_eq!(causal_adds, 1);
    let mut names = Vec::new();
    m.walk_op(k, &mut |o| {
        if m.op(o).name == BUFFER {
            names.push(text_attr(&m, o, "name").unwrap_or("").to_string());
        }
    });
    // One running partial per block, divided by one SYNC after the tile loop.
    assert_eq!(
        names.join(","),
        "q_scaled,k_tile,a_hat,mask,idx,top,order,slot,g_k,g_v,part,out"
    );
    let syncs = count_in(&m, k, |o| m.op(o).name == "sofa.sufa_sync");
    assert_eq!(syncs, 1);
}

#[test]
fn staged_kernels_spill_the_predicted_scores_per_row_chunk() {
    let m = run(
        &spec(300, true),
        "sparsify{keep=0.25},cct-tile{schedule=staged},lower-to-sofa",
    );
    let k = named(&m, KERNEL)[0];
    assert_eq!(text_attr(&m, k, "sofa.schedule"), Some("staged"));
    let chunks = loop_of(&m, k, "row_chunk");
    assert!(int(&m, chunks, "step") >= 1);
    let ahat_stores = count_in(&m, k, |o| {
        m.op(o).name == "sofa.dma_store" && text_attr(&m, o, "to") == Some("ahat_spill")
    });
    assert_eq!(ahat_stores, 1);
    let whole_row = count_in(&m, k, |o| {
        m.op(o).name == "sofa.sads" && m.op(o).attrs["whole_row"] == Attribute::Bool(true)
    });
    assert_eq!(whole_row, 1);
    loop_of(&m, k, "list");
    check_kernel(&m, k, &HwConfig::default(), &LowerDefaults::default()).unwrap();
}

#[test]
fn ablations_show_on_the_steps() {
    let m = run(
        &spec(128, false),
        "sparsify{keep=0.25},cct-tile{ablate=dlzs,sufa,rass},lower-to-sofa",
    );
    let k = named(&m, KERNEL)[0];
    let has = |name: &str, key: &str, want: Attribute| {
        count_in(&m, k, |o| {
            m.op(o).name == name && m.op(o).attrs[key] == want
        })
    };
    assert_eq!(
        has("sofa.predict_scores", "engine", Attribute::string("kvpe")),
        1
    );
    assert_eq!(has("sofa.sufa_tile", "mode", Attribute::string("fa2")), 1);
    assert_eq!(has("sofa.rass", "reuse", Attribute::Bool(false)), 1);
}

#[test]
fn the_sofa_level_round_trips() {
    for pipeline in [CCT, "cct-tile{schedule=dense},lower-to-sofa"] {
        let text = print_module(&run(&spec(300, true), pipeline));
        let back = parse_module(&text).unwrap();
        assert_eq!(print_module(&back), text);
    }
}

fn check(m: &Module, k: Op) -> Result<(), LowerError> {
    check_kernel(m, k, &HwConfig::default(), &LowerDefaults::default())
}

#[test]
fn check_kernel_rejects_edited_bodies_naming_the_op() {
    let m = run(&spec(300, true), CCT);
    let k = named(&m, KERNEL)[0];
    check(&m, k).unwrap();
    let mut edited = m.clone();
    let buf = named(&edited, BUFFER)[1];
    let off = int(&edited, buf, "offset");
    edited
        .op_mut(buf)
        .attrs
        .insert("offset".into(), Attribute::i64(off + 64));
    let e = check(&edited, k).unwrap_err().to_string();
    assert!(
        e.starts_with("sofa.kernel at t/layer0/attention: body op #1"),
        "{e}"
    );
    assert!(e.contains("but found sofa.buffer {"), "{e}");
    let mut edited = m.clone();
    let tiles = loop_of(&edited, k, "k_tile");
    edited
        .op_mut(tiles)
        .attrs
        .insert("step".into(), Attribute::i64(7));
    let e = check(&edited, k).unwrap_err().to_string();
    assert!(e.contains("but found sofa.for {"), "{e}");
    assert!(e.contains("step = 7"), "{e}");
    // A buffer beyond its SRAM is a capacity error.
    let mut edited = m.clone();
    edited
        .op_mut(buf)
        .attrs
        .insert("offset".into(), Attribute::i64(1 << 30));
    let e = check(&edited, k).unwrap_err().to_string();
    assert!(e.contains("beyond sram."), "{e}");
    // An edited plan attribute implies another body: the old one no longer matches.
    let mut edited = m.clone();
    edited
        .op_mut(k)
        .attrs
        .insert("sofa.tc".into(), Attribute::i64(1));
    assert!(check(&edited, k).is_err());
}

#[test]
fn snapshot_small_causal_workload() {
    let spec = "name = \"s\"\nlayers = 1\nhidden = 32\nheads = 2\nseq = 64\ncausal = true\n";
    let m = run(spec, "sparsify{keep=0.5},cct-tile,lower-to-sofa");
    insta::assert_snapshot!(print_module(&m));
}
