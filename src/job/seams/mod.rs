//! `vstyle join`: the shards' frames joined into one clip, each seam's
//! window re-optimised over several passes (`join`) from a cross-faded
//! start (`crossfade`).
pub(crate) mod crossfade;
pub mod join;
