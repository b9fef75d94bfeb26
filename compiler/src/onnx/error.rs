//! Import errors. Every error about a node names it as `node #index "name" (OpType)` followed by
//! the cause, so a user can find it in Netron or in the exporter's graph dump.

use std::fmt;
use std::path::PathBuf;

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
    /// Problems at one place of the graph.
    #[error("{site}: {cause}")]
    At { site: Site, cause: String },
    /// Every operator type the dialect lacks, each with the first node using it.
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<UnsupportedOp>),
}

impl OnnxError {
    pub fn at(site: Site, cause: impl Into<String>) -> OnnxError {
        OnnxError::At {
            site,
            cause: cause.into(),
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
