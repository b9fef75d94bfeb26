//! ONNX frontend. (being written)
