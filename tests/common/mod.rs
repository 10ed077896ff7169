//! The one place for the integration tests' set-up; each test file says
//! `mod common;` and takes what it needs:
//! * here: where the shipped media, the set-up's weights and Python, and
//!   the binary are;
//! * [`job`]: [`job::TinyJob`], the small job file the binary's tests run;
//! * [`run`]: running the binary ([`run::vstyle`], [`run::command`]) and
//!   asserting how it ended ([`run::succeeds`], [`run::fails`]);
//! * [`media`]: decoding and probing what a run wrote (pictures are compared
//!   with the library's `vstyle::imaging::mean_abs_diff`);
//! * [`fault`]: the fault-injection tests' seeded PRNG, deadline runs and
//!   the contract every run on bad input keeps;
//! * [`steady`]: a sharded clip's warping error against one run's.
#![allow(dead_code)]
pub mod fault;
pub mod job;
pub mod media;
pub mod run;
pub mod steady;

use std::path::PathBuf;

#[allow(unused_imports)]
pub use job::TinyJob;
#[allow(unused_imports)]
pub use run::{fails, fails_last, stderr, stdout, succeeds, vstyle};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Media shipped in the repository.
pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

pub fn vstyle_home() -> PathBuf {
    vstyle::config::vstyle_home()
}

/// Default weights made by scripts/setup.sh.
pub fn default_weights(name: &str) -> PathBuf {
    vstyle_home()
        .join("weights")
        .join(format!("{name}.safetensors"))
}

pub fn python() -> PathBuf {
    vstyle_home().join("venv/bin/python")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vstyle"))
}

/// A path as a `&str` argument.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
