//! `sofa inspect`: what is in an ONNX model, and which attention blocks sofa recognises in it.

use std::path::PathBuf;

use clap::Args;
use sofa_ir::text::print_location;
use sofa_ir::{Attribute, Module};

use super::diag::CliError;
use super::pipeline::{import_model, run_quiet};

/// The pipeline whose result `inspect` reports attention blocks from.

#[derive(Debug, Args)]
#[command(
    long_about = "Describe an ONNX model: producer, IR and opset versions, inputs and outputs with \
                  their dims, the op histogram, initializer bytes, and the attention blocks sofa \
                  recognises (after 'shape-infer,canonicalize,fuse-attention'), each with heads, \
                  kv_heads, head_dim, scale, causal and (for a sliding-window band) window."
)]
pub struct InspectArgs {
    /// The ONNX model file.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
}

/// Run `sofa inspect`.
pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let loaded = sofa_compiler::onnx::load_model(&args.model)
        .map_err(|e| CliError::input(format!("{}: {e}", args.model.display())))?;
    print!("{}", sofa_compiler::onnx::model_summary(&loaded));
    let mut module = import_model(&args.model, &Default::default())?.module;
    let pm = sofa_compiler::driver::front_pipeline().map_err(CliError::input)?;
    let records = run_quiet(&mut module, pm)?;
    print!("{}", attention_report(&module));
    if let Some(fuse) = records.iter().find(|r| r.pass.name == "fuse-attention") {
        for (name, value) in fuse.stats.iter() {
            println!("  fuse-attention {name}: {value}");
        }
        for note in fuse.stats.notes() {
            println!("  not fused: {note}");
        }
    }
    Ok(())
}

/// One line per `attn.mha`, in program order.
fn attention_report(m: &Module) -> String {
    let blocks: Vec<_> = m
        .all_ops()
        .into_iter()
        .filter(|&op| m.ops[op].name == "attn.mha")
        .collect();
    let mut s = format!("attention blocks: {}\n", blocks.len());
    for (i, &op) in blocks.iter().enumerate() {
        let a = &m.ops[op].attrs;
        let int = |k: &str| {
            a.get(k)
                .and_then(Attribute::as_int)
                .map_or("?".into(), |v| v.to_string())
        };
        let scale = a
            .get("scale")
            .and_then(Attribute::as_float)
            .map_or("?".into(), |v| format!("{}", v as f32));
        let causal = a
            .get("causal")
            .and_then(Attribute::as_bool)
            .map_or("?".into(), |v| v.to_string());
        let window = a
            .get("window")
            .and_then(Attribute::as_int)
            .map_or(String::new(), |w| format!(" window={w}"));
        let mask = if m.ops[op].operands.len() > 3 {
            "yes"
        } else {
            "no"
        };
        s.push_str(&format!(
            "  #{i} heads={} kv_heads={} head_dim={} scale={scale} causal={causal}{window} mask={mask} at {}\n",
            int("heads"),
            int("kv_heads"),
            int("head_dim"),
            print_location(&m.ops[op].loc),
        ));
    }
    s
}
