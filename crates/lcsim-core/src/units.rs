//! Time units shared by every module (a leaf: imports nothing). Simulated time is in
//! milliseconds throughout; these convert the hours, days, months and years scenarios use.

pub const MS_PER_HOUR: f64 = 3_600_000.0;
pub const MS_PER_DAY: f64 = 24.0 * MS_PER_HOUR;
/// A month of 730 hours (8760 h / 12), the billing convention of AWS, Azure and GCP price lists.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// A year of 8760 hours.
pub const MS_PER_YEAR: f64 = 8760.0 * MS_PER_HOUR;
