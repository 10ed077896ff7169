//! Job configuration: one TOML schema shared by `vstyle image`, `vstyle video`
//! and `vstyle run`, split by concern (input, output, style, model, loss,
//! optimizer, run). Unknown keys are rejected; every error names the file and
//! the key (and the line, where the TOML parser knows it).

mod check;
mod defaults;
mod load;
mod merge;
mod schema;

pub use check::{
    MAX_CUT_SEARCH, MAX_EVALUATIONS, MAX_FPS, MAX_HISTORY, MAX_ITERATIONS, MAX_LONG_TERM_OFFSET,
    MAX_LONG_TERM_TERMS, MAX_PASSES, MAX_PATTERN_WIDTH, MAX_SEAM_WINDOW, MAX_SIZE, MAX_STEP,
    MAX_STOP_WINDOW, MIN_SIZE,
};
pub use defaults::{vstyle_home, LossWeights};
pub use merge::{parse_override, Flag};
pub use schema::{
    BatchConfig, InitKind, InputConfig, JobConfig, LineSearchKind, LossConfig, ModelConfig,
    ModelName, OptimizerConfig, OutputConfig, PoolingKind, RunConfig, ShardsConfig, StyleChoice,
    StyleConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("--set {0}: expected KEY=VALUE, e.g. optimizer.frame_iterations=50")]
    BadOverride(String),
}

#[cfg(test)]
mod tests;
