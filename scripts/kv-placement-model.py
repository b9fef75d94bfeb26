#!/usr/bin/env python3
"""One attention block for measuring where K/V should come from (docs/kv-on-demand.md).

usage: kv-placement-model.py S HIDDEN HEADS KV_HEADS HEAD_DIM OUT.onnx

X[1, S, HIDDEN] -> Q = X.Wq, K = X.Wk + bk, V = X.Wv + bv split into heads (K/V with KV_HEADS
heads, repeated to HEADS as transformers' repeat_kv does when grouped) -> causal softmax
attention -> O.Wo. Random weights (seed 0), opset 17, no RoPE: the K/V projections are the
form the on-demand (KVGEN) lowering recognises. Needs the `onnx` and `numpy` Python packages.
"""
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
def model(S, hidden, H, Hkv, d, path):
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    def w(name, shape):
        inits.append(nh.from_array((rng.standard_normal(shape)*0.05).astype(np.float32), name)); return name
    def c(name, arr):
        inits.append(nh.from_array(np.array(arr), name)); return name
    nodes += [h.make_node("MatMul", ["x", w("wq", [hidden, H*d])], ["q0"]),
              h.make_node("Reshape", ["q0", c("sq", np.array([1, S, H, d], np.int64))], ["q1"]),
              h.make_node("Transpose", ["q1"], ["q"], perm=[0,2,1,3])]
    for n in "kv":
        nodes += [h.make_node("MatMul", ["x", w("w"+n, [hidden, Hkv*d])], [n+"0"]),
                  h.make_node("Add", [n+"0", w("b"+n, [Hkv*d])], [n+"1"]),
                  h.make_node("Reshape", [n+"1", c("s"+n, np.array([1, S, Hkv, d], np.int64))], [n+"2"]),
                  h.make_node("Transpose", [n+"2"], [n+"3"], perm=[0,2,1,3])]
        if Hkv != H:
            g = H // Hkv
            nodes += [h.make_node("Unsqueeze", [n+"3", c("ax"+n, np.array([2], np.int64))], [n+"4"]),
                      h.make_node("Expand", [n+"4", c("e"+n, np.array([1, Hkv, g, S, d], np.int64))], [n+"5"]),
                      h.make_node("Reshape", [n+"5", c("r"+n, np.array([1, H, S, d], np.int64))], [n])]
        else:
            nodes[-1].output[0] = n
    mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
    nodes += [h.make_node("Transpose", ["k"], ["kt"], perm=[0,1,3,2]),
              h.make_node("MatMul", ["q", "kt"], ["s0"]),
              h.make_node("Mul", ["s0", c("scale", np.array(1/np.sqrt(d), np.float32))], ["s1"]),
              h.make_node("Add", ["s1", c("mask", mask)], ["s2"]),
              h.make_node("Softmax", ["s2"], ["p"], axis=-1),
              h.make_node("MatMul", ["p", "v"], ["o0"]),
              h.make_node("Transpose", ["o0"], ["o1"], perm=[0,2,1,3]),
              h.make_node("Reshape", ["o1", c("so", np.array([1, S, H*d], np.int64))], ["o2"]),
              h.make_node("MatMul", ["o2", w("wo", [H*d, hidden])], ["y"])]
    g = h.make_graph(nodes, "gqa", [h.make_tensor_value_info("x", T.FLOAT, [1, S, hidden])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, S, hidden])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)]); m.ir_version = 8
    onnx.save(m, path)
S, hidden, H, Hkv, d = map(int, sys.argv[1:6])
model(S, hidden, H, Hkv, d, sys.argv[6])
