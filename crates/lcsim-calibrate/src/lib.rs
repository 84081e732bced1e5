//! Calibration: measures real local transformer throughput (candle) and real cloud round trips
//! (HTTP) and writes them as profiles the engine uses. Prints nothing: progress goes through
//! callbacks, results are returned.

pub mod fit;
pub mod model;
pub mod cloud;
pub mod local;
pub mod provenance;
