//! A clip split for parallel runs: the shards and the frames each run
//! covers (`plan`), and the calm frames where neighbouring shards meet
//! (`cuts`).
pub mod cuts;
pub mod plan;
