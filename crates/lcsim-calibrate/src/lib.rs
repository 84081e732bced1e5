//! Calibration: measures real local transformer throughput (candle) and real cloud round trips
//! (HTTP) and writes them as profiles the engine uses. Prints nothing: progress goes through
//! callbacks, results are returned.

pub mod cloud;
pub mod fit;
pub mod local;
pub mod model;
pub mod provenance;
pub mod server;
