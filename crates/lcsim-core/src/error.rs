//! Errors in scenario input, located by key path and by line/column in the TOML text.
//!
//! Every problem with a scenario is reported the same way: which file, which key (as a dotted
//! path such as `deployment[0].service_ms.mean`), where in the file (1-based line and column),
//! what is wrong and, where we can guess it, a `hint:` saying what to do instead.

use std::fmt;
use std::ops::Range;

/// A scenario that cannot be run as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    /// The file the scenario came from, as the user named it.
    pub origin: String,
    /// Dotted key path of the offending key, e.g. `traffic.rate_per_s`; empty for the document.
    pub key_path: String,
    /// 1-based line and column of the offending key or value, when known.
    pub location: Option<(usize, usize)>,
    /// The text of that line, for display.
    pub source_line: Option<String>,
    /// What is wrong, one sentence.
    pub message: String,
    /// What to do instead.
    pub hint: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if !self.key_path.is_empty() {
            write!(f, " (key `{}`)", self.key_path)?;
        }
        match self.location {
            Some((line, column)) => write!(f, "\n  --> {}:{}:{}", self.origin, line, column)?,
            None => write!(f, "\n  --> {}", self.origin)?,
        }
        if let (Some((line, column)), Some(text)) = (self.location, &self.source_line) {
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |", "")?;
            write!(f, "\n{line} | {text}")?;
            let pad = text.chars().take(column.saturating_sub(1)).count();
            write!(f, "\n{:gutter$} | {:pad$}^", "", "")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// A problem found before we know where it is in the file: carries the key path, and a byte
/// span if the parser gave one. [`Locator`] turns it into a [`ScenarioError`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key_path: String,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(key_path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { key_path: key_path.into(), span: None, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Maps byte offsets of a text to 1-based line/column.
#[derive(Debug)]
pub struct Locator<'a> {
    origin: &'a str,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(origin: &'a str, text: &'a str) -> Self {
        Locator { origin, text }
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn line_text(&self, line: usize) -> Option<String> {
        self.text.lines().nth(line - 1).map(|l| l.trim_end_matches('\r').to_string())
    }

    pub fn error(&self, problem: Problem) -> ScenarioError {
        let location = problem.span.as_ref().map(|s| self.line_column(s.start));
        ScenarioError {
            origin: self.origin.to_string(),
            key_path: problem.key_path,
            location,
            source_line: location.and_then(|(line, _)| self.line_text(line)),
            message: problem.message,
            hint: problem.hint,
        }
    }
}

/// The known key closest to `unknown` by edit distance, if it is close enough to be a typo.
pub fn closest<'k>(unknown: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let loc = Locator::new("x.toml", "a = 1\nbb = 2\r\nc = 3");
        assert_eq!(loc.line_column(0), (1, 1));
        assert_eq!(loc.line_column(6), (2, 1));
        assert_eq!(loc.line_column(9), (2, 4));
        assert_eq!(loc.line_column(14), (3, 1));
    }

    #[test]
    fn closest_finds_typos_only() {
        let known = ["max_batch", "servers", "service_ms"];
        assert_eq!(closest("max_bach", known), Some("max_batch"));
        assert_eq!(closest("server", known), Some("servers"));
        assert_eq!(closest("colour", known), None);
    }
}
