//! `photocheck submit` as a window system uses it: a file that is not a photo is refused and
//! reported like a failed photo (exit 1), not as a system error; a file with a Chinese name
//! uploads; `--wait` gives up at its deadline and names the photos still open (exit 2).

use crate::harness::*;
use photocheck_pipeline::submit::{submit, SubmitOptions};
use std::time::Duration;

fn options(api: &Api, dir: &std::path::Path, wait: bool) -> SubmitOptions {
    SubmitOptions {
        api: api.url.clone(),
        token: TOKEN_W1.into(),
        concurrency: 2,
        wait,
        wait_timeout: Duration::from_secs(2),
        poll_interval: Duration::from_millis(100),
        max_attempts: 2,
        profile: None,
        paths: vec![dir.to_path_buf()],
        tls: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_files_chinese_names_and_the_wait_deadline() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("张三_440106.jpg"), photos(1).remove(0)).unwrap();
    std::fs::write(dir.path().join("notes.jpg"), b"not a photo at all").unwrap();

    // No worker runs: the photo is accepted, the text file refused, and the wait ends at its
    // deadline with the open photo reported.
    let mut out = Vec::new();
    let report = submit(options(&api, dir.path(), true), &mut out)
        .await
        .unwrap();
    assert_eq!(report.photos.len(), 2);
    let photo = report
        .photos
        .iter()
        .find(|p| p.path.ends_with("张三_440106.jpg"))
        .unwrap();
    let id = photo
        .id
        .clone()
        .expect("the Chinese-named photo was accepted");
    let open = photo.error.as_deref().unwrap_or_default();
    assert!(open.contains("no result") && open.contains(&id), "{open}");
    let text = report
        .photos
        .iter()
        .find(|p| p.path.ends_with("notes.jpg"))
        .unwrap();
    assert!(text.id.is_none() && text.error.is_none());
    assert!(text.refused.as_deref().unwrap().contains("415"));
    assert_eq!(report.exit_code(), 2, "a photo still open is not a success");
    assert!(out.is_empty());

    // Without --wait the same folder ends 1: the refused file is the photo's fault.
    let report = submit(options(&api, dir.path(), false), &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(report.refused(), 1);
    assert_eq!(report.accepted(), 1);
    assert_eq!(report.exit_code(), 1);
}
