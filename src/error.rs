//! The library's error type: each variant's message is one line that names
//! the file (and key or tensor) at fault.
use crate::config::ConfigError;
use crate::device::DeviceError;
use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("{file}: {message}")]
    Image { file: String, message: String },
    #[error("{file}: cannot write: {message}")]
    Output { file: String, message: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
