//! `sofa inspect`: what a model contains, without importing it.

use std::collections::BTreeMap;
use std::fmt;

use super::load::{is_default_domain, LoadedModel};
use super::proto::tensor_shape_proto::dimension;
use super::proto::{type_proto, ValueInfoProto};
use super::tensor::{dtype_name, dtype_size};

/// A graph input or output as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueSummary {
    pub name: String,
    /// ONNX data type name (`FLOAT`, `INT64`, ...), or `?` when not a tensor.
    pub elem: String,
    /// One entry per dim: the value, the parameter name, or `?`; `None` when the rank is unknown.
    pub dims: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSummary {
    pub producer: String,
    pub ir_version: i64,
    /// `(domain, version)`, `ai.onnx` for the default domain.
    pub opsets: Vec<(String, i64)>,
    pub graph_name: String,
    pub inputs: Vec<ValueSummary>,
    pub outputs: Vec<ValueSummary>,
    pub node_count: usize,
    /// `(op type, count)`, most frequent first, ties by name.
    pub op_histogram: Vec<(String, usize)>,
    pub initializer_count: usize,
    pub initializer_bytes: u64,
    pub warnings: Vec<String>,
}

fn value_summary(vi: &ValueInfoProto) -> ValueSummary {
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => Some(t),
        _ => None,
    };
    let dims = tensor.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(v)) => v.to_string(),
                Some(dimension::Value::DimParam(p)) if !p.is_empty() => p.clone(),
                _ => "?".into(),
            })
            .collect()
    });
    ValueSummary {
        name: vi.name().to_string(),
        elem: tensor.map_or_else(|| "?".into(), |t| dtype_name(t.elem_type())),
        dims,
    }
}

/// Summarise a loaded model (header, signature, op histogram, weights).
pub fn model_summary(loaded: &LoadedModel) -> ModelSummary {
    let model = &loaded.model;
    let empty = super::proto::GraphProto::default();
    let graph = model.graph.as_ref().unwrap_or(&empty);
    let inits: std::collections::BTreeSet<&str> =
        graph.initializer.iter().map(|t| t.name()).collect();
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for node in &graph.node {
        let key = if is_default_domain(node.domain()) {
            node.op_type().to_string()
        } else {
            format!("{}.{}", node.domain(), node.op_type())
        };
        *histogram.entry(key).or_default() += 1;
    }
    let mut op_histogram: Vec<(String, usize)> = histogram.into_iter().collect();
    op_histogram.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let initializer_bytes = graph
        .initializer
        .iter()
        .map(|t| {
            let count = t
                .dims
                .iter()
                .fold(1u64, |acc, &d| acc.saturating_mul(d.max(0) as u64));
            count.saturating_mul(dtype_size(t.data_type()))
        })
        .fold(0u64, u64::saturating_add);
    let opsets = model
        .opset_import
        .iter()
        .map(|o| {
            let domain = if is_default_domain(o.domain()) {
                "ai.onnx"
            } else {
                o.domain()
            };
            (domain.to_string(), o.version())
        })
        .collect();
    ModelSummary {
        producer: format!("{} {}", model.producer_name(), model.producer_version())
            .trim()
            .to_string(),
        ir_version: model.ir_version(),
        opsets,
        graph_name: graph.name().to_string(),
        inputs: graph
            .input
            .iter()
            .filter(|vi| !inits.contains(vi.name()))
            .map(value_summary)
            .collect(),
        outputs: graph.output.iter().map(value_summary).collect(),
        node_count: graph.node.len(),
        op_histogram,
        initializer_count: graph.initializer.len(),
        initializer_bytes,
        warnings: loaded.warnings.clone(),
    }
}

impl fmt::Display for ValueSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dims {
            Some(d) => write!(f, "{}: {} [{}]", self.name, self.elem, d.join(", ")),
            None => write!(f, "{}: {} (shape unknown)", self.name, self.elem),
        }
    }
}

impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "producer: {}", self.producer)?;
        writeln!(f, "ir_version: {}", self.ir_version)?;
        let opsets: Vec<String> = self
            .opsets
            .iter()
            .map(|(d, v)| format!("{d} {v}"))
            .collect();
        writeln!(f, "opsets: {}", opsets.join(", "))?;
        for i in &self.inputs {
            writeln!(f, "input {i}")?;
        }
        for o in &self.outputs {
            writeln!(f, "output {o}")?;
        }
        writeln!(
            f,
            "initializers: {} ({} bytes)",
            self.initializer_count, self.initializer_bytes
        )?;
        writeln!(f, "nodes: {}", self.node_count)?;
        for (op, n) in &self.op_histogram {
            writeln!(f, "  {op} {n}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
