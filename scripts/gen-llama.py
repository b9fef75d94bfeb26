#!/usr/bin/env python3
"""A random-weight Llama-style decoder for scale benchmarks (`cargo bench --bench scale`).

usage: gen-llama.py OUT_DIR [--preset 1b|gpt2-medium|tiny] [--layers N] [--hidden H]
                    [--heads H] [--kv-heads H] [--ffn F] [--vocab V] [--max-pos P]
                    [--seq S] [--seed N]

Writes OUT_DIR/model.onnx with its weights as ONNX external data (OUT_DIR/model.onnx.data,
fp32), OUT_DIR/input.npz (`input_ids` of batch 1 × --seq tokens) and, when onnxruntime is
installed and the model fits this machine's memory twice over, OUT_DIR/expected.npz (its
`logits` for that input). The graph is spelled as PyTorch's TorchScript exporter spells
transformers' LlamaForCausalLM (opset 17): Gather embedding; RMSNorm as
Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul/Mul; Linear as MatMul by a transposed initializer;
heads split by Reshape(0, 0, H, d) + Transpose; rotate-half RoPE over cos/sin tables gathered
at Range(0, seq) positions; grouped K/V repeated by Unsqueeze/Expand/Reshape; eager attention
(MatMul, Div by sqrt(d), Add of a causal mask built by Trilu from the sequence length,
Softmax, MatMul); SwiGLU MLP (x·Sigmoid(x)·up); an untied LM head. Batch and sequence are
symbolic (`batch`, `seq`): compile with `--shape batch=1,seq=S`.

Presets (parameters counted with the embeddings and the LM head):
  1b           16 layers, hidden 2048, 32 heads / 8 KV heads, ffn 8192, vocab 32000 (~1.24 B)
  gpt2-medium  24 layers, hidden 1024, 16 heads, ffn 4096, vocab 50257 (~0.41 B)
  tiny         2 layers, hidden 64, 4 heads / 2 KV heads, ffn 128, vocab 256 (for tests)

Deterministic: the same arguments write byte-identical files. Needs numpy and onnx; the
expected outputs need onnxruntime.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

PRESETS = {
    "1b": dict(layers=16, hidden=2048, heads=32, kv_heads=8, ffn=8192, vocab=32000),
    "gpt2-medium": dict(layers=24, hidden=1024, heads=16, kv_heads=16, ffn=4096, vocab=50257),
    "tiny": dict(layers=2, hidden=64, heads=4, kv_heads=2, ffn=128, vocab=256),
}


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base):
        self.count += 1
        return f"/{base}_{self.count}"

    def const(self, base, arr):
        n = self.name(base)
        self.inits.append(nh.from_array(np.asarray(arr), n))
        return n

    def weight(self, base, shape, scale):
        n = f"{base}.weight"
        w = (self.rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
        self.inits.append(nh.from_array(w, n))
        return n

    def op(self, kind, inputs, base=None, **attrs):
        out = self.name(base or kind)
        self.nodes.append(h.make_node(kind, inputs, [out], name=out, **attrs))
        return out


def rms_norm(g, x, prefix, hidden):
    w = g.const(f"{prefix}.weight", np.ones(hidden, np.float32))
    p = g.op("Pow", [x, g.const("two", np.array(2.0, np.float32))])
    m = g.op("ReduceMean", [p], axes=[-1], keepdims=1)
    a = g.op("Add", [m, g.const("eps", np.array(1e-6, np.float32))])
    r = g.op("Reciprocal", [g.op("Sqrt", [a])])
    return g.op("Mul", [w, g.op("Mul", [x, r])])


def linear(g, x, name, n_in, n_out):
    # TorchScript exports nn.Linear without bias as MatMul by the transposed weight.
    return g.op("MatMul", [x, g.weight(name, [n_in, n_out], 1.0 / np.sqrt(n_in))])


def heads(g, x, n, d):
    r = g.op("Reshape", [x, g.const("shape", np.array([0, 0, n, d], np.int64))])
    return g.op("Transpose", [r], perm=[0, 2, 1, 3])


def rotate(g, x, cos, sin, d):
    half = d // 2
    x1 = g.op("Slice", [x, g.const("s", np.array([0], np.int64)),
                        g.const("e", np.array([half], np.int64)),
                        g.const("a", np.array([-1], np.int64))])
    x2 = g.op("Slice", [x, g.const("s", np.array([half], np.int64)),
                        g.const("e", np.array([d], np.int64)),
                        g.const("a", np.array([-1], np.int64))])
    rot = g.op("Concat", [g.op("Neg", [x2]), x1], axis=-1)
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rot, sin])])


def repeat_kv(g, x, kv_heads, group, d, batch, seq):
    if group == 1:
        return x
    u = g.op("Unsqueeze", [x, g.const("axes", np.array([2], np.int64))])
    shape = g.op("Concat", [batch, g.const("kv", np.array([kv_heads, group], np.int64)), seq,
                            g.const("d", np.array([d], np.int64))], axis=0)
    e = g.op("Expand", [u, shape])
    return g.op("Reshape", [e, g.const("shape", np.array([0, kv_heads * group, -1, d], np.int64))])


def build(a):
    g = Graph(a.seed)
    d = a.hidden // a.heads
    group = a.heads // a.kv_heads
    # Sequence arithmetic from the input's shape, as the exporter traces it.
    shape = g.op("Shape", ["input_ids"])
    batch = g.op("Slice", [shape, g.const("s", np.array([0], np.int64)),
                           g.const("e", np.array([1], np.int64))])
    seq = g.op("Slice", [shape, g.const("s", np.array([1], np.int64)),
                         g.const("e", np.array([2], np.int64))])
    seq0 = g.op("Squeeze", [seq, g.const("axes", np.array([0], np.int64))])
    pos = g.op("Range", [g.const("zero", np.array(0, np.int64)), seq0,
                         g.const("one", np.array(1, np.int64))])
    inv = 1.0 / (10000.0 ** (np.arange(0, d, 2, dtype=np.float64) / d))
    ang = np.outer(np.arange(a.max_pos, dtype=np.float64), inv)
    ang = np.concatenate([ang, ang], axis=-1)
    cos_t = g.const("cos_cached", np.cos(ang).astype(np.float32))
    sin_t = g.const("sin_cached", np.sin(ang).astype(np.float32))
    unsq = g.const("axes", np.array([0, 1], np.int64))
    cos = g.op("Unsqueeze", [g.op("Gather", [cos_t, pos], axis=0), unsq])
    sin = g.op("Unsqueeze", [g.op("Gather", [sin_t, pos], axis=0), unsq])
    square = g.op("Concat", [seq, seq], axis=0)
    full = g.op("ConstantOfShape", [square],
                value=h.make_tensor("v", T.FLOAT, [1], [float("-inf")]))
    mask = g.op("Trilu", [full, g.const("k", np.array(1, np.int64))], upper=1)
    scale = g.const("scale", np.array(np.sqrt(d), np.float32))

    x = g.op("Gather", [g.weight("model.embed_tokens", [a.vocab, a.hidden], 0.02), "input_ids"],
             axis=0)
    for i in range(a.layers):
        p = f"model.layers.{i}"
        n = rms_norm(g, x, f"{p}.input_layernorm", a.hidden)
        q = heads(g, linear(g, n, f"{p}.self_attn.q_proj", a.hidden, a.heads * d), a.heads, d)
        k = heads(g, linear(g, n, f"{p}.self_attn.k_proj", a.hidden, a.kv_heads * d),
                  a.kv_heads, d)
        v = heads(g, linear(g, n, f"{p}.self_attn.v_proj", a.hidden, a.kv_heads * d),
                  a.kv_heads, d)
        q, k = rotate(g, q, cos, sin, d), rotate(g, k, cos, sin, d)
        k = repeat_kv(g, k, a.kv_heads, group, d, batch, seq)
        v = repeat_kv(g, v, a.kv_heads, group, d, batch, seq)
        s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
        s = g.op("Add", [g.op("Div", [s, scale]), mask])
        o = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        o = g.op("Reshape", [g.op("Transpose", [o], perm=[0, 2, 1, 3]),
                             g.const("shape", np.array([0, 0, a.hidden], np.int64))])
        x = g.op("Add", [x, linear(g, o, f"{p}.self_attn.o_proj", a.hidden, a.hidden)])
        n = rms_norm(g, x, f"{p}.post_attention_layernorm", a.hidden)
        gate = linear(g, n, f"{p}.mlp.gate_proj", a.hidden, a.ffn)
        up = linear(g, n, f"{p}.mlp.up_proj", a.hidden, a.ffn)
        act = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
        x = g.op("Add", [x, linear(g, g.op("Mul", [act, up]), f"{p}.mlp.down_proj", a.ffn,
                                   a.hidden)])
    n = rms_norm(g, x, "model.norm", a.hidden)
    logits = linear(g, n, "lm_head", a.hidden, a.vocab)
    g.nodes.append(h.make_node("Identity", [logits], ["logits"], name="/logits"))
    graph = h.make_graph(
        g.nodes, "llama",
        [h.make_tensor_value_info("input_ids", T.INT64, ["batch", "seq"])],
        [h.make_tensor_value_info("logits", T.FLOAT, ["batch", "seq", a.vocab])],
        g.inits)
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)],
                     producer_name="sofa scripts/gen-llama.py")
    m.ir_version = 8
    return m


def parameters(m):
    return sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type == T.FLOAT
               and t.name.endswith(".weight"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    for k in ["layers", "hidden", "heads", "kv_heads", "ffn", "vocab"]:
        ap.add_argument("--" + k.replace("_", "-"), type=int)
    ap.add_argument("--max-pos", type=int, default=4096)
    ap.add_argument("--seq", type=int, default=16, help="tokens of input.npz")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for k, v in PRESETS[a.preset].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.hidden % a.heads or a.heads % a.kv_heads or (a.hidden // a.heads) % 2:
        sys.exit("gen-llama: hidden must split into heads of even width, heads into KV heads")
    if not 1 <= a.seq <= a.max_pos:
        sys.exit(f"gen-llama: --seq must be in 1..={a.max_pos}")
    os.makedirs(a.out_dir, exist_ok=True)
    m = build(a)
    params = parameters(m)
    path = os.path.join(a.out_dir, "model.onnx")
    data = "model.onnx.data"
    if os.path.exists(os.path.join(a.out_dir, data)):
        os.remove(os.path.join(a.out_dir, data))
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024)
    ids = np.random.default_rng(a.seed + 1).integers(0, a.vocab, (1, a.seq), dtype=np.int64)
    np.savez(os.path.join(a.out_dir, "input.npz"), input_ids=ids)
    print(f"gen-llama: {path}: {params / 1e6:.2f} M parameters, {a.layers} layers, "
          f"hidden {a.hidden}, heads {a.heads}/{a.kv_heads}, ffn {a.ffn}, vocab {a.vocab}")
    write_expected(a, path, ids, params)


def available_memory():
    """Bytes the kernel could hand out now (page cache included), as `free` reports it."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def write_expected(a, path, ids, params):
    try:
        import onnxruntime as ort
    except ImportError:
        print("gen-llama: onnxruntime is not installed: no expected.npz")
        return
    avail = available_memory()
    if 8 * params > avail:
        print(f"gen-llama: {8 * params >> 30} GiB needed, {avail >> 30} GiB free: no expected.npz")
        return
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"input_ids": ids})
    np.savez(os.path.join(a.out_dir, "expected.npz"), logits=logits)
    print(f"gen-llama: expected.npz from onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
