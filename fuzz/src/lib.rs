//! The decoders under fuzzing, compiled from spanlens's own sources without the rest of the crate
//! (DataFusion, Arrow, the AWS SDK), so that a fuzz build takes a minute, not half an hour. The
//! module paths are those of spanlens, so the files compile here unchanged.

pub mod ingest;
pub mod model;
