//! The routing settings, loaded whole: the single target, the table inline or in a file, and
//! every problem each can have.

use crate::config::test_support::{base, load, settings, with};
use crate::policy::Policy;
use crate::policy::Routes;

#[test]
fn target_queues_are_names_or_queue_urls() {
    let queues = "text-jobs, https://sqs.us-east-1.amazonaws.com/123456789012/other.fifo";
    let aws = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ];
    let c = load(&with(with(base(), &aws), &[("TARGET_QUEUES", queues)])).unwrap();
    assert_eq!(
        c.routes.routes()[0].queues,
        [
            "text-jobs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/other.fifo"
        ]
    );
    for bad in [
        "jobs/../x",
        "http://sqs.eu-west-1.amazonaws.com/1/jobs",
        "https://sqs.eu-west-1.amazonaws.com/jobs",
        // 81 characters: one more than SQS allows.
        "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "has space",
    ] {
        let err = load(&with(with(base(), &aws), &[("TARGET_QUEUES", bad)])).unwrap_err();
        assert_eq!(settings(&err), ["TARGET_QUEUES"], "{bad}: {err}");
    }
    // In a table, a URL routes by its queue's name, once.
    let table = r#"[{"queues":["jobs"],"namespace":"ml","deployment":"a","max_replicas":3},
                    {"queues":["https://sqs.eu-west-1.amazonaws.com/1/jobs"],"namespace":"ml","deployment":"b","max_replicas":3}]"#;
    let mut vars: Vec<(&str, &str)> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
        .collect();
    vars.extend(aws);
    vars.push(("SCALER_TARGETS", table));
    let err = load(&vars).unwrap_err();
    assert!(err.to_string().contains("already routed"), "{err}");
}

#[test]
fn the_single_target_names_its_alarms_and_wake_alarms() {
    let c = load(&with(
        base(),
        &[
            ("TARGET_ALARMS", " qs-backlog-high , qs-backlog-wake,"),
            ("TARGET_WAKE_ALARMS", "qs-backlog-wake"),
        ],
    ));
    // Listing an alarm as both is refused, naming both settings.
    let err = c.unwrap_err();
    assert_eq!(
        settings(&err),
        ["TARGET_ALARMS/TARGET_WAKE_ALARMS"],
        "{err}"
    );
    let c = load(&with(
        base(),
        &[
            ("TARGET_ALARMS", "qs-backlog-high"),
            ("TARGET_WAKE_ALARMS", "qs-backlog-wake"),
        ],
    ))
    .unwrap();
    assert_eq!(
        c.routes.alarm_names(),
        ["qs-backlog-high", "qs-backlog-wake"]
    );
    assert!(c.routes.is_wake("qs-backlog-wake"));
    let err = load(&with(
        base(),
        &[
            ("SCALER_TARGETS", "/etc/targets.json"),
            ("TARGET_ALARMS", "a"),
        ],
    ))
    .unwrap_err();
    assert!(settings(&err).contains(&"TARGET_ALARMS"), "{err}");
}

#[test]
fn a_table_row_may_name_wake_alarms_once() {
    let table = r#"[{"alarms":["a-high"],"wake_alarms":["a-wake"],"namespace":"ml","deployment":"a","min_replicas":0,"max_replicas":2},
                    {"wake_alarms":["a-wake"],"namespace":"ml","deployment":"b","max_replicas":2}]"#;
    let vars: Vec<(&str, &str)> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
        .collect();
    let err = load(&with(vars.clone(), &[("SCALER_TARGETS", table)])).unwrap_err();
    assert_eq!(settings(&err), ["SCALER_TARGETS[1]"], "{err}");
    assert!(
        err.to_string()
            .contains("already routed by SCALER_TARGETS[0]"),
        "{err}"
    );
    let table = r#"[{"alarms":["a-high"],"wake_alarms":["a-wake"],"namespace":"ml","deployment":"a","min_replicas":0,"max_replicas":2}]"#;
    let c = load(&with(vars, &[("SCALER_TARGETS", table)])).unwrap();
    assert!(c.routes.is_wake("a-wake"));
}

#[test]
fn every_policy_problem_is_reported_together() {
    let err = load(&with(
        base(),
        &[
            ("MIN_REPLICAS", "-1"),
            ("SCALE_STEP", "0"),
            ("MESSAGES_PER_REPLICA", "0"),
        ],
    ))
    .unwrap_err();
    assert_eq!(
        settings(&err),
        ["MIN_REPLICAS", "SCALE_STEP", "MESSAGES_PER_REPLICA"],
        "{err}"
    );
}

#[test]
fn min_above_max_is_refused() {
    let err = load(&with(base(), &[("MIN_REPLICAS", "5")])).unwrap_err();
    assert_eq!(settings(&err), ["MIN_REPLICAS/MAX_REPLICAS"]);
    assert!(
        err.to_string().contains("min 5 is greater than max 4"),
        "{err}"
    );
}

#[test]
fn kubernetes_names_that_could_escape_the_path_are_refused() {
    let err = load(&with(
        base(),
        &[
            ("TARGET_DEPLOYMENT", "../secrets"),
            ("TARGET_NAMESPACE", "ML"),
        ],
    ))
    .unwrap_err();
    assert_eq!(
        settings(&err),
        ["TARGET_NAMESPACE", "TARGET_DEPLOYMENT"],
        "{err}"
    );
}

#[test]
fn routing_table_loads_from_json_or_a_file() {
    let table = r#"[{"alarms":["a-high","a-low"],"queues":["a-jobs"],"namespace":"ml","deployment":"model-a","min_replicas":2,"max_replicas":8,"messages_per_replica":50},
                    {"queues":["b-jobs"],"namespace":"ml","deployment":"model-b","max_replicas":4,"scale_step":2}]"#;
    let vars: Vec<_> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
        .collect();
    let c = load(&with(vars.clone(), &[("SCALER_TARGETS", table)])).unwrap();
    let Routes::Table(routes) = &c.routes else {
        panic!("table expected")
    };
    assert_eq!(routes.len(), 2);
    assert_eq!(
        routes[1].target.policy,
        Policy {
            min: 1,
            max: 4,
            step: 2,
            messages_per_replica: None
        }
    );
    let c = load(&with(
        vars.clone(),
        &[("SCALER_TARGETS", "/etc/targets.json")],
    ))
    .unwrap();
    assert_eq!(c.routes.targets()[0].deployment, "m");
    let err = load(&with(vars, &[("SCALER_TARGETS", "/nope.json")])).unwrap_err();
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[test]
fn a_table_too_large_for_lambdas_environment_says_where_the_file_goes() {
    let vars: Vec<_> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
        .collect();
    let row = |i: usize| {
        format!(
            r#"{{"alarms":["model-{i}-backlog-high","model-{i}-backlog-low"],"queues":["model-{i}-jobs"],"namespace":"ml","deployment":"model-{i}","max_replicas":4}}"#
        )
    };
    // About twenty targets no longer fit in Lambda's 4 KB of environment.
    // The test settings are 'static, as the environment is.
    let big: &'static str = format!("[{}]", (0..30).map(row).collect::<Vec<_>>().join(",")).leak();
    assert!(big.len() > 4096, "{}", big.len());
    let err = load(&with(vars.clone(), &[("SCALER_TARGETS", big)])).unwrap_err();
    assert_eq!(settings(&err), ["SCALER_TARGETS"], "{err}");
    for says in [
        &format!("is {} bytes of JSON", big.len()),
        "4 KB",
        "SCALER_TARGETS_FILE",
        "SCALER_TARGETS=/var/task/targets.json",
    ] {
        assert!(err.to_string().contains(says), "{says:?} not in: {err}");
    }
    // Near the limit and cut short: the error says the limit may be why.
    let cut = &big[..3500];
    let err = load(&with(vars.clone(), &[("SCALER_TARGETS", cut)])).unwrap_err();
    assert!(
        err.to_string().contains("is not a valid routing table")
            && err.to_string().contains("near Lambda's 4 KB limit")
            && err.to_string().contains("/var/task/targets.json"),
        "{err}"
    );
    // A short invalid table is only invalid.
    let err = load(&with(vars.clone(), &[("SCALER_TARGETS", "[{")])).unwrap_err();
    assert!(!err.to_string().contains("4 KB"), "{err}");
    // The file is not where SCALER_TARGETS says: where it must be.
    let err = load(&with(
        vars.clone(),
        &[("SCALER_TARGETS", "/var/task/targets.json")],
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("names no file")
            && err.to_string().contains("No such file")
            && err.to_string().contains("beside bootstrap")
            && err.to_string().contains("SCALER_TARGETS_FILE"),
        "{err}"
    );
    // A file that is there loads, whatever its size.
    let c = load(&with(vars, &[("SCALER_TARGETS", "/etc/targets.json")])).unwrap();
    assert_eq!(c.routes.targets().len(), 1);
}

#[test]
fn routing_table_problems_name_the_row() {
    let table = r#"[{"alarms":["x"],"namespace":"ml","deployment":"a","max_replicas":2,"min_replicas":3},
                    {"alarms":["x"],"namespace":"ml","deployment":"b","max_replicas":2},
                    {"namespace":"ml","deployment":"c","max_replicas":2}]"#;
    let vars: Vec<_> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
        .collect();
    let err = load(&with(vars, &[("SCALER_TARGETS", table)])).unwrap_err();
    assert_eq!(
        settings(&err),
        [
            "SCALER_TARGETS[0].min_replicas/SCALER_TARGETS[0].max_replicas",
            "SCALER_TARGETS[1]",
            "SCALER_TARGETS[2]"
        ],
        "{err}"
    );
}

#[test]
fn routing_table_with_single_target_variables_is_ambiguous() {
    let err = load(&with(base(), &[("SCALER_TARGETS", "[]")])).unwrap_err();
    assert!(settings(&err).contains(&"TARGET_NAMESPACE"), "{err}");
}

#[test]
fn unknown_fields_in_the_table_are_refused() {
    let vars: Vec<_> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET") && !k.ends_with("REPLICAS"))
        .collect();
    let err = load(&with(
        vars,
        &[(
            "SCALER_TARGETS",
            r#"[{"alarms":["x"],"namespace":"ml","deployment":"a","max_replica":2}]"#,
        )],
    ))
    .unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn a_worker_role_is_an_iam_role_arn_kept_for_its_target() {
    let role = "arn:aws:iam::123456789012:role/model-WorkerRole-1A";
    let c = load(&with(base(), &[("TARGET_WORKER_ROLE", role)])).unwrap();
    let target = &c.routes.routes()[0].target;
    assert_eq!(
        c.worker_roles.of(target).map(|r| r.name.as_str()),
        Some("model-WorkerRole-1A")
    );
    let c = load(&base()).unwrap();
    assert_eq!(c.worker_roles.of(&c.routes.routes()[0].target), None);
    let err = load(&with(
        base(),
        &[("TARGET_WORKER_ROLE", "model-WorkerRole-1A")],
    ))
    .unwrap_err();
    assert_eq!(settings(&err), ["TARGET_WORKER_ROLE"], "{err}");
    assert!(err.to_string().contains("WorkerRoleArn"), "{err}");
    // In a table, each entry names its own; a bad one is named by its entry.
    let table = r#"[{"queues":["a"],"namespace":"ml","deployment":"a","max_replicas":3,
                     "worker_role":"arn:aws:iam::123456789012:role/a-role"},
                    {"queues":["b"],"namespace":"ml","deployment":"b","max_replicas":3,
                     "worker_role":"arn:aws:iam::123456789012:user/b"}]"#;
    let mut vars: Vec<(&str, &str)> = base()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("TARGET_") && !k.ends_with("_REPLICAS"))
        .collect();
    vars.push(("SCALER_TARGETS", table));
    let err = load(&vars).unwrap_err();
    assert_eq!(settings(&err), ["SCALER_TARGETS[1].worker_role"], "{err}");
    // Given beside a table, the single target's variable is refused, as the others are.
    vars.push(("TARGET_WORKER_ROLE", role));
    let err = load(&vars).unwrap_err();
    assert!(settings(&err).contains(&"TARGET_WORKER_ROLE"), "{err}");
}
