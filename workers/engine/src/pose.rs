//! Head pose from the face mesh: the mesh's 3-D points fitted to MediaPipe's canonical face.
//!
//! The canonical face is MediaPipe's own reference head for this mesh topology (468 vertices, in
//! centimetres, y up, z toward the viewer), as its face-geometry module ships it in
//! `geometry_pipeline_metadata_landmarks.binarypb` together with the 33 landmarks (and weights)
//! that module uses for its Procrustes fit: points on the rigid part of the face (eye corners,
//! nose bridge, cheekbones), none on the lips or the jaw. The file comes from the npm package
//! `@mediapipe/face_mesh` (see `models/manifest.toml`, role `canonical_face`).
//!
//! [`head_pose`] solves the weighted similarity transform (rotation, scale, translation) that
//! carries those canonical points onto the mesh's (Horn's closed form with unit quaternions),
//! and reads the rotation as Tait–Bryan angles in the order of ISO/IEC 39794-5: yaw about the
//! head's vertical axis, then pitch about its transverse axis, then roll about its longitudinal
//! axis. The mesh is taken as orthographic (its z is in the scale of its x and y), which holds
//! at the distance an ID photo is taken from.
//!
//! Signs, as in the result contract: yaw positive when the nose turns toward the image's right;
//! pitch positive when the chin is raised; roll positive when the image-right eye is lower.

use crate::EngineError;

/// MediaPipe's canonical face: the points the pose fit uses, with their weights.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalFace {
    /// `(mesh index, canonical point in cm (x right, y up, z toward the viewer), weight)`.
    basis: Vec<(usize, [f64; 3], f64)>,
}

/// Vertices in the canonical mesh of MediaPipe's 468-point topology.
const MESH_POINTS: usize = 468;

impl CanonicalFace {
    /// Parses MediaPipe's `GeometryPipelineMetadata` message (protobuf wire format): field 1 the
    /// canonical mesh (`Mesh3d`: field 1 vertex type, must be 0 = position + texture, 5 floats a
    /// vertex; field 3 the vertex buffer), field 2 the Procrustes basis (`WeightedLandmarkRef`:
    /// field 1 landmark id, field 2 weight).
    pub fn parse(bytes: &[u8]) -> Result<CanonicalFace, EngineError> {
        let bad = |what: &str| EngineError::Manifest(format!("canonical face model: {what}"));
        let mut vertices: Vec<f32> = Vec::new();
        let mut refs: Vec<(usize, f64)> = Vec::new();
        for field in Fields::new(bytes) {
            match field.map_err(bad)? {
                (1, Value::Bytes(mesh)) => {
                    for f in Fields::new(mesh) {
                        match f.map_err(bad)? {
                            (1, Value::Varint(t)) if t != 0 => {
                                return Err(bad("vertex type is not position + texture"))
                            }
                            (3, Value::Fixed32(v)) => vertices.push(f32::from_bits(v)),
                            (3, Value::Bytes(packed)) => vertices.extend(
                                packed
                                    .chunks_exact(4)
                                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                            ),
                            _ => {}
                        }
                    }
                }
                (2, Value::Bytes(r)) => {
                    let (mut id, mut weight) = (None, None);
                    for f in Fields::new(r) {
                        match f.map_err(bad)? {
                            (1, Value::Varint(v)) => id = Some(v as usize),
                            (2, Value::Fixed32(v)) => weight = Some(f64::from(f32::from_bits(v))),
                            _ => {}
                        }
                    }
                    match (id, weight) {
                        (Some(i), Some(w)) if i < MESH_POINTS && w.is_finite() && w > 0.0 => {
                            refs.push((i, w))
                        }
                        _ => return Err(bad("a basis landmark without a valid id or weight")),
                    }
                }
                _ => {}
            }
        }
        if vertices.len() != MESH_POINTS * 5 {
            return Err(bad(&format!(
                "{} vertex values, expected {}",
                vertices.len(),
                MESH_POINTS * 5
            )));
        }
        if refs.len() < 4 {
            return Err(bad("fewer than 4 basis landmarks"));
        }
        let basis = refs
            .into_iter()
            .map(|(i, w)| {
                let v = &vertices[i * 5..i * 5 + 3];
                (i, [v[0], v[1], v[2]].map(f64::from), w)
            })
            .collect();
        Ok(CanonicalFace { basis })
    }

    /// A canonical face from explicit points, for tests and tools.
    pub fn from_basis(basis: Vec<(usize, [f64; 3], f64)>) -> CanonicalFace {
        CanonicalFace { basis }
    }

    /// The fit's landmarks: `(mesh index, canonical point, weight)`.
    pub fn basis(&self) -> &[(usize, [f64; 3], f64)] {
        &self.basis
    }
}

/// The head's rotation relative to the camera, in degrees (signs in the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    /// Turn left/right: positive when the nose turns toward the image's right.
    pub yaw_deg: f32,
    /// Nod up/down: positive when the chin is raised.
    pub pitch_deg: f32,
    /// Tilt toward a shoulder: positive when the image-right eye is lower.
    pub roll_deg: f32,
    /// Weighted RMS distance between the fitted canonical points and the mesh's, ÷ the fitted
    /// scale's face size (the canonical points' RMS radius): how well a rigid head explains
    /// the mesh (a few per cent on real faces).
    pub misfit: f32,
}

/// Fits the canonical face to a 468-point mesh (x, y in image pixels with y down, z in the same
/// scale, larger farther from the camera); `None` when the mesh is not a full mesh or the fit
/// is degenerate (all points on a line, non-finite values).
pub fn head_pose(mesh: &[[f32; 3]], canon: &CanonicalFace) -> Option<HeadPose> {
    if mesh.len() != MESH_POINTS || canon.basis.is_empty() {
        return None;
    }
    // The mesh in the canonical's axes: x right, y up, z toward the camera.
    let obs = |i: usize| {
        let p = mesh[i];
        [f64::from(p[0]), -f64::from(p[1]), -f64::from(p[2])]
    };
    let wsum: f64 = canon.basis.iter().map(|b| b.2).sum();
    let mut cm = [0.0; 3];
    let mut om = [0.0; 3];
    for &(i, c, w) in &canon.basis {
        let o = obs(i);
        for k in 0..3 {
            cm[k] += w * c[k] / wsum;
            om[k] += w * o[k] / wsum;
        }
    }
    // Cross-covariance S[a][b] = Σ w (c − c̄)_a (o − ō)_b.
    let mut s = [[0.0f64; 3]; 3];
    let (mut cvar, mut ovar) = (0.0, 0.0);
    for &(i, c, w) in &canon.basis {
        let o = obs(i);
        let dc = [c[0] - cm[0], c[1] - cm[1], c[2] - cm[2]];
        let d_o = [o[0] - om[0], o[1] - om[1], o[2] - om[2]];
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += w * dc[a] * d_o[b];
            }
            cvar += w * dc[a] * dc[a];
            ovar += w * d_o[a] * d_o[a];
        }
    }
    if !(cvar > 0.0 && ovar > 0.0 && cvar.is_finite() && ovar.is_finite()) {
        return None;
    }
    // Horn (1987): the rotation is the unit quaternion of N's largest eigenvalue.
    let n = [
        [
            s[0][0] + s[1][1] + s[2][2],
            s[1][2] - s[2][1],
            s[2][0] - s[0][2],
            s[0][1] - s[1][0],
        ],
        [
            s[1][2] - s[2][1],
            s[0][0] - s[1][1] - s[2][2],
            s[0][1] + s[1][0],
            s[2][0] + s[0][2],
        ],
        [
            s[2][0] - s[0][2],
            s[0][1] + s[1][0],
            -s[0][0] + s[1][1] - s[2][2],
            s[1][2] + s[2][1],
        ],
        [
            s[0][1] - s[1][0],
            s[2][0] + s[0][2],
            s[1][2] + s[2][1],
            -s[0][0] - s[1][1] + s[2][2],
        ],
    ];
    let (lambda, q) = largest_eigen(n)?;
    let r = rotation(q);
    // Scale and misfit: with the best rotation, Σ w |s R c' − o'|² = ovar − λ²/cvar.
    let scale = lambda / cvar;
    let residual = (ovar - lambda * lambda / cvar).max(0.0) / wsum;
    let size = scale * (cvar / wsum).sqrt();
    let misfit = residual.sqrt() / size.max(1e-9);
    // R = Ry(yaw) · Rx(b) · Rz(c): the nose (canonical +z) goes to R's third column
    // (sin yaw cos b, −sin b, cos yaw cos b).
    let yaw = r[0][2].atan2(r[2][2]);
    let b = (-r[1][2]).clamp(-1.0, 1.0).asin();
    let c = r[1][0].atan2(r[1][1]);
    let deg = |v: f64| v.to_degrees() as f32;
    let pose = HeadPose {
        yaw_deg: deg(yaw),
        // b > 0 turns the nose down (chin down); c > 0 raises the image-right eye.
        pitch_deg: -deg(b),
        roll_deg: -deg(c),
        misfit: misfit as f32,
    };
    [pose.yaw_deg, pose.pitch_deg, pose.roll_deg, pose.misfit]
        .iter()
        .all(|v| v.is_finite())
        .then_some(pose)
}

/// Rotation matrix of a unit quaternion `(w, x, y, z)`.
fn rotation(q: [f64; 4]) -> [[f64; 3]; 3] {
    let [w, x, y, z] = q;
    [
        [
            w * w + x * x - y * y - z * z,
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            w * w - x * x + y * y - z * z,
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            w * w - x * x - y * y + z * z,
        ],
    ]
}

/// The largest eigenvalue of a symmetric 4 × 4 matrix and its unit eigenvector (cyclic Jacobi).
fn largest_eigen(mut a: [[f64; 4]; 4]) -> Option<(f64, [f64; 4])> {
    let mut v = [[0.0f64; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|p| (p + 1..4).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        let scale: f64 = (0..4).map(|i| a[i][i] * a[i][i]).sum::<f64>() + off;
        if off <= 1e-24 * scale.max(1e-300) {
            break;
        }
        for p in 0..4 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J: columns p and q, then rows p and q.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p], a[q]);
                for k in 0..4 {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let best = (0..4).max_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))?;
    let mut q = [v[0][best], v[1][best], v[2][best], v[3][best]];
    let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0 && a[best][best].is_finite()) {
        return None;
    }
    q.iter_mut().for_each(|x| *x /= norm);
    Some((a[best][best], q))
}

/// One protobuf field's value, as far as this parser needs.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Iterates the fields of one protobuf message: `(field number, value)`. A 64-bit field is
/// passed over and yields `Varint(0)` (none of the fields read here is 64-bit).
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or("truncated varint")?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let s = self.bytes.get(self.at..end).ok_or("truncated field")?;
        self.at = end;
        Ok(s)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let item = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Value::Varint(self.varint()?),
                1 => {
                    self.take(8)?;
                    Value::Varint(0)
                }
                2 => {
                    let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                    Value::Bytes(self.take(n)?)
                }
                5 => {
                    let b = self.take(4)?;
                    Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                }
                _ => return Err("unsupported wire type"),
            };
            Ok((key >> 3, value))
        })();
        if item.is_err() {
            // Stop after the first error.
            self.at = self.bytes.len();
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small rigid "face": points spread in 3-D (a synthetic stand-in for the canonical).
    fn canon() -> CanonicalFace {
        let pts: [[f64; 3]; 8] = [
            [-4.4, 2.7, 3.2],
            [4.4, 2.7, 3.2],
            [-2.0, 2.5, 4.0],
            [2.0, 2.5, 4.0],
            [0.0, -0.5, 7.6],
            [-6.5, 0.9, 1.7],
            [6.5, 0.9, 1.7],
            [0.0, 3.3, 5.2],
        ];
        let ids = [33, 263, 133, 362, 4, 127, 356, 168];
        CanonicalFace::from_basis(ids.iter().zip(pts).map(|(&i, p)| (i, p, 1.0)).collect())
    }

    fn rot(yaw: f64, b: f64, c: f64) -> [[f64; 3]; 3] {
        let (sa, ca) = yaw.to_radians().sin_cos();
        let (sb, cb) = b.to_radians().sin_cos();
        let (sc, cc) = c.to_radians().sin_cos();
        let ry = [[ca, 0.0, sa], [0.0, 1.0, 0.0], [-sa, 0.0, ca]];
        let rx = [[1.0, 0.0, 0.0], [0.0, cb, -sb], [0.0, sb, cb]];
        let rz = [[cc, -sc, 0.0], [sc, cc, 0.0], [0.0, 0.0, 1.0]];
        let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
            let mut m = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
                }
            }
            m
        };
        mul(mul(ry, rx), rz)
    }

    /// The canonical points posed by yaw/pitch/roll (contract signs), scaled and placed in
    /// image pixels (y down, z larger farther), as the mesh model would report them.
    fn posed(c: &CanonicalFace, yaw: f64, pitch: f64, roll: f64) -> Vec<[f32; 3]> {
        let r = rot(yaw, -pitch, -roll);
        let mut mesh = vec![[0.0f32; 3]; MESH_POINTS];
        for &(i, p, _) in c.basis() {
            let q: Vec<f64> = (0..3)
                .map(|k| (0..3).map(|j| r[k][j] * p[j]).sum::<f64>() * 14.0)
                .collect();
            mesh[i] = [(179.0 + q[0]) as f32, (200.0 - q[1]) as f32, (-q[2]) as f32];
        }
        mesh
    }

    #[test]
    fn recovers_each_axis_with_the_contract_signs() {
        let c = canon();
        for (yaw, pitch, roll) in [
            (0.0, 0.0, 0.0),
            (20.0, 0.0, 0.0),
            (-20.0, 0.0, 0.0),
            (0.0, 15.0, 0.0),
            (0.0, -15.0, 0.0),
            (0.0, 0.0, 10.0),
            (0.0, 0.0, -10.0),
            (25.0, -12.0, 7.0),
        ] {
            let p = head_pose(&posed(&c, yaw, pitch, roll), &c).unwrap();
            assert!((f64::from(p.yaw_deg) - yaw).abs() < 1e-3, "{yaw} {p:?}");
            assert!(
                (f64::from(p.pitch_deg) - pitch).abs() < 1e-3,
                "{pitch} {p:?}"
            );
            assert!((f64::from(p.roll_deg) - roll).abs() < 1e-3, "{roll} {p:?}");
            assert!(p.misfit < 1e-4, "{p:?}");
        }
    }

    #[test]
    fn the_signs_mean_what_a_clerk_sees() {
        let c = canon();
        // Nose toward the image's right: the nose tip (4) lies right of the eye midpoint.
        let m = posed(&c, 20.0, 0.0, 0.0);
        assert!(m[4][0] > (m[33][0] + m[263][0]) / 2.0);
        // Chin up: the nose tip rises toward the eyes (smaller y gap).
        let (level, up) = (posed(&c, 0.0, 0.0, 0.0), posed(&c, 0.0, 15.0, 0.0));
        assert!(up[4][1] - up[33][1] < level[4][1] - level[33][1]);
        // Roll positive: the image-right eye (263) lower (larger y).
        let m = posed(&c, 0.0, 0.0, 10.0);
        assert!(m[263][1] > m[33][1]);
    }

    #[test]
    fn a_distorted_mesh_shows_in_the_misfit() {
        let c = canon();
        let mut m = posed(&c, 5.0, 0.0, 0.0);
        m[4][1] += 30.0;
        let p = head_pose(&m, &c).unwrap();
        assert!(p.misfit > 0.05, "{p:?}");
    }

    #[test]
    fn degenerate_or_short_meshes_give_no_pose() {
        let c = canon();
        assert!(head_pose(&[[0.0; 3]; 10], &c).is_none());
        assert!(head_pose(&vec![[1.0, 1.0, 1.0]; MESH_POINTS], &c).is_none());
        assert!(head_pose(&vec![[f32::NAN; 3]; MESH_POINTS], &c).is_none());
    }

    fn message(vertices: &[f32], basis: &[(u64, f32)]) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        let mut mesh = Vec::new();
        varint(&mut mesh, 1 << 3);
        varint(&mut mesh, 0);
        for v in vertices {
            varint(&mut mesh, (3 << 3) | 5);
            mesh.extend(v.to_le_bytes());
        }
        let mut out = Vec::new();
        varint(&mut out, (1 << 3) | 2);
        varint(&mut out, mesh.len() as u64);
        out.extend(mesh);
        for &(id, w) in basis {
            let mut r = Vec::new();
            varint(&mut r, 1 << 3);
            varint(&mut r, id);
            varint(&mut r, (2 << 3) | 5);
            r.extend(w.to_le_bytes());
            varint(&mut out, (2 << 3) | 2);
            varint(&mut out, r.len() as u64);
            out.extend(r);
        }
        varint(&mut out, 3 << 3);
        varint(&mut out, 1);
        out
    }

    #[test]
    fn parses_the_metadata_message_and_refuses_broken_ones() {
        let vertices: Vec<f32> = (0..MESH_POINTS * 5).map(|i| i as f32).collect();
        let basis = [(4, 0.5), (33, 0.25), (263, 0.25), (168, 0.1)];
        let c = CanonicalFace::parse(&message(&vertices, &basis)).unwrap();
        assert_eq!(c.basis().len(), 4);
        assert_eq!(c.basis()[1].0, 33);
        assert_eq!(c.basis()[1].1, [165.0, 166.0, 167.0]);
        assert_eq!(c.basis()[0].2, 0.5);
        // Too few vertices, a landmark id out of range, truncated bytes.
        assert!(CanonicalFace::parse(&message(&vertices[..100], &basis)).is_err());
        assert!(CanonicalFace::parse(&message(&vertices, &[(999, 1.0); 4])).is_err());
        let whole = message(&vertices, &basis);
        assert!(CanonicalFace::parse(&whole[..whole.len() / 2]).is_err());
        assert!(CanonicalFace::parse(b"").is_err());
    }
}
