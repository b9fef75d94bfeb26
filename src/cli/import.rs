//! `sofa import`: an ONNX model as `onnx.*` IR text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use sofa_compiler::onnx::ImportOptions;
use sofa_ir::text::print_module;

use super::diag::CliError;
use super::io::write_output;
use super::pipeline::import_model;

#[derive(Debug, Args)]
#[command(
    long_about = "Import an ONNX model (opset 13-23) into sofa's IR: one func.func @main whose ops \
                  are onnx.* ops, one per ONNX node, located by node name. Large initializers \
                  are printed once, in the dialect_resources section at the end.\n\n\
                  Warnings (e.g. an opset outside 13-23) go to stderr.",
    after_help = "Examples:\n  \
                  sofa import model.onnx -o model.mlir\n  \
                  sofa import model.onnx --shape batch=1,seq=128 | sofa opt - --pass-pipeline canonicalize"
)]
pub struct ImportArgs {
    /// The ONNX model file (external data is found relative to it).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,

    /// Bind named input dims to sizes, e.g. `batch=1,seq=128`; bound dims become static.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_shape_bindings)]
    pub shape: Option<ShapeBindings>,

    /// Write the IR to OUT (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Named-dim bindings from `--shape`.
#[derive(Debug, Clone, Default)]
pub struct ShapeBindings(pub BTreeMap<String, u64>);

/// Parse `batch=1,seq=128`.
pub fn parse_shape_bindings(text: &str) -> Result<ShapeBindings, String> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, size) = item
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=SIZE, found '{item}'"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("missing dim name in '{item}'"));
        }
        let size: u64 = size.trim().parse().map_err(|_| {
            format!(
                "'{}' is not a non-negative integer (in '{item}')",
                size.trim()
            )
        })?;
        if out.insert(name.to_string(), size).is_some() {
            return Err(format!("dim '{name}' is bound twice"));
        }
    }
    if out.is_empty() {
        return Err("expected at least one NAME=SIZE".into());
    }
    Ok(ShapeBindings(out))
}

/// The import options implied by `--shape`.
pub fn import_options(shape: &Option<ShapeBindings>) -> ImportOptions {
    ImportOptions {
        shape_bindings: shape.clone().unwrap_or_default().0,
    }
}

/// Run `sofa import`.
pub fn run(args: &ImportArgs) -> Result<(), CliError> {
    let imported = import_model(&args.model, &import_options(&args.shape))?;
    for w in &imported.warnings {
        eprintln!("warning: {}: {w}", args.model.display());
    }
    write_output(
        args.output.as_deref(),
        print_module(&imported.module).as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_bindings_parse_and_reject_garbage() {
        let b = parse_shape_bindings("batch=1, seq=128").unwrap();
        assert_eq!(b.0.get("seq"), Some(&128));
        assert_eq!(b.0.len(), 2);
        assert!(parse_shape_bindings("batch")
            .unwrap_err()
            .contains("NAME=SIZE"));
        assert!(parse_shape_bindings("batch=-1")
            .unwrap_err()
            .contains("non-negative"));
        assert!(parse_shape_bindings("a=1,a=2")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_shape_bindings("").is_err());
    }
}
