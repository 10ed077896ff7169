//! The farm layer: many clips and many workers. Uses the job layer only.
//!
//! * [`batch`]: a job file listing clips and styles, one output per pair.
//! * [`index`]: a batch's HTML index page, linking each entry's report.
//! * [`status`]: what is done, partial (per shard) and pending.
//! * [`workers`]: `--workers K`, shards as local worker processes.
//! * [`slurm`]: sbatch scripts that spread a job's shards over a cluster
//!   (`vstyle run JOB --shard N` per array task) and join them.
pub mod batch;
pub mod index;
pub mod slurm;
pub mod status;
pub mod workers;
