//! Import errors. Every error about a node names it as `node #index "name" (OpType)` followed by
//! the cause, so a user can find it in Netron or in the exporter's graph dump.

use std::fmt;
use std::path::PathBuf;

use sofa_ir::dialect::onnx::shape::ShapeError;
use sofa_ir::dialect::{Arity, AttrKind, InferError};

use super::attrs::AttrError;
use super::tensor::TensorError;
use super::types::{TypeMismatch, ValueTypeError};

/// Where in the model a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Site {
    /// A node of the main graph, by position.
    Node {
        index: usize,
        name: String,
        op_type: String,
    },
    /// An initializer (or a tensor attribute) by name.
    Tensor(String),
    /// A graph input by name.
    Input(String),
    /// A graph output by name.
    Output(String),
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Node {
                index,
                name,
                op_type,
            } => write!(f, "node #{index} \"{name}\" ({op_type})"),
            Site::Tensor(n) => write!(f, "tensor \"{n}\""),
            Site::Input(n) => write!(f, "graph input \"{n}\""),
            Site::Output(n) => write!(f, "graph output \"{n}\""),
        }
    }
}

/// One operator type the dialect lacks, with the first node using it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// `OpType`, or `domain.OpType` outside the default domain.
    pub op_type: String,
    pub first_node: usize,
    pub first_name: String,
    pub count: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf (truncated or corrupt file).
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    /// A problem with the model as a whole (no graph, no ai.onnx opset, ...).
    #[error("invalid ONNX model: {0}")]
    Model(String),
    /// Problems at one place of the graph (the cause boxed: it is large and rare).
    #[error("{site}: {cause}")]
    At { site: Site, cause: Box<Cause> },
    /// Every operator type the dialect lacks, each with the first node using it.
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<UnsupportedOp>),
}

impl OnnxError {
    pub fn at(site: Site, cause: impl Into<Cause>) -> OnnxError {
        OnnxError::At {
            site,
            cause: Box::new(cause.into()),
        }
    }

    /// The site of an `At` error.
    pub fn site(&self) -> Option<&Site> {
        match self {
            OnnxError::At { site, .. } => Some(site),
            _ => None,
        }
    }
}

/// What is wrong at a [`Site`].
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Tensor(#[from] TensorError),
    #[error(transparent)]
    Attr(#[from] AttrError),
    #[error(transparent)]
    ValueType(#[from] ValueTypeError),
    #[error(transparent)]
    Infer(#[from] InferError),
    /// Symbolic shape values that contradict the op (a Reshape target of the wrong size, ...).
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error(transparent)]
    Mismatch(#[from] TypeMismatch),

    // Graph structure.
    #[error("the node has no op_type")]
    NoOpType,
    #[error("output \"{0}\" is already defined")]
    Redefined(String),
    #[error("input \"{0}\" is not produced by any node, graph input or initializer")]
    NoProducer(String),
    /// The nodes of a cycle, `(index, name)`, each waiting for the next one's output.
    #[error(
        "the graph has a cycle: {} (each needs the next one's output)",
        cycle_path(.0)
    )]
    Cycle(Vec<(usize, String)>),
    #[error("input names must be unique and non-empty")]
    InputName,
    #[error("the input has no tensor shape")]
    NoInputShape,
    #[error("initializer names must be unique and non-empty")]
    InitializerName,
    #[error("not produced by any node, graph input or initializer")]
    OutputUndefined,

    // One node.
    #[error("not in the ai.onnx domain")]
    Domain,
    #[error("unsupported operator")]
    UnsupportedOp,
    #[error("attribute '{0}' is given twice")]
    DuplicateAttr(String),
    #[error("input \"{0}\" is not defined")]
    UndefinedInput(String),
    #[error("takes {} input(s), the node has {got}", .expected.describe())]
    Inputs { expected: Arity, got: usize },
    #[error("has {} output(s), the node has {got}", .expected.describe())]
    Outputs { expected: Arity, got: usize },
    #[error("unknown attribute '{0}'")]
    UnknownAttr(String),
    #[error("attribute '{name}' must be {}, got {got}", .expected.describe())]
    AttrKind {
        name: String,
        expected: AttrKind,
        got: &'static str,
    },
    #[error("missing required attribute '{0}'")]
    MissingAttr(&'static str),
    #[error("the op has no type inference")]
    NoInference,
    #[error("type inference produced {got} result type(s) for {expected} result(s)")]
    ResultCount { got: usize, expected: usize },
    #[error("declared type of \"{output}\": {error}")]
    DeclaredType {
        output: String,
        #[source]
        error: ValueTypeError,
    },
    #[error("output \"{output}\": {error}")]
    OutputMismatch {
        output: String,
        #[source]
        error: TypeMismatch,
    },
    #[error("output \"{output}\": {error}")]
    OutputSize {
        output: String,
        #[source]
        error: ShapeError,
    },
}

fn cycle_path(nodes: &[(usize, String)]) -> String {
    let names: Vec<String> = nodes
        .iter()
        .map(|(i, name)| format!("node #{i} \"{name}\""))
        .collect();
    names.join(" <- ")
}

fn unsupported_message(ops: &[UnsupportedOp]) -> String {
    let parts: Vec<String> = ops
        .iter()
        .map(|u| {
            format!(
                "{} ({} node{}, first: node #{} \"{}\")",
                u.op_type,
                u.count,
                if u.count == 1 { "" } else { "s" },
                u.first_node,
                u.first_name
            )
        })
        .collect();
    format!(
        "{} unsupported operator type{}: {}",
        ops.len(),
        if ops.len() == 1 { "" } else { "s" },
        parts.join("; ")
    )
}
