//! Shared validators for scenario and profile values, and the number format of error messages.
//!
//! A leaf module: it imports nothing from the rest of the crate but [`Problem`].
//!
//! **Invariant (magnitude bound):** every real number a scenario or profile gives is finite and
//! at most [`MAX_MAGNITUDE`] in absolute value, and every value that must be positive is at
//! least [`MIN_POSITIVE`]. The engine multiplies a handful of such figures together (rate ×
//! hours × price × tokens …) and takes reciprocals of positive ones (rates from mean gaps); with
//! this bound a product of up to 20 of them stays below f64's largest value (1e15²⁰ = 1e300 <
//! 1.8e308), so no sum or mean in an output can overflow to infinity or NaN.

use crate::error::Problem;

/// The largest absolute value any scenario number may take (see the module's invariant).
pub const MAX_MAGNITUDE: f64 = 1e15;
/// The smallest value a key that must be positive may take: 1 / [`MAX_MAGNITUDE`].
pub const MIN_POSITIVE: f64 = 1.0 / MAX_MAGNITUDE;

/// A number as error messages print it: plain when it reads well, else in exponent form
/// (`1e308`, not a 309-digit integer).
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e9).contains(&v.abs()) {
        let plain = format!("{v}");
        if plain.len() <= 12 {
            plain
        } else {
            format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
        }
    } else {
        // Four significant digits at most: 2.222e11, 1e308.
        let short = format!("{v:.3e}");
        let (mantissa, exponent) = short.split_once('e').unwrap_or((&short, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exponent}")
    }
}

fn out_of_range(key: &str, what: &str, v: f64) -> Problem {
    Problem::new(key, format!("must be {what}, got {}", num(v)))
}

/// A positive number in [[`MIN_POSITIVE`], [`MAX_MAGNITUDE`]].
pub fn positive(key: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && (MIN_POSITIVE..=MAX_MAGNITUDE).contains(&v) {
        Ok(v)
    } else if v.is_finite() && v > 0.0 {
        Err(out_of_range(key, "a positive number from 1e-15 to 1e15", v)
            .hint("lcsim keeps every figure within 1e±15 so that no sum or product overflows"))
    } else {
        Err(out_of_range(key, "a positive number", v))
    }
}

/// Zero or a positive number up to [`MAX_MAGNITUDE`].
pub fn non_negative(key: &str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && (0.0..=MAX_MAGNITUDE).contains(&v) {
        Ok(v)
    } else if v.is_finite() && v > 0.0 {
        Err(out_of_range(key, "zero or a positive number up to 1e15", v)
            .hint("lcsim keeps every figure within 1e±15 so that no sum or product overflows"))
    } else {
        Err(out_of_range(key, "zero or a positive number", v))
    }
}

/// An optional amount: absent is 0.
pub fn optional_non_negative(key: &str, v: Option<f64>) -> Result<f64, Problem> {
    non_negative(key, v.unwrap_or(0.0))
}

/// A share in [0, 1].
pub fn share(key: &str, v: f64) -> Result<f64, Problem> {
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(out_of_range(key, "a share in [0, 1]", v)) }
}

/// An optional share: absent is 0.
pub fn optional_share(key: &str, v: Option<f64>) -> Result<f64, Problem> {
    share(key, v.unwrap_or(0.0))
}

/// A number in `[lo, hi]`, with the reason for the range as the hint.
pub fn within(key: &str, v: f64, lo: f64, hi: f64, why: &str) -> Result<f64, Problem> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(key, &format!("from {} to {}", num(lo), num(hi)), v).hint(why))
    }
}

/// A whole number of at least 1.
pub fn positive_count(key: &str, v: u32) -> Result<u32, Problem> {
    if v >= 1 { Ok(v) } else { Err(Problem::new(key, "must be at least 1")) }
}

/// A whole number from 1 to `max`, with the reason for the bound as the hint.
pub fn count_up_to(key: &str, v: u32, max: u32, why: &str) -> Result<u32, Problem> {
    if (1..=max).contains(&v) {
        Ok(v)
    } else {
        Err(Problem::new(key, format!("must be a whole number from 1 to {max}, got {v}")).hint(why))
    }
}

/// A present key that needs a value.
pub fn require<T: Copy>(key: &str, name: &str, v: Option<T>, what: &str) -> Result<T, Problem> {
    v.ok_or_else(|| {
        Problem::new(format!("{key}.{name}"), format!("{what} needs `{name}`"))
            .hint("`lcsim init` prints a scenario with every key explained")
    })
}

/// The keys a TOML table sets, in the order of its wire struct's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys(Vec<String>);

impl Keys {
    /// The keys `wire` sets: every key its serialization writes (wire structs skip an absent
    /// `Option`), less the keys in `always` (those every form of the table takes). One
    /// definition for every table, so a key added to a wire struct is checked without being
    /// listed again.
    pub fn of<T: serde::Serialize>(wire: &T, always: &[&str]) -> Keys {
        let keys = match serde_json::to_value(wire) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        Keys(keys.into_iter().filter(|k| !always.contains(&k.as_str())).collect())
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|k| k == key)
    }
}

/// Refuses the first of the `present` keys that `what` does not take.
pub fn only_keys(key: &str, present: &Keys, allowed: &[&str], what: &str) -> Result<(), Problem> {
    match present.0.iter().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            Err(Problem::new(format!("{key}.{k}"), format!("`{k}` does not apply to {what}")).hint(
                if allowed.is_empty() {
                    "remove it".to_string()
                } else {
                    format!("{what} takes: {}", allowed.join(", "))
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        assert_eq!(num(1e308), "1e308");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-3.0), "-3");
        assert_eq!(num(1e-300), "1e-300");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(2.2222222222322223e11), "2.222e11");
        assert_eq!(num(999999999.9999999), "1000000000");
        assert_eq!(num(1.0 / 3.0), "0.333333");
    }

    #[test]
    fn magnitude_bound_keeps_products_finite() {
        assert!(MAX_MAGNITUDE.powi(20).is_finite());
        assert!(positive("k", 1e300).is_err());
        assert!(positive("k", 1e-300).is_err());
        assert!(positive("k", 1e15).is_ok());
        assert!(non_negative("k", 0.0).is_ok());
        assert!(non_negative("k", f64::INFINITY).is_err());
        let e = positive("k", 1e308).unwrap_err();
        assert!(e.message.contains("1e308"), "{}", e.message);
    }
}
