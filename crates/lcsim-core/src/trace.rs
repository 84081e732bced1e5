//! Request traces: arrival timestamps with prompt and output token counts, parsed from CSV text.
//!
//! The format is that of the Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA
//! 2024; CC-BY-4.0): a header `TIMESTAMP,ContextTokens,GeneratedTokens`, then one row per
//! request. Timestamps are either `YYYY-MM-DD HH:MM:SS[.fraction]` (any number of fraction
//! digits, no time zone) or plain seconds. Line endings may be LF or CRLF, and the last row may
//! lack its newline. Column names are matched case-insensitively; `prompt_tokens` and
//! `output_tokens` are accepted as aliases. Quoted fields are not supported.

use std::sync::Arc;

/// A parsed trace: arrival offsets from the first request, and token counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Arrival time of each request in milliseconds after the first one, non-decreasing.
    pub arrival_ms: Arc<[f64]>,
    pub prompt_tokens: Arc<[u32]>,
    pub output_tokens: Arc<[u32]>,
}

impl Trace {
    pub fn len(&self) -> usize {
        self.arrival_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arrival_ms.is_empty()
    }

    /// Time from the first to the last arrival, in milliseconds.
    pub fn span_ms(&self) -> f64 {
        self.arrival_ms.last().copied().unwrap_or(0.0)
    }

    /// Mean gap between arrivals, in milliseconds (the gap used when a looped trace wraps).
    pub fn mean_gap_ms(&self) -> f64 {
        if self.len() < 2 { 0.0 } else { self.span_ms() / (self.len() - 1) as f64 }
    }
}

/// Splits CSV text into trimmed rows of fields, skipping blank lines. Handles CRLF.
pub fn csv_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| (n, line.split(',').map(str::trim).collect()))
}

/// The numeric values of one named column of CSV text.
pub fn csv_column(text: &str, column: &str) -> Result<Vec<f64>, String> {
    let mut rows = csv_rows(text);
    let (_, header) = rows.next().ok_or("the file is empty")?;
    let idx = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(column))
        .ok_or_else(|| format!("no column `{column}`; the header has: {}", header.join(", ")))?;
    rows.map(|(line, fields)| {
        let field = fields.get(idx).ok_or(format!("line {line}: missing column `{column}`"))?;
        field.parse::<f64>().map_err(|_| format!("line {line}: `{field}` is not a number"))
    })
    .collect()
}

/// Parses a trace file's text.
pub fn parse_trace(text: &str) -> Result<Trace, String> {
    let mut rows = csv_rows(text);
    let (_, header) = rows.next().ok_or("the trace file is empty")?;
    let find = |names: &[&str]| {
        header.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n))).ok_or_else(
            || format!("no column named {}; the header has: {}", names[0], header.join(", ")),
        )
    };
    let t_idx = find(&["TIMESTAMP", "timestamp_s", "time_s"])?;
    let p_idx = find(&["ContextTokens", "prompt_tokens"])?;
    let o_idx = find(&["GeneratedTokens", "output_tokens"])?;
    let (mut times, mut prompt, mut output) = (Vec::new(), Vec::new(), Vec::new());
    for (line, fields) in rows {
        let get = |i: usize| fields.get(i).copied().ok_or(format!("line {line}: too few columns"));
        let t = parse_timestamp_s(get(t_idx)?)
            .ok_or_else(|| format!("line {line}: cannot read timestamp `{}`", fields[t_idx]))?;
        let tokens = |i: usize| -> Result<u32, String> {
            let f = get(i)?;
            f.parse::<u32>().map_err(|_| format!("line {line}: `{f}` is not a token count"))
        };
        if times.last().is_some_and(|&last| t < last) {
            return Err(format!("line {line}: timestamps must not decrease"));
        }
        times.push(t);
        prompt.push(tokens(p_idx)?);
        output.push(tokens(o_idx)?);
    }
    let first = *times.first().ok_or("the trace has a header but no rows")?;
    let arrival_ms: Vec<f64> = times.iter().map(|t| (t - first) * 1000.0).collect();
    Ok(Trace {
        arrival_ms: arrival_ms.into(),
        prompt_tokens: prompt.into(),
        output_tokens: output.into(),
    })
}

/// Seconds since 1970-01-01 for `YYYY-MM-DD HH:MM:SS[.frac]` (or `T` between), or a plain number.
fn parse_timestamp_s(s: &str) -> Option<f64> {
    if let Ok(x) = s.parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss >= 61.0 {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some(days as f64 * 86_400.0 + (hh * 3600 + mm * 60) as f64 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_azure_format_with_crlf_and_no_final_newline() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n\
                    2023-11-16 18:15:46.6805900,374,44\r\n\
                    2023-11-16 18:15:50.9951690,396,109\r\n\
                    2023-11-16 18:16:00.0000000,879,55";
        let t = parse_trace(text).unwrap();
        assert_eq!(t.len(), 3);
        assert!((t.arrival_ms[1] - 4314.579).abs() < 1e-3);
        assert!((t.arrival_ms[2] - 13319.41).abs() < 1e-2);
        assert_eq!(&*t.prompt_tokens, &[374, 396, 879]);
        assert_eq!(&*t.output_tokens, &[44, 109, 55]);
    }

    #[test]
    fn day_boundaries_count() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let a = parse_timestamp_s("2023-11-16 23:59:59.5").unwrap();
        let b = parse_timestamp_s("2023-11-17 00:00:00.5").unwrap();
        assert!((b - a - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n1,2,x").is_err());
        assert!(parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n5,2,3\n4,2,3").is_err());
        assert!(parse_trace("time,a,b\n1,2,3").unwrap_err().contains("TIMESTAMP"));
    }

    #[test]
    fn column_by_name() {
        let v = csv_column("a,b\r\n1,2\r\n3,4.5\r\n", "B").unwrap();
        assert_eq!(v, vec![2.0, 4.5]);
        assert!(csv_column("a,b\n1,x", "b").is_err());
    }
}
