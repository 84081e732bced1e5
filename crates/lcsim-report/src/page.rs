//! `report.html` from the `report.md` of a sweep, a sensitivity analysis or a capacity search:
//! the few Markdown forms those reports use (headings, paragraphs, lists, tables, images),
//! with the charts embedded as PNG data so the page stands alone.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::ReportError;
use crate::report::{escape, inline};

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:.35em .6em;text-align:left}th{background:#eef}img{max-width:100%;border:1px solid #ddd}code{background:#f4f4f4;padding:0 .2em}";

/// The page for `md`, whose images are paths relative to `dir`.
pub fn html(title: &str, md: &str, dir: &Path) -> Result<String, ReportError> {
    let mut h = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    let (mut list, mut table, mut header) = (false, false, false);
    for line in md.lines() {
        let l = line.trim_end();
        if list && !l.starts_with("- ") {
            h.push_str("</ul>\n");
            list = false;
        }
        if table && !l.starts_with('|') {
            h.push_str("</table>\n");
            table = false;
        }
        if let Some(t) = l.strip_prefix("### ") {
            let _ = writeln!(h, "<h3>{}</h3>", inline(t));
        } else if let Some(t) = l.strip_prefix("## ") {
            let _ = writeln!(h, "<h2>{}</h2>", inline(t));
        } else if let Some(t) = l.strip_prefix("# ") {
            let _ = writeln!(h, "<h1>{}</h1>", inline(t));
        } else if let Some(t) = l.strip_prefix("- ") {
            if !list {
                h.push_str("<ul>\n");
                list = true;
            }
            let _ = writeln!(h, "<li>{}</li>", inline(t));
        } else if l.starts_with('|') {
            if l.starts_with("|---") || l.starts_with("|--") {
                continue;
            }
            if !table {
                h.push_str("<table>\n");
                table = true;
                header = true;
            }
            let cell = if header { "th" } else { "td" };
            header = false;
            h.push_str("<tr>");
            for c in l.trim_matches('|').split(" | ") {
                let _ = write!(h, "<{cell}>{}</{cell}>", inline(c.trim()));
            }
            h.push_str("</tr>\n");
        } else if let Some(rest) = l.strip_prefix("![") {
            let (alt, path) = rest.split_once("](").unwrap_or((rest, ""));
            let path = dir.join(path.trim_end_matches(')'));
            let bytes = std::fs::read(&path)
                .map_err(|source| ReportError::Io { path: path.display().to_string(), source })?;
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            let _ =
                writeln!(h, "<img alt=\"{}\" src=\"data:image/png;base64,{data}\">", escape(alt));
        } else if !l.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", inline(l));
        }
    }
    if list {
        h.push_str("</ul>\n");
    }
    if table {
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

/// Writes `report.md` and `report.html` into `dir`.
pub fn write(dir: &Path, title: &str, md: &str) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let md_path = dir.join("report.md");
    let html_path = dir.join("report.html");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Io { path, source }
    };
    std::fs::write(&md_path, md).map_err(io(&md_path))?;
    std::fs::write(&html_path, html(title, md, dir)?).map_err(io(&html_path))?;
    Ok(vec![md_path, html_path])
}
