//! Generates the ONNX protobuf types from `proto/onnx.proto` with `protox` (a pure-Rust proto
//! compiler, so no `protoc` is needed) and `prost-build`. Byte fields become `bytes::Bytes`, so
//! decoding from a memory-mapped file slices tensor payloads instead of copying them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let fds = protox::compile(["onnx.proto"], ["proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;
    Ok(())
}
