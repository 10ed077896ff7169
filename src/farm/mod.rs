//! Render farms: scripts that split a job file over a cluster's workers
//! (`vstyle run JOB --shard N`) and join the shards (`vstyle join JOB`).
pub mod slurm;
