//! `deploy/` cannot run here; these tests parse every manifest and check that the pieces agree
//! with each other and with the code (queue names and arguments, ports, config keys).

use photocheck_config::AmqpSection;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml_docs(path: &Path) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn k8s() -> Vec<serde_yaml::Value> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(deploy().join("k8s")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            docs.extend(yaml_docs(&path));
        }
    }
    docs
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str, name: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
}

#[test]
fn kubernetes_manifests_parse_and_fit_together() {
    let docs = k8s();
    for d in &docs {
        assert!(
            d["apiVersion"].is_string() && d["kind"].is_string(),
            "{d:?}"
        );
    }
    let kustomization = yaml_docs(&deploy().join("k8s/kustomization.yaml"));
    for r in kustomization[0]["resources"].as_sequence().unwrap() {
        assert!(
            deploy().join("k8s").join(r.as_str().unwrap()).exists(),
            "{r:?}"
        );
    }

    let worker = find(&docs, "Deployment", "photocheck-worker");
    let api = find(&docs, "Deployment", "photocheck-api");
    find(&docs, "Service", "photocheck-api");
    find(&docs, "PodDisruptionBudget", "photocheck-worker");
    find(&docs, "PodDisruptionBudget", "photocheck-api");
    let secret = find(&docs, "Secret", "photocheck-secrets");
    let scaled = find(&docs, "ScaledObject", "photocheck-worker");

    // KEDA scales the worker Deployment on the jobs queue.
    assert_eq!(
        scaled["spec"]["scaleTargetRef"]["name"],
        "photocheck-worker"
    );
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "rabbitmq");
    assert_eq!(
        trigger["metadata"]["queueName"],
        AmqpSection::default().jobs_queue.as_str()
    );
    let auth = find(&docs, "TriggerAuthentication", "photocheck-rabbitmq");
    let key = auth["spec"]["secretTargetRef"][0]["key"].as_str().unwrap();
    assert!(secret["stringData"][key].is_string());

    // Workers get longer to stop than their own drain grace period.
    let cm = find(&docs, "ConfigMap", "photocheck-config");
    let toml_text = cm["data"]["photocheck.toml"].as_str().unwrap();
    let file: photocheck_config::Config =
        toml::from_str(toml_text).expect("ConfigMap holds a valid config");
    let grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(grace > file.worker.grace_period_s);
    let console = find(&docs, "Deployment", "photocheck-console");
    find(&docs, "Service", "photocheck-console");
    find(&docs, "NetworkPolicy", "photocheck-console");
    for deployment in [worker, api, console] {
        let c = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert!(c["resources"]["requests"]["cpu"].is_string());
        assert!(c["resources"]["requests"]["memory"].is_string());
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    }
    // TLS everywhere: the files the config names are where the Deployments mount them, the
    // plain-text warnings of Config::security_warnings are all answered, and no secret sits in
    // the ConfigMap.
    let mounted = |deployment: &serde_yaml::Value, path: &str| {
        deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
    };
    for path in [
        &file.api.tls.cert_file,
        &file.api.tls.key_file,
        &file.api.tls.client_ca_file,
        &file.tls.ca_file,
    ] {
        assert!(mounted(api, path), "{path} not mounted in the API");
    }
    assert!(mounted(worker, &file.tls.ca_file));
    for path in [
        &file.console.tls.cert_file,
        &file.console.tls.key_file,
        &file.tls.ca_file,
    ] {
        assert!(mounted(console, path), "{path} not mounted in the console");
    }
    assert!(file.s3.endpoint.starts_with("https://"));
    assert!(file.central.url.starts_with("https://"));
    assert!(secret["stringData"]["PHOTOCHECK__AMQP__URL"]
        .as_str()
        .unwrap()
        .starts_with("amqps://"));
    for secret_key in ["secret", "secret_key", "access_key", "token", "tokens"] {
        assert!(
            !toml_text.contains(&format!("{secret_key} =")),
            "{secret_key} in the ConfigMap"
        );
    }
    // Every pod is covered by a NetworkPolicy, starting from a default deny.
    let deny = find(&docs, "NetworkPolicy", "default-deny");
    assert!(deny["spec"]["podSelector"].as_mapping().unwrap().is_empty());
    find(&docs, "NetworkPolicy", "photocheck-api");
    find(&docs, "NetworkPolicy", "photocheck-worker");
    find(&docs, "Ingress", "photocheck-api");
    // Secret keys are PHOTOCHECK__ variables of real config keys (or KEDA's `host`).
    for (k, _) in secret["stringData"].as_mapping().unwrap() {
        let k = k.as_str().unwrap();
        assert!(k == "host" || k.starts_with("PHOTOCHECK__"), "{k}");
    }
}

#[test]
fn compose_file_parses_and_names_the_services() {
    let compose = &yaml_docs(&deploy().join("compose.yaml"))[0];
    for service in ["rabbitmq", "minio", "api", "worker", "receiver"] {
        assert!(compose["services"][service].is_mapping(), "{service}");
    }
    assert_eq!(compose["services"]["worker"]["command"][0], "worker");
    assert_eq!(compose["services"]["api"]["command"][0], "serve");
    assert!(deploy().join("Dockerfile").exists());
}

#[test]
fn rabbitmq_definitions_match_what_the_code_declares() {
    let text = std::fs::read_to_string(deploy().join("rabbitmq/definitions.json")).unwrap();
    let defs: serde_json::Value = serde_json::from_str(&text).unwrap();
    let amqp = AmqpSection::default();
    let queue = |name: &str| {
        defs["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .unwrap_or_else(|| panic!("queue {name} missing"))
            .clone()
    };
    let as_json = |args: lapin::types::FieldTable| -> serde_json::Value {
        args.inner()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    lapin::types::AMQPValue::LongString(s) => {
                        serde_json::Value::from(String::from_utf8_lossy(s.as_bytes()).into_owned())
                    }
                    lapin::types::AMQPValue::LongLongInt(n) => serde_json::Value::from(*n),
                    other => panic!("unexpected {other:?}"),
                };
                (k.as_str().to_owned(), v)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    // Same arguments as the code's declare, or declaring would fail with PRECONDITION_FAILED.
    let jobs = queue(&amqp.jobs_queue);
    assert_eq!(jobs["durable"], true);
    assert_eq!(
        jobs["arguments"],
        as_json(photocheck_pipeline::broker::jobs_queue_args(&amqp))
    );
    let deliveries = queue(&amqp.deliveries_queue);
    assert_eq!(
        deliveries["arguments"],
        as_json(photocheck_pipeline::broker::deliveries_queue_args(&amqp))
    );
    // Nothing is dead-lettered at most once: both dead-letter at least once, with a target.
    for q in [&jobs, &deliveries] {
        assert_eq!(q["arguments"]["x-dead-letter-strategy"], "at-least-once");
        assert!(q["arguments"]["x-delivery-limit"].as_i64().unwrap() > 0);
    }
    for name in [&amqp.dead_letter_queue, &amqp.parking_queue] {
        assert_eq!(queue(name)["arguments"]["x-queue-type"], "quorum");
    }
    // The console's queues: declared alike and bound to the results exchange as the code does.
    for (name, args, key) in photocheck_pipeline::broker::console_queues(&amqp) {
        assert_eq!(queue(name)["arguments"], as_json(args), "{name}");
        let bound = defs["bindings"].as_array().unwrap().iter().any(|b| {
            b["source"] == amqp.results_exchange.as_str()
                && b["destination"] == name
                && b["routing_key"] == key
        });
        assert!(bound, "{name} is not bound to {key}");
    }
    // Dead letters and parked results are kept, bounded, for a stated time (retention).
    for queue_name in [&amqp.dead_letter_queue, &amqp.parking_queue] {
        let policy = defs["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                let pattern = p["pattern"].as_str().unwrap();
                pattern
                    .trim_start_matches('^')
                    .trim_end_matches('$')
                    .replace("\\.", ".")
                    == queue_name.as_str()
            })
            .unwrap_or_else(|| panic!("no retention policy for {queue_name}"));
        assert!(policy["definition"]["message-ttl"].as_u64().unwrap() >= 7 * 86_400_000);
        assert!(policy["definition"]["max-length"].as_u64().is_some());
    }
    let exchange = &defs["exchanges"][0];
    assert_eq!(exchange["name"], amqp.results_exchange.as_str());
    assert_eq!(exchange["type"], "topic");
}

#[test]
fn sample_config_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../photocheck.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    // The sample, as shipped, is a valid configuration.
    let parsed: Result<photocheck_config::Config, _> = toml::from_str(&text);
    parsed.unwrap_or_else(|e| panic!("photocheck.toml: {e}"));
    let defaults = toml::to_string(&photocheck_config::Config::default()).unwrap();
    let mut section = String::new();
    for line in defaults.lines() {
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').to_owned();
            continue;
        }
        if let Some((key, _)) = line.split_once(" = ") {
            // The pipeline's sections (the engine's own are documented by their owner).
            if ![
                "api", "amqp", "s3", "worker", "central", "submit", "console",
            ]
            .contains(&section.as_str())
            {
                continue;
            }
            let var = format!(
                "PHOTOCHECK__{}__{}",
                section.to_uppercase(),
                key.to_uppercase()
            );
            assert!(text.contains(&var), "photocheck.toml does not name {var}");
        }
    }
}

/// The API's library stays free of the engine (ONNX Runtime, libjpeg-turbo, the models): the
/// pipeline crate names no engine dependency, and the worker gets the engine as a `Checker`.
#[test]
fn the_pipeline_library_does_not_depend_on_the_engine() {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"),
    )
    .unwrap();
    let parsed: toml::Value = toml::from_str(&manifest).unwrap();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = parsed.get(table).and_then(|t| t.as_table()) {
            for forbidden in ["photocheck-engine", "ort", "turbojpeg", "image"] {
                assert!(
                    !deps.contains_key(forbidden),
                    "photocheck-pipeline's [{table}] names {forbidden}"
                );
            }
        }
    }
    assert!(parsed["dependencies"]
        .as_table()
        .unwrap()
        .contains_key("photocheck-profile"));
}
