//! Sizes of what is deployed: the release binary (`bootstrap`) and the deployment zip of each
//! function, per architecture, as `make bench` lays them out with `cargo lambda build
//! --lambda-dir`: `DIR/{x86_64,arm64}/{bin/NAME/bootstrap,zip/NAME/bootstrap.zip}`.
//! I/O: file metadata.

use std::path::Path;

/// The architectures, as AWS Lambda names them.
pub const ARCHES: [&str; 2] = ["x86_64", "arm64"];

/// One function on one architecture; sizes in bytes, `None` when it was not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `x86_64` or `arm64`.
    pub arch: &'static str,
    /// The binary's name.
    pub function: String,
    /// The stripped release binary.
    pub binary: Option<u64>,
    /// The zip that is uploaded to Lambda.
    pub zip: Option<u64>,
}

/// Look up every function on every architecture under `lambda_dir`.
pub fn collect(lambda_dir: &Path, functions: &[&str]) -> Vec<Artifact> {
    let size = |path: &Path| std::fs::metadata(path).ok().map(|m| m.len());
    ARCHES
        .iter()
        .flat_map(|arch| {
            functions.iter().map(move |function| {
                let base = lambda_dir.join(arch);
                Artifact {
                    arch,
                    function: (*function).to_owned(),
                    binary: size(&base.join("bin").join(function).join("bootstrap")),
                    zip: size(&base.join("zip").join(function).join("bootstrap.zip")),
                }
            })
        })
        .collect()
}
