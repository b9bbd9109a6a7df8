//! The benchmark harness, run once (`--quick`) against debug builds: every scenario runs through
//! its loop and the numbers section comes out. No time or memory figure is checked, only that
//! there are figures, and that the request counts show the caching the design promises.

use std::path::Path;
use std::process::Command;

#[test]
fn the_harness_runs_every_scenario_once_and_writes_the_numbers_section() {
    let harness = Path::new(env!("CARGO_BIN_EXE_bench-harness"));
    let profile_dir = harness
        .parent()
        .expect("the harness is in a target directory");
    // `scale-up` belongs to another package, so cargo does not build it for this test: build it
    // here, into the same target directory (a no-op when it is up to date).
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "-p", "queue-scaler-lambda", "--bin", "scale-up"]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building scale-up failed: {status}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    let numbers = work.join("numbers.md");
    let _ = std::fs::remove_file(&numbers);
    let output = Command::new(harness)
        .arg("--quick")
        .arg("--function")
        .arg(profile_dir.join("scale-up"))
        .arg("--floor")
        .arg(env!("CARGO_BIN_EXE_hello"))
        .arg("--event")
        .arg(root.join("events/alarm-high-backlog.json"))
        .arg("--work-dir")
        .arg(&work)
        .arg("--out")
        .arg(&numbers)
        .output()
        .expect("the harness runs");
    assert!(
        output.status.success(),
        "the harness failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let section = std::fs::read_to_string(&numbers).expect("the numbers section was written");
    for heading in [
        "### Start-up",
        "### Invocations",
        "### HTTP requests per invocation",
        "### Memory",
        "### Where a cold invocation's time goes",
    ] {
        assert!(section.contains(heading), "no {heading:?} in:\n{section}");
    }
    assert!(
        !section.contains("not measured"),
        "a scenario produced no samples:\n{section}"
    );
    // Columns: token, sts, impersonate, discovery, deployment_get, scale_put, event, rearm, other,
    // total. `other` is the queue read, which the bench's SQS endpoint refuses at once (no SQS
    // there), and, cold, the read of the Lease of the GPU pool the Deployment's nodeSelector
    // matches (none is applied: not capped), once per container.
    for (row, what) in [
        (
            "| cold, key | 1 | 0 | 0 | 1 | 1 | 1 | 1 | 1 | 2 | 8 |",
            "a cold invocation with a key should fetch a token, discover the cluster, read the Deployment and once the pool's Lease, write the scale, record its Event and re-arm",
        ),
        (
            "| warm (second), key | 0 | 0 | 0 | 0 | 1 | 1 | 1 | 1 | 1 | 5 |",
            "a warm invocation should make no token or discovery request",
        ),
        (
            "| cold, keyless | 0 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 2 | 9 |",
            "a keyless cold invocation should exchange and impersonate once each, then go on as with a key",
        ),
        (
            "| warm (second), keyless | 0 | 0 | 0 | 0 | 1 | 1 | 1 | 1 | 1 | 5 |",
            "a keyless warm invocation should make no token request",
        ),
    ] {
        assert!(section.contains(row), "{what}:\n{section}");
    }
}
