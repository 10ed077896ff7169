//! The farm layer: many clips and many workers. Uses the job layer only.
//!
//! * [`batch`]: a job file listing clips and styles, one output per pair.
//! * [`status`]: what is done, partial (per shard) and pending.
//! * [`workers`]: `--workers K`, shards as local worker processes.
pub mod batch;
pub mod status;
pub mod workers;
