//! The work on disk: where a job writes (`outputs`), checked against what
//! it reads (`collisions`); the resumable work directory (`workdir`), its
//! one writer (`lock`) and the identity of the inputs it was made from
//! (`inputs`).
pub mod collisions;
pub mod inputs;
pub mod lock;
pub mod outputs;
pub mod workdir;
