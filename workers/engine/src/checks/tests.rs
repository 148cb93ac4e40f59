//! The checks together: every check in the contract's order on a compliant case, and an
//! undecodable file. Each family's rules are tested in its own file (`rule_tests`).
use super::testkit::*;
use super::*;

#[test]
fn a_compliant_photo_passes_every_check_in_the_contract_order() {
    let checks = Case::good().run();
    let codes: Vec<CheckCode> = checks.iter().map(|c| c.code).collect();
    assert_eq!(codes.len(), 30);
    assert_eq!(codes[0], CheckCode::FileDecodable);
    assert_eq!(codes[28], CheckCode::BackgroundUniformity);
    assert_eq!(codes[29], CheckCode::ClothingColor);
    // The subject checks follow pose.roll, in a fixed order.
    let roll = codes
        .iter()
        .position(|&c| c == CheckCode::PoseRoll)
        .unwrap();
    assert_eq!(
        codes[roll + 1..roll + 6],
        [
            CheckCode::PoseYaw,
            CheckCode::PosePitch,
            CheckCode::FaceEyesOpen,
            CheckCode::FaceMouthClosed,
            CheckCode::FaceExpression,
        ]
    );
    // Then glasses, occlusion and head covering, in the contract's order.
    assert_eq!(
        codes[roll + 6..roll + 9],
        [
            CheckCode::FaceGlasses,
            CheckCode::FaceOcclusion,
            CheckCode::FaceHeadCovering,
        ]
    );
    assert!(checks.iter().all(|c| !c.uncertain), "{checks:?}");
    for c in &checks {
        assert_eq!(c.status, Status::Pass, "{}: {}", c.code, c.message);
        assert!(!c.message.is_empty());
    }
    assert_eq!(Verdict::from_checks(&checks), Verdict::Pass);
}

#[test]
fn an_undecodable_file_fails_once_and_skips_the_rest() {
    let err = DecodeError::Truncated;
    let obs = Observation {
        file_len: 6000,
        header: None,
        decode_error: Some(&err),
        ..Observation::default()
    };
    let checks = evaluate(&obs, &Profile::ga461());
    let failed: Vec<CheckCode> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.code)
        .collect();
    assert!(failed.contains(&CheckCode::FileDecodable));
    assert!(
        checks
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .count()
            >= 15
    );
    assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
}
