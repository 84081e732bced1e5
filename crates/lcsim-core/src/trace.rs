//! Request traces: arrival timestamps with prompt and output token counts, parsed from CSV text.
//!
//! The format is that of the Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA
//! 2024; CC-BY-4.0): a header `TIMESTAMP,ContextTokens,GeneratedTokens`, then one row per
//! request. Timestamps are either `YYYY-MM-DD HH:MM:SS[.fraction]` (any number of fraction
//! digits, no time zone) or plain seconds. Line endings may be LF or CRLF, and the last row may
//! lack its newline. Column names are matched case-insensitively; `prompt_tokens` and
//! `output_tokens` are accepted as aliases. Parsing is the `csv` crate's: quoted fields and a
//! UTF-8 byte-order mark are fine. Messages name lines and columns, never the file's content.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a replayed trace does after its last request (`at_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceEnd {
    /// Start the trace again after its last request (one mean gap later).
    Loop,
    /// No more arrivals after the trace's last request.
    Stop,
}

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

/// A CSV reader over text: header row, trimmed fields, rows of any length (checked by the
/// caller), a UTF-8 byte-order mark skipped, quoted fields and CRLF handled by the `csv` crate.
fn reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes())
}

/// The header's column names, or a message that names no content when the first line does not
/// look like column names (so that an error never echoes an arbitrary file's first line).
fn header(rdr: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, String> {
    let h = rdr.headers().map_err(|_| "the file is not CSV text (UTF-8, comma-separated)")?;
    let names: Vec<String> = h.iter().map(str::to_string).collect();
    let plausible = |n: &str| {
        !n.is_empty()
            && n.len() <= 40
            && n.chars().all(|c| c.is_ascii_alphanumeric() || " _-.()/%".contains(c))
    };
    if names.is_empty() || !names.iter().all(|n| plausible(n)) {
        return Err("the first line is not a header of column names".to_string());
    }
    Ok(names)
}

/// The 1-based line of a record, for messages.
fn line_of(r: &csv::StringRecord) -> u64 {
    r.position().map_or(0, csv::Position::line)
}

/// The numeric values of one named column of CSV text.
pub fn csv_column(text: &str, column: &str) -> Result<Vec<f64>, String> {
    let mut rdr = reader(text);
    let header = header(&mut rdr)?;
    let idx = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(column))
        .ok_or_else(|| format!("no column `{column}`; the header has: {}", header.join(", ")))?;
    let mut values = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(|e| format!("not CSV text near {}", position(&e)))?;
        let line = line_of(&record);
        let field = record.get(idx).ok_or(format!("line {line}: missing column `{column}`"))?;
        if field.is_empty() && record.iter().all(str::is_empty) {
            continue;
        }
        values.push(
            field.parse::<f64>().map_err(|_| format!("line {line}: `{column}` is not a number"))?,
        );
    }
    Ok(values)
}

fn position(e: &csv::Error) -> String {
    e.position().map_or_else(|| "the start".to_string(), |p| format!("line {}", p.line()))
}

/// Parses a trace file's text.
pub fn parse_trace(text: &str) -> Result<Trace, String> {
    let mut rdr = reader(text);
    let header = header(&mut rdr).map_err(|e| {
        if e.contains("header") {
            format!("{e}; a trace starts with TIMESTAMP,ContextTokens,GeneratedTokens")
        } else {
            e
        }
    })?;
    let find = |names: &[&str]| {
        header.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n))).ok_or_else(
            || format!("no column named {}; the header has: {}", names[0], header.join(", ")),
        )
    };
    let t_idx = find(&["TIMESTAMP", "timestamp_s", "time_s"])?;
    let p_idx = find(&["ContextTokens", "prompt_tokens"])?;
    let o_idx = find(&["GeneratedTokens", "output_tokens"])?;
    let (mut times, mut prompt, mut output) = (Vec::new(), Vec::new(), Vec::new());
    for record in rdr.records() {
        let record = record.map_err(|e| format!("not CSV text near {}", position(&e)))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = line_of(&record);
        let get = |i: usize| record.get(i).ok_or(format!("line {line}: too few columns"));
        let t = parse_timestamp_s(get(t_idx)?).ok_or_else(|| {
            format!(
                "line {line}: `{}` is not a timestamp (YYYY-MM-DD HH:MM:SS[.fraction] with a real date, or seconds)",
                header[t_idx]
            )
        })?;
        let tokens = |i: usize| -> Result<u32, String> {
            get(i)?
                .parse::<u32>()
                .map_err(|_| format!("line {line}: `{}` is not a token count", header[i]))
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
/// A date that does not exist (month 13, February 30) is refused.
fn parse_timestamp_s(s: &str) -> Option<f64> {
    if let Ok(x) = s.parse::<f64>() {
        return (x.is_finite() && x.abs() <= crate::check::MAX_MAGNITUDE).then_some(x);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) =
        (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    if d.next().is_some() || !(1..=9999).contains(&y) {
        return None;
    }
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m)
        || !(1..=days_in_month(y, m)).contains(&day)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0.0..61.0).contains(&ss)
    {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some(days as f64 * 86_400.0 + (hh * 3600 + mm * 60) as f64 + ss)
}

/// Days of month `m` (1-12) of year `y`, proleptic Gregorian.
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
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
    fn impossible_dates_are_refused() {
        assert!(parse_timestamp_s("2023-02-30 00:00:00").is_none());
        assert!(parse_timestamp_s("2023-13-01 00:00:00").is_none());
        assert!(parse_timestamp_s("2024-02-29 00:00:00").is_some());
        assert!(parse_timestamp_s("2023-02-29 00:00:00").is_none());
    }

    #[test]
    fn bom_and_quotes_are_read_and_contents_never_echoed() {
        let t = parse_trace("\u{feff}TIMESTAMP,\"ContextTokens\",GeneratedTokens\n1,2,3\n2,4,5\n")
            .unwrap();
        assert_eq!(t.len(), 2);
        let e = parse_trace("root:x:0:0:root:/root:/bin/bash\nsecret\n").unwrap_err();
        assert!(!e.contains("root") && !e.contains("secret"), "{e}");
        let e = parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n1,hunter2,3\n").unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn column_by_name() {
        let v = csv_column("a,b\r\n1,2\r\n3,4.5\r\n", "B").unwrap();
        assert_eq!(v, vec![2.0, 4.5]);
        assert!(csv_column("a,b\n1,x", "b").is_err());
    }
}
