//! Paths shared by the integration tests.
#![allow(dead_code)]
use std::path::PathBuf;

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
