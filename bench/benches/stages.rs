//! Per-stage costs on a compliant 358×441 photo: decode, detect, landmarks, mesh, the measure
//! groups, segmentation and cover measures, expression, rules.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use image::RgbImage;
use photocheck_bench::photos;
use photocheck_engine::checks::cover as measure_subject;
use photocheck_engine::checks::Measures;
use photocheck_engine::decode::{self, DecodeLimits};
use photocheck_engine::header::Header;
use photocheck_engine::manifest::Manifest;
use photocheck_engine::measure::FaceGeometry;
use photocheck_engine::models::{
    BlazeFace, ExpressionModel, FaceApiExpression, FaceDetector, LandmarkRefiner, LoadedModel,
    MediaPipeMesh, MeshModel, ONet, Runtime, SelfieSegmentation,
};
use photocheck_engine::{checks, measure, measure_all_with_mask, Profile};
use std::hint::black_box;

fn stages(c: &mut Criterion) {
    let cfg = photocheck_bench::engine_config();
    let rt = Runtime::load(&cfg.ort_dylib, 1).expect("runtime installed");
    let manifest = Manifest::builtin().unwrap();
    let load =
        |role: &str| LoadedModel::load(&cfg.models_dir, manifest.by_role(role).unwrap()).unwrap();
    let profile = Profile::ga461();
    let limits = DecodeLimits {
        max_dimension: profile.max_dimension,
        max_pixels: profile.max_pixels,
    };
    let (_, bytes) = photos("pass__pass_064_0").remove(0);
    let header = decode::probe(&bytes, limits).unwrap();
    let img = decode::decode(&bytes, header.clone(), limits).unwrap().rgb;

    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let h = decode::probe(black_box(&bytes), limits).unwrap();
            black_box(decode::decode(&bytes, h, limits).unwrap())
        })
    });
    let camera = photocheck_bench::camera_capture();
    let camera_header = decode::probe(&camera, limits).unwrap();
    g.bench_function("decode_4000x3000_full", |b| {
        b.iter(|| black_box(decode::decode(&camera, camera_header.clone(), limits).unwrap()))
    });
    // The reduced decode of the 4:4:4 capture and of the same pixels in 4:2:0, as cameras
    // write them.
    let camera_420 = photocheck_bench::camera_capture_420();
    for (name, file) in [
        ("decode_4000x3000_reduced", &camera),
        ("decode_4000x3000_420_reduced", &camera_420),
    ] {
        let header = decode::probe(file, limits).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(decode::decode_reduced(file, &header, limits, profile.canvas).unwrap())
            })
        });
    }
    // What a capture's check decodes: once to planes (the reduced image and the luma plane for
    // the face's noise and blocking), against the reduced decode plus the face region's
    // greyscale decode it replaced.
    let header_420 = decode::probe(&camera_420, limits).unwrap();
    let face = [900, 600, 1924, 1624];
    g.bench_function("decode_4000x3000_420_planes_and_face_luma", |b| {
        b.iter(|| {
            let (d, _, plane) =
                decode::decode_reduced_with_luma(&camera_420, &header_420, limits, profile.canvas)
                    .unwrap();
            black_box((d, plane.unwrap().crop(face).unwrap()))
        })
    });
    g.bench_function("decode_4000x3000_420_reduced_then_face_luma", |b| {
        b.iter(|| {
            let (d, _) =
                decode::decode_reduced(&camera_420, &header_420, limits, profile.canvas).unwrap();
            black_box((
                d,
                decode::jpeg_luma_crop(&camera_420, &header_420, face).unwrap(),
            ))
        })
    });
    let mut front = BlazeFace::new(&rt, &load("face_detector"), 128).unwrap();
    g.bench_function("detect_blazeface_128", |b| {
        b.iter(|| black_box(front.detect(&img).unwrap()))
    });
    let mut back = BlazeFace::new(&rt, &load("face_detector_small"), 256).unwrap();
    g.bench_function("detect_blazeface_256", |b| {
        b.iter(|| black_box(back.detect(&img).unwrap()))
    });
    let det = front.detect(&img).unwrap()[0];
    let mut onet = ONet::new(&rt, &load("landmarks")).unwrap();
    g.bench_function("landmarks_onet", |b| {
        b.iter(|| black_box(onet.refine(&img, &det).unwrap()))
    });
    let mut mesh = MediaPipeMesh::new(&rt, &load("face_mesh")).unwrap();
    g.bench_function("mesh", |b| {
        b.iter(|| {
            black_box(
                mesh.mesh(&img, det.bbox, det.keypoints[0], det.keypoints[1])
                    .unwrap(),
            )
        })
    });
    // The mesh's input on its own: the rotated 192 × 192 crop sampled to floats.
    let crop =
        photocheck_engine::models::roi_from_detection(det.bbox, det.keypoints[0], det.keypoints[1]);
    let mut tensor = Vec::new();
    g.bench_function("mesh_crop_sample", |b| {
        b.iter(|| {
            crop.sample(black_box(&img), 1.0 / 255.0, 0.0, &mut tensor);
            black_box(tensor.len())
        })
    });
    let engine = photocheck_bench::engine();
    let analysis = engine.analyze(&bytes, &profile).unwrap();
    let face = analysis.face.clone();
    g.bench_function("measure", |b| {
        b.iter(|| black_box(measure_all_with_mask(&img, face.as_ref()).0))
    });
    // The measure groups on their own.
    let f = face.as_ref().expect("the compliant photo has a face");
    let bg = measure::border_reference(&img, f.chin[1] as u32);
    g.bench_function("measure_background", |b| {
        b.iter(|| black_box(measure::backdrop(&img, bg, f.chin[1])))
    });
    g.bench_function("measure_luma_noise_blocking", |b| {
        b.iter(|| {
            let luma = measure::Luma::of(&img);
            black_box((measure::noise_sigma(&luma), measure::blockiness(&luma)))
        })
    });
    let luma = measure::Luma::of(&img);
    g.bench_function("measure_sharpness", |b| {
        b.iter(|| black_box(measure::sharpness(&luma, f.bbox, f.face_width() / 207.0)))
    });
    g.bench_function("measure_subject", |b| {
        b.iter(|| black_box(checks::subject::subject(&img, &f.mesh, f.pose)))
    });
    // The head pose: the mesh fitted to the canonical face.
    let canonical = photocheck_engine::pose::CanonicalFace::parse(&load("canonical_face").bytes)
        .expect("the canonical face installed");
    g.bench_function("head_pose", |b| {
        b.iter(|| black_box(photocheck_engine::pose::head_pose(&f.mesh, &canonical)))
    });
    let m = measure_all_with_mask(&img, face.as_ref()).0;
    // One selfie-segmentation inference on the head crop plus the glasses, covering and
    // occlusion measures: what the three cover checks add per photo.
    let mut seg = SelfieSegmentation::new(&rt, &load("segmentation")).unwrap();
    let f = face.as_ref().expect("a face on the compliant photo");
    g.bench_function("segment_and_cover", |b| {
        b.iter(|| black_box(measure_subject::run(&mut seg, &img, f, &m.background).unwrap()))
    });
    // The expression network on the face (one crop: a neutral face is read once; a smile, at
    // P(happy) 0.35 or more, twice).
    let mut expr = FaceApiExpression::new(&rt, &load("expression")).unwrap();
    g.bench_function("expression", |b| {
        b.iter(|| black_box(expr.read(&img, f, 0.35).unwrap()))
    });
    g.bench_function("expression_two_crops", |b| {
        b.iter(|| black_box(expr.read(&img, f, 0.0).unwrap()))
    });
    g.bench_function("rules", |b| {
        b.iter(|| {
            let obs = observation(&bytes, &header, &img, 1, face.as_ref(), &m);
            black_box(checks::evaluate(&obs, &profile))
        })
    });

    // The tier-1 work in one chain, round robin over the 20 compliant photos: header and
    // decode, BlazeFace 128, O-Net, every measure and the rules. The tier-2 models (face mesh,
    // segmentation) do not run; the measures take each photo's face geometry as the whole
    // engine measured it beforehand, so they do the same work as in a full check.
    let good: Vec<_> = photos("pass__")
        .into_iter()
        .map(|(_, bytes)| {
            let face = engine.analyze(&bytes, &profile).unwrap().face;
            (bytes, face)
        })
        .collect();
    let mut i = 0;
    g.bench_function("tier1_chain_compliant", |b| {
        b.iter(|| {
            i = (i + 1) % good.len();
            let (bytes, face) = &good[i];
            let header = decode::probe(bytes, limits).unwrap();
            let img = decode::decode(bytes, header.clone(), limits).unwrap().rgb;
            let faces = front.detect(&img).unwrap();
            let five = onet.refine(&img, &faces[0]).unwrap();
            let m = measure_all_with_mask(&img, face.as_ref()).0;
            let obs = observation(bytes, &header, &img, faces.len(), face.as_ref(), &m);
            black_box((five, checks::evaluate(&obs, &profile)))
        })
    });
    g.finish();
}

/// The rules' input for a decoded photo, its faces and its measures.
fn observation<'a>(
    bytes: &[u8],
    header: &'a Header,
    img: &RgbImage,
    face_count: usize,
    face: Option<&'a FaceGeometry>,
    measures: &'a Measures,
) -> checks::Observation<'a> {
    checks::Observation {
        file_len: bytes.len(),
        header: Some(header),
        decode_error: None,
        size: Some(img.dimensions()),
        colourful: Some(0.3),
        face_count: Some(face_count),
        face,
        measures: Some(measures),
        beyond_frame: None,
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
