"""Compares face_mesh_refined.onnx with MediaPipe itself, point by point.

    python3 parity_face_refined.py face_mesh_refined.onnx PHOTO [PHOTO ...]

Needs `mediapipe==0.10.14`, `onnxruntime`, `numpy` and `pillow` in one environment (not the
conversion's: MediaPipe pins its own protobuf). Each photo's central square, scaled to
192 x 192, goes through MediaPipe's `FaceLandmarkCpu` graph with attention (the graph FaceMesh
runs with `refine_landmarks`), its region of interest the whole image so that the model sees
exactly these pixels, and through the ONNX model, whose outputs are assembled into 478 points as
MediaPipe's `tensors_to_face_landmarks_with_attention.pbtxt` does (the lips and eyes replace the
mesh's x, y; the irises are points 468-477). Prints the largest x/y difference in pixels of the
192 input per part; exits non-zero above 0.01 px.
"""
import sys

import numpy as np
import onnxruntime as ort
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python.solution_base import SolutionBase
from PIL import Image

# Mesh indices the refined parts replace, in the networks' output order (the same tables as
# workers/engine/src/models/mesh.rs).
LIPS = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
        78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
        76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408,
        62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407]
LEFT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25,
            110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230,
            231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189, 35, 124, 46, 53, 52, 65, 143,
            111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193]
RIGHT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359,
             255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261,
             448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413, 265, 353, 276,
             283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296,
             336, 285, 417]

GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "WITH_ATTENTION:with_attention"
  output_stream: "LANDMARKS:landmarks"
}
"""


def square_192(path):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    side = min(w, h)
    top = max(0, int(h * 0.42) - side // 2)
    left = (w - side) // 2
    return np.asarray(img.crop((left, top, left + side, top + side)).resize((192, 192), Image.BILINEAR))


def onnx_points(sess, rgb):
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, {"input_1": rgb[None].astype(np.float32) / 255.0})))
    pts = np.zeros((478, 2), np.float64)
    pts[:468] = out["output_mesh_identity"].reshape(468, 3)[:, :2]
    for key, idx in (("output_lips", LIPS), ("output_left_eye", LEFT_EYE), ("output_right_eye", RIGHT_EYE)):
        pts[idx] = out[key].reshape(-1, 2)
    pts[468:473] = out["output_left_iris"].reshape(5, 2)
    pts[473:478] = out["output_right_iris"].reshape(5, 2)
    return pts


def main():
    model, *photos = sys.argv[1:]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    graph = text_format.Parse(GRAPH, calculator_pb2.CalculatorGraphConfig())
    mp = SolutionBase(graph_config=graph, side_inputs={"with_attention": True}, outputs=["landmarks"])
    whole = rect_pb2.NormalizedRect(x_center=0.5, y_center=0.5, width=1.0, height=1.0, rotation=0.0)
    refined = set(LIPS) | set(LEFT_EYE) | set(RIGHT_EYE)
    parts = {
        "mesh": [i for i in range(468) if i not in refined],
        "lips": LIPS,
        "eyes": LEFT_EYE + RIGHT_EYE,
        "irises": list(range(468, 478)),
    }
    worst, checked = 0.0, 0
    for path in photos:
        rgb = square_192(path)
        found = mp.process({"image": rgb, "roi": whole}).landmarks
        if found is None:
            print(path, "MediaPipe saw no face in the crop (face flag below its threshold): skipped")
            continue
        checked += 1
        ref = np.array([[p.x * 192, p.y * 192] for p in found.landmark])
        d = np.abs(onnx_points(sess, rgb) - ref)
        print(path, " ".join(f"{k} {d[v].max():.1e}" for k, v in parts.items()), "px")
        worst = max(worst, float(d.max()))
    print(f"parity with MediaPipe: max |mediapipe - onnx| over {checked} photos = {worst:.2e} px")
    sys.exit(0 if checked and worst < 1e-2 else 1)


if __name__ == "__main__":
    main()
