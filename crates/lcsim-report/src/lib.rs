//! Run results for people: the monthly cost table as Parquet and CSV (polars), charts
//! ([`charts`], plotters) and the planning-meeting report ([`report`]), all drawn from the
//! files of a run folder ([`data::RunData`]).
//!
//! `monthly.parquet` and `monthly.csv` hold the same columns, one row per deployment × month,
//! with plain types (strings, unsigned month, 64-bit floats, nulls for "not applicable") so that
//! pandas, polars and DuckDB read them unchanged. Column meanings: [`MonthlyRow`].

use std::fs::File;
use std::path::Path;

use lcsim_core::summary::MonthlyRow;
use polars::prelude::*;

pub mod charts;
pub mod data;
pub mod page;
pub mod planning;
pub mod report;
pub mod sweep;
pub mod sweep_charts;
pub mod sweep_report;
pub mod validation;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot read or write the monthly table: {0}")]
    Polars(#[from] PolarsError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("cannot draw {path}: {message}")]
    Chart { path: String, message: String },
}

/// Renders the charts and the report of the run folder `dir` from its files; returns the
/// files written.
pub fn render(dir: &Path) -> Result<Vec<std::path::PathBuf>, ReportError> {
    let data = data::RunData::load(dir)?;
    let mut files = charts::render(dir, &data)?;
    files.extend(report::write(dir, &data)?);
    Ok(files)
}

type Field = (&'static str, fn(&MonthlyRow) -> f64);

/// The numeric columns, in order, after `deployment`, `kind` and `month`.
const NUMERIC: [Field; 26] = [
    ("requests", |r| r.requests),
    ("prompt_tokens", |r| r.prompt_tokens),
    ("output_tokens", |r| r.output_tokens),
    ("servers", |r| r.servers),
    ("capex_usd", |r| r.capex_usd),
    ("energy_usd", |r| r.energy_usd),
    ("colocation_usd", |r| r.colocation_usd),
    ("ops_usd", |r| r.ops_usd),
    ("token_usd", |r| r.token_usd),
    ("request_usd", |r| r.request_usd),
    ("instance_usd", |r| r.instance_usd),
    ("egress_usd", |r| r.egress_usd),
    ("repair_usd", |r| r.repair_usd),
    ("updates_usd", |r| r.updates_usd),
    ("training_usd", |r| r.training_usd),
    ("cost_mean_usd", |r| r.cost_mean_usd),
    ("cost_p5_usd", |r| r.cost_p5_usd),
    ("cost_p50_usd", |r| r.cost_p50_usd),
    ("cost_p95_usd", |r| r.cost_p95_usd),
    ("cumulative_mean_usd", |r| r.cumulative_mean_usd),
    ("cumulative_p5_usd", |r| r.cumulative_p5_usd),
    ("cumulative_p50_usd", |r| r.cumulative_p50_usd),
    ("cumulative_p95_usd", |r| r.cumulative_p95_usd),
    ("cumulative_amortized_mean_usd", |r| r.cumulative_amortized_mean_usd),
    ("latency_p50_ms", |r| r.latency_p50_ms),
    ("latency_p95_ms", |r| r.latency_p95_ms),
];

/// The monthly table as a polars DataFrame.
pub fn monthly_frame(rows: &[MonthlyRow]) -> Result<DataFrame, ReportError> {
    let mut columns = vec![
        Column::new(
            "deployment".into(),
            rows.iter().map(|r| r.deployment.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("kind".into(), rows.iter().map(|r| r.kind).collect::<Vec<_>>()),
        Column::new("month".into(), rows.iter().map(|r| r.month).collect::<Vec<u32>>()),
    ];
    for (name, get) in NUMERIC {
        columns.push(Column::new(name.into(), rows.iter().map(get).collect::<Vec<f64>>()));
    }
    columns.push(Column::new(
        "latency_p99_ms".into(),
        rows.iter().map(|r| r.latency_p99_ms).collect::<Vec<f64>>(),
    ));
    columns.push(Column::new(
        "ttft_p95_ms".into(),
        rows.iter().map(|r| r.ttft_p95_ms).collect::<Vec<f64>>(),
    ));
    columns.push(Column::new(
        "tpot_p95_ms".into(),
        rows.iter().map(|r| r.tpot_p95_ms).collect::<Vec<Option<f64>>>(),
    ));
    columns.push(Column::new(
        "utilization".into(),
        rows.iter().map(|r| r.utilization).collect::<Vec<Option<f64>>>(),
    ));
    columns.push(Column::new(
        "peak_hour_utilization".into(),
        rows.iter().map(|r| r.peak_hour_utilization).collect::<Vec<Option<f64>>>(),
    ));
    let reliability: [Field; 8] = [
        ("availability", |r| r.availability),
        ("downtime_minutes", |r| r.downtime_minutes),
        ("errors", |r| r.errors),
        ("local_share", |r| r.local_share),
        ("cloud_share", |r| r.cloud_share),
        ("releases", |r| r.releases),
        ("update_device_hours", |r| r.update_device_hours),
        ("training_device_hours", |r| r.training_device_hours),
    ];
    for (name, get) in reliability {
        columns.push(Column::new(name.into(), rows.iter().map(get).collect::<Vec<f64>>()));
    }
    columns.push(Column::new(
        "slo_attainment".into(),
        rows.iter().map(|r| r.slo_attainment).collect::<Vec<Option<f64>>>(),
    ));
    columns.push(Column::new(
        "instances".into(),
        rows.iter().map(|r| r.instances).collect::<Vec<Option<f64>>>(),
    ));
    Ok(DataFrame::new(rows.len(), columns)?)
}

fn create(path: &Path) -> Result<File, ReportError> {
    File::create(path)
        .map_err(|source| ReportError::Io { path: path.display().to_string(), source })
}

/// Writes `monthly.parquet` and `monthly.csv` into `dir`.
pub fn write_monthly(dir: &Path, rows: &[MonthlyRow]) -> Result<(), ReportError> {
    let mut df = monthly_frame(rows)?;
    ParquetWriter::new(create(&dir.join("monthly.parquet"))?).finish(&mut df)?;
    CsvWriter::new(create(&dir.join("monthly.csv"))?).include_header(true).finish(&mut df)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(deployment: &str, month: u32) -> MonthlyRow {
        MonthlyRow {
            deployment: deployment.to_string(),
            kind: "local",
            month,
            requests: 1000.0 * f64::from(month),
            prompt_tokens: 2.0,
            output_tokens: 3.0,
            servers: 2.0,
            capex_usd: 0.0,
            energy_usd: 1.5,
            colocation_usd: 0.0,
            ops_usd: 10.0,
            token_usd: 0.0,
            request_usd: 0.0,
            instance_usd: 0.0,
            egress_usd: 0.0,
            cost_mean_usd: 11.5,
            cost_p5_usd: 11.0,
            cost_p50_usd: 11.5,
            cost_p95_usd: 12.0,
            cumulative_mean_usd: 11.5 * f64::from(month),
            cumulative_p5_usd: 0.0,
            cumulative_p50_usd: 0.0,
            cumulative_p95_usd: 0.0,
            cumulative_amortized_mean_usd: 0.0,
            utilization: if month == 2 { None } else { Some(0.5) },
            peak_hour_utilization: Some(0.75),
            latency_p50_ms: 1.0,
            latency_p95_ms: 2.0,
            ttft_p95_ms: 1.0,
            tpot_p95_ms: None,
            latency_p99_ms: 3.0,
            repair_usd: 0.0,
            updates_usd: 0.0,
            training_usd: 0.0,
            releases: 0.0,
            update_device_hours: 0.0,
            training_device_hours: 0.0,
            availability: 1.0,
            downtime_minutes: 0.0,
            errors: 0.0,
            slo_attainment: None,
            local_share: 1.0,
            cloud_share: 0.0,
            instances: None,
        }
    }

    #[test]
    fn parquet_and_csv_read_back() {
        let dir = std::env::temp_dir().join(format!("lcsim-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rows = vec![row("edge", 1), row("edge", 2), row("api", 1)];
        write_monthly(&dir, &rows).unwrap();
        let back =
            ParquetReader::new(File::open(dir.join("monthly.parquet")).unwrap()).finish().unwrap();
        assert_eq!(back.shape(), (3, 44));
        assert!(back.equals_missing(&monthly_frame(&rows).unwrap()));
        let csv = std::fs::read_to_string(dir.join("monthly.csv")).unwrap();
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().starts_with("deployment,kind,month,requests,"));
        assert!(lines.next().unwrap().starts_with("edge,local,1,1000.0,"));
        assert!(lines.next().unwrap().contains(",,0.75"), "null utilization is an empty field");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
