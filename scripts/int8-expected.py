#!/usr/bin/env python3
"""Expected outputs of an onnxruntime-quantized fixture with exact integer arithmetic.

onnxruntime's MatMulInteger (and its fused DynamicQuantizeMatMul) runs u8 x s8 products on
MLAS kernels that depend on the CPU: with AVX-VNNI / AVX512-VNNI (or on ARM) the i32 sums are
exact, as ONNX specifies; with plain AVX2 / AVX512BW, VPMADDUBSW adds each pair of adjacent
products (k = 2j, 2j+1) with saturation to int16 first. The recorded expected outputs of a
fixture therefore depend on the machine that made them.

This script makes them machine-independent: it replaces every MatMulInteger by an equivalent
subgraph and runs onnxruntime on the result.

  exact      (default) (A - a_zp) @ (B - b_zp) as an int32 MatMul: ONNX semantics.
  avx2-u8s8  the pairwise int16 saturation of MLAS's AVX2 U8S8 kernel (zero point of A applied
             through B's column sums, as MLAS does); reproduces expected outputs recorded on a
             CPU without VNNI.

Usage: scripts/int8-expected.py MODEL.onnx CASE_INPUT.npz OUT.npz [--mode exact|avx2-u8s8]
Needs numpy, onnx and onnxruntime.
"""

import argparse

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def rewrite(model, mode):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, extra = [], []

    def const(name, value):
        extra.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    for idx, n in enumerate(g.node):
        if n.op_type != "MatMulInteger":
            nodes.append(n)
            continue
        p = f"mmi{idx}_"
        a, b = n.input[0], n.input[1]
        za = n.input[2] if len(n.input) > 2 and n.input[2] else None
        zb = n.input[3] if len(n.input) > 3 and n.input[3] else None
        cast = lambda x, y: helper.make_node("Cast", [x], [y], to=TensorProto.INT32)
        nodes += [cast(a, p + "a"), cast(b, p + "b")]
        if mode == "exact":
            a_in, b_in = p + "a", p + "b"
            if za:
                nodes += [cast(za, p + "za"), helper.make_node("Sub", [p + "a", p + "za"], [p + "as"])]
                a_in = p + "as"
            if zb:
                nodes += [cast(zb, p + "zb"), helper.make_node("Sub", [p + "b", p + "zb"], [p + "bs"])]
                b_in = p + "bs"
            nodes.append(helper.make_node("MatMul", [a_in, b_in], [n.output[0]]))
            continue
        # avx2-u8s8: B must be a 2-D initializer with a zero b_zp (quantize_dynamic's QInt8).
        w = numpy_helper.to_array(inits[b]).astype(np.int32)
        assert not zb or not numpy_helper.to_array(inits[zb]).any(), "b_zero_point must be 0"
        k, cols = w.shape
        assert k % 2 == 0, "odd K is not modelled"
        nodes += [
            helper.make_node("Shape", [p + "a"], [p + "shape"]),
            helper.make_node("Reshape", [p + "a", const(p + "pairs", np.array([-1, k // 2, 2], np.int64))], [p + "ap"]),
            helper.make_node("Split", [p + "ap", const(p + "split", np.array([1, 1], np.int64))], [p + "even", p + "odd"], axis=2),
            helper.make_node("Mul", [p + "even", const(p + "we", w[0::2][None])], [p + "pe"]),
            helper.make_node("Mul", [p + "odd", const(p + "wo", w[1::2][None])], [p + "po"]),
            helper.make_node("Add", [p + "pe", p + "po"], [p + "ps"]),
            helper.make_node("Clip", [p + "ps", const(p + "lo", np.array(-32768, np.int32)), const(p + "hi", np.array(32767, np.int32))], [p + "pc"]),
            helper.make_node("ReduceSum", [p + "pc", const(p + "axis", np.array([1], np.int64))], [p + "sum"], keepdims=0),
        ]
        acc = p + "sum"
        if za:
            nodes += [
                cast(za, p + "za"),
                helper.make_node("Mul", [p + "za", const(p + "colsum", w.sum(0).astype(np.int32))], [p + "corr"]),
                helper.make_node("Sub", [p + "sum", p + "corr"], [p + "acc"]),
            ]
            acc = p + "acc"
        nodes += [
            helper.make_node("Slice", [p + "shape", const(p + "s0", np.array([0], np.int64)), const(p + "s1", np.array([-1], np.int64))], [p + "lead"]),
            helper.make_node("Concat", [p + "lead", const(p + "n", np.array([cols], np.int64))], [p + "oshape"], axis=0),
            helper.make_node("Reshape", [acc, p + "oshape"], [n.output[0]]),
        ]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("inputs")
    ap.add_argument("out")
    ap.add_argument("--mode", choices=["exact", "avx2-u8s8"], default="exact")
    args = ap.parse_args()
    model = rewrite(onnx.load(args.model), args.mode)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = dict(np.load(args.inputs))
    names = [o.name for o in sess.get_outputs()]
    np.savez(args.out, **dict(zip(names, sess.run(None, feeds))))


if __name__ == "__main__":
    main()
