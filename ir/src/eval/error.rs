//! Errors of the reference evaluator.
//!
//! Kernels report an [`EvalErrorKind`] (what is wrong: input index, attribute, shapes); the
//! dispatcher wraps it into an [`EvalError`] naming the op, so kernels need not know their name.

/// A failed evaluation of one op.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{op}: {kind}")]
pub struct EvalError {
    /// The op name as given to the dispatcher (e.g. `onnx.Reshape`).
    pub op: String,
    pub kind: EvalErrorKind,
}

/// What went wrong, without the op name.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalErrorKind {
    #[error("operator is not supported by the reference evaluator")]
    Unsupported,
    #[error("expected {expected} input(s), got {got}")]
    Arity { expected: String, got: usize },
    #[error("input #{index} is required but absent")]
    MissingInput { index: usize },
    #[error("input #{index}: {msg}")]
    Input { index: usize, msg: String },
    #[error("attribute '{name}': {msg}")]
    Attr { name: String, msg: String },
    /// Incompatible shapes; the message lists them.
    #[error("{0}")]
    Shape(String),
    /// An index or axis out of range.
    #[error("{0}")]
    Index(String),
    #[error(transparent)]
    SparseAttrs(#[from] crate::dialect::attn::SparseAttrError),
    #[error("result would have {0} elements, more than the limit of 2^31")]
    TooLarge(u128),
    /// Anything else (bad constant payloads, integer division by zero, ...).
    #[error("{0}")]
    Invalid(String),
}

impl EvalErrorKind {
    pub(crate) fn input(index: usize, msg: impl Into<String>) -> Self {
        EvalErrorKind::Input {
            index,
            msg: msg.into(),
        }
    }

    pub(crate) fn attr(name: &str, msg: impl Into<String>) -> Self {
        EvalErrorKind::Attr {
            name: name.to_string(),
            msg: msg.into(),
        }
    }

    pub(crate) fn shape(msg: impl Into<String>) -> Self {
        EvalErrorKind::Shape(msg.into())
    }

    pub(crate) fn index(msg: impl Into<String>) -> Self {
        EvalErrorKind::Index(msg.into())
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        EvalErrorKind::Invalid(msg.into())
    }

    /// Attach the op name.
    pub fn in_op(self, op: &str) -> EvalError {
        EvalError {
            op: op.to_string(),
            kind: self,
        }
    }
}

/// Result type of kernels.
pub type KResult<T> = Result<T, EvalErrorKind>;
