"""Cuts a TFLite model down to the operators that some of its outputs need.

    python3 prune_tflite.py IN.tflite OUT.tflite OUTPUT_NAME [OUTPUT_NAME ...]

MediaPipe's `face_landmark_with_attention.tflite` computes its 468-point mesh and its
face-presence flag with standard operators only; its lip, eye and iris refinements use three
MediaPipe custom operators that neither the TFLite interpreter nor tf2onnx know. Keeping only
what the named outputs depend on gives a model both can load, so it converts like the others
and the parity check can run it. Weights are not touched. Needs the `tensorflow` package (its
flatbuffer schema) and `flatbuffers`.
"""
import sys

import flatbuffers
from tensorflow.lite.python import schema_py_generated as fb


def prune(src: bytes, keep: list[str]) -> bytes:
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(src, 0))
    g = model.subgraphs[0]
    names = [t.name.decode() for t in g.tensors]
    outs = [names.index(n) for n in keep]
    producer = {t: i for i, op in enumerate(g.operators) for t in op.outputs}
    needed, stack = set(), list(outs)
    while stack:
        t = stack.pop()
        if t in producer and producer[t] not in needed:
            needed.add(producer[t])
            stack.extend(x for x in g.operators[producer[t]].inputs if x >= 0)
    g.operators = [op for i, op in enumerate(g.operators) if i in needed]
    g.outputs = outs
    b = flatbuffers.Builder(len(src))
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


if __name__ == "__main__":
    src, dst, *keep = sys.argv[1:]
    with open(src, "rb") as f:
        data = prune(f.read(), keep)
    with open(dst, "wb") as f:
        f.write(data)
