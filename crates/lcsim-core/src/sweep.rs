//! Parameter grids over a scenario: the `[sweep]` and `[sensitivity]` tables, `--vary`, and
//! setting one numeric key, addressed by its dotted path, in a scenario's wire form.
//!
//! **Paths** are the TOML keys joined by `.`, with a deployment addressed by its name:
//! `traffic.rate_per_s`, `deployment.api.cost.usd_per_mtok_out`,
//! `traffic.prompt_tokens.mean`. The key must hold a number in the scenario, or be absent from
//! a table that is there (it is then added, and the scenario's own validation says whether it
//! belongs).
//!
//! **Invariant:** a point whose values equal the scenario's own gives back the scenario
//! exactly: values are set in the wire form that [`crate::scenario::parse_scenario`] validates,
//! and TOML numbers round-trip bit for bit.

use crate::check::num;
use crate::error::Problem;
use crate::wire::ScenarioWire;

/// The most points a sweep may have (each is a whole run).
pub const MAX_POINTS: usize = 10_000;

/// How the values of an axis are spaced, for charts (a log axis is drawn on a log scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// One swept key and its values, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub path: String,
    pub values: Vec<f64>,
    pub scale: Scale,
}

/// One key moved by the sensitivity analysis: its low and high values.
#[derive(Debug, Clone, PartialEq)]
pub struct Swing {
    pub path: String,
    pub base: f64,
    pub low: f64,
    pub high: f64,
}

/// `{ from, to, points, scale }` or a list of numbers, as written under `[sweep]` or `--vary`.
pub fn axis(path: &str, spec: &toml::Value) -> Result<Axis, Problem> {
    let key = format!("sweep.\"{path}\"");
    let number = |v: &toml::Value, what: &str| -> Result<f64, Problem> {
        match v {
            toml::Value::Float(x) if x.is_finite() => Ok(*x),
            toml::Value::Integer(i) => Ok(*i as f64),
            _ => Err(Problem::new(&key, format!("{what} must be a finite number, got {v}"))),
        }
    };
    match spec {
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(Problem::new(&key, "needs at least one value"));
            }
            let values =
                items.iter().map(|v| number(v, "each value")).collect::<Result<Vec<_>, _>>()?;
            Ok(Axis { path: path.to_string(), values, scale: Scale::Linear })
        }
        toml::Value::Table(t) => {
            for k in t.keys() {
                if !["from", "to", "points", "scale"].contains(&k.as_str()) {
                    return Err(Problem::new(&key, format!("unknown key `{k}`"))
                        .hint("a range is { from = .., to = .., points = .., scale = \"linear\" | \"log\" }"));
                }
            }
            let get = |k: &str| {
                t.get(k).ok_or_else(|| {
                    Problem::new(&key, format!("a range needs `{k}`"))
                        .hint("a range is { from = .., to = .., points = .., scale = \"linear\" | \"log\" }")
                })
            };
            let (from, to) = (number(get("from")?, "from")?, number(get("to")?, "to")?);
            let points = match get("points")? {
                toml::Value::Integer(n) if (1..=MAX_POINTS as i64).contains(n) => *n as usize,
                v => {
                    return Err(Problem::new(
                        &key,
                        format!("points must be a whole number from 1 to {MAX_POINTS}, got {v}"),
                    ));
                }
            };
            let scale = match t.get("scale").map(|v| v.as_str()) {
                None | Some(Some("linear")) => Scale::Linear,
                Some(Some("log")) => Scale::Log,
                _ => {
                    return Err(Problem::new(&key, "scale must be \"linear\" or \"log\""));
                }
            };
            range(&key, path, from, to, points, scale)
        }
        v => Err(Problem::new(&key, format!("must be a list of numbers or a range, got {v}"))
            .hint("write [0.5, 1, 2] or { from = 0.1, to = 10, points = 25, scale = \"log\" }")),
    }
}

fn range(
    key: &str,
    path: &str,
    from: f64,
    to: f64,
    points: usize,
    scale: Scale,
) -> Result<Axis, Problem> {
    if scale == Scale::Log && (from <= 0.0 || to <= 0.0) {
        return Err(Problem::new(
            key,
            format!("a log range needs positive ends, got {} to {}", num(from), num(to)),
        ));
    }
    let at = |i: usize| -> f64 {
        if points == 1 || i == 0 {
            return from;
        }
        if i == points - 1 {
            return to;
        }
        let f = i as f64 / (points - 1) as f64;
        match scale {
            Scale::Linear => from + f * (to - from),
            Scale::Log => (from.ln() + f * (to.ln() - from.ln())).exp(),
        }
    };
    Ok(Axis { path: path.to_string(), values: (0..points).map(at).collect(), scale })
}

/// `PATH=V1,V2,...` or `PATH=FROM..TO:POINTS[:log]`, the `--vary` flag.
pub fn parse_vary(arg: &str) -> Result<Axis, String> {
    let usage = "write PATH=V1,V2,... or PATH=FROM..TO:POINTS[:log], e.g. traffic.rate_per_s=0.1..10:25:log";
    let (path, spec) =
        arg.split_once('=').ok_or_else(|| format!("--vary {arg}: no `=`\nhint: {usage}"))?;
    let path = path.trim();
    let bad = |what: &str| format!("--vary {arg}: {what}\nhint: {usage}");
    let number = |s: &str| -> Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad(&format!("`{}` is not a finite number", s.trim())))
    };
    if path.is_empty() {
        return Err(bad("the path is empty"));
    }
    if let Some((from, rest)) = spec.split_once("..") {
        let mut parts = rest.split(':');
        let to = number(parts.next().unwrap_or(""))?;
        let points = parts
            .next()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .filter(|p| (1..=MAX_POINTS).contains(p))
            .ok_or_else(|| bad(&format!("a range needs :POINTS from 1 to {MAX_POINTS}")))?;
        let scale = match parts.next().map(str::trim) {
            None | Some("linear") => Scale::Linear,
            Some("log") => Scale::Log,
            Some(s) => return Err(bad(&format!("unknown scale `{s}` (linear or log)"))),
        };
        range(path, path, number(from)?, to, points, scale).map_err(|p| bad(&p.message))
    } else {
        let values = spec.split(',').map(number).collect::<Result<Vec<_>, _>>()?;
        Ok(Axis { path: path.to_string(), values, scale: Scale::Linear })
    }
}

/// Every point of the grid, the last axis varying fastest.
pub fn points(axes: &[Axis]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new()];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|p| {
                a.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(*v);
                    q
                })
            })
            .collect();
    }
    out
}

/// Number of grid points, saturating (so that a huge grid is refused, not overflowed).
pub fn point_count(axes: &[Axis]) -> usize {
    axes.iter().fold(1usize, |n, a| n.saturating_mul(a.values.len()))
}

/// A scenario's wire form as a TOML tree, for setting keys by path.
#[derive(Debug, Clone)]
pub struct Editable {
    root: toml::Value,
}

impl Editable {
    /// The scenario without its `[sweep]` and `[sensitivity]` tables.
    pub fn new(wire: &ScenarioWire) -> Result<Editable, Problem> {
        let mut wire = wire.clone();
        wire.sweep = None;
        wire.sensitivity = None;
        let root = toml::Value::try_from(&wire)
            .map_err(|e| Problem::new("", format!("cannot edit the scenario: {e}")))?;
        Ok(Editable { root })
    }

    /// The value at `path`: `Some(x)` for a number, `None` for a key that may be added.
    pub fn get(&self, path: &str) -> Result<Option<f64>, String> {
        let (parent, last) = self.resolve(path)?;
        match parent.get(last) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(toml::Value::Float(x)) => Ok(Some(*x)),
            Some(v) => Err(format!("`{path}` holds {}, not a number", v.type_str())),
        }
    }

    /// Sets `path` to `value`: a whole number stays an integer where the scenario wrote one.
    pub fn set(&mut self, path: &str, value: f64) -> Result<(), String> {
        let was_integer =
            matches!(self.resolve(path)?.0.get(path_last(path)), Some(toml::Value::Integer(_)));
        self.get(path)?;
        let v = if was_integer && value.fract() == 0.0 && value.abs() < 9e15 {
            toml::Value::Integer(value as i64)
        } else {
            toml::Value::Float(value)
        };
        let last = path_last(path).to_string();
        self.resolve_mut(path)?.insert(last, v);
        Ok(())
    }

    /// The scenario with these keys set, in wire form (validate it with
    /// [`crate::scenario::scenario_from_wire`]).
    pub fn with(&self, values: &[(&str, f64)]) -> Result<ScenarioWire, Problem> {
        let mut e = self.clone();
        for (path, v) in values {
            e.set(path, *v).map_err(|m| Problem::new(*path, m))?;
        }
        serde_path_to_error::deserialize::<_, ScenarioWire>(e.root)
            .map_err(|err| Problem::new(err.path().to_string(), err.inner().to_string()))
    }

    /// Every numeric key of the scenario, as `(path, value, is_integer)`, in file order.
    pub fn numbers(&self) -> Vec<(String, f64, bool)> {
        fn walk(v: &toml::Value, prefix: &str, out: &mut Vec<(String, f64, bool)>) {
            match v {
                toml::Value::Integer(i) => out.push((prefix.to_string(), *i as f64, true)),
                toml::Value::Float(x) => out.push((prefix.to_string(), *x, false)),
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                        walk(v, &p, out);
                    }
                }
                toml::Value::Array(items) if prefix == "deployment" => {
                    for d in items {
                        let name = d.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                        walk(d, &format!("deployment.{name}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }

    fn resolve<'s, 'p>(&'s self, path: &'p str) -> Result<(&'s toml::Table, &'p str), String> {
        let (tables, last) = self.walk(path)?;
        let mut t = self.root.as_table().ok_or("the scenario is not a table")?;
        for step in tables {
            t = match step {
                Step::Key(k) => t.get(&k).and_then(|v| v.as_table()),
                Step::Deployment(i) => {
                    t.get("deployment").and_then(|d| d.as_array()?.get(i)?.as_table())
                }
            }
            .ok_or_else(|| format!("`{path}` is not in the scenario"))?;
        }
        Ok((t, last))
    }

    fn resolve_mut(&mut self, path: &str) -> Result<&mut toml::Table, String> {
        let (tables, _) = self.walk(path)?;
        let mut t = self.root.as_table_mut().ok_or("the scenario is not a table")?;
        for step in tables {
            t = match step {
                Step::Key(k) => t.get_mut(&k).and_then(|v| v.as_table_mut()),
                Step::Deployment(i) => t
                    .get_mut("deployment")
                    .and_then(|d| d.as_array_mut()?.get_mut(i)?.as_table_mut()),
            }
            .ok_or_else(|| format!("`{path}` is not in the scenario"))?;
        }
        Ok(t)
    }

    /// The tables on the way to `path`'s last key, checking that each exists.
    fn walk<'p>(&self, path: &'p str) -> Result<(Vec<Step>, &'p str), String> {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) || segments.len() < 2 {
            return Err(format!(
                "`{path}` is not a key path\nhint: write the TOML keys joined by `.`, deployments by name: traffic.rate_per_s, deployment.NAME.cost.capex_usd"
            ));
        }
        let names: Vec<String> = self
            .root
            .get("deployment")
            .and_then(|d| d.as_array())
            .map(|ds| {
                ds.iter().filter_map(|d| Some(d.get("name")?.as_str()?.to_string())).collect()
            })
            .unwrap_or_default();
        let mut steps = Vec::new();
        let mut i = 0;
        let mut t = self.root.as_table().ok_or("the scenario is not a table")?;
        while i < segments.len() - 1 {
            let s = segments[i];
            if s == "deployment" && i == 0 {
                let name = segments[1];
                let k = names.iter().position(|n| n == name).ok_or_else(|| {
                    format!(
                        "`{path}`: no deployment is named `{name}`\nhint: deployments: {}",
                        names.join(", ")
                    )
                })?;
                if segments.len() < 3 {
                    return Err(format!("`{path}` names a deployment, not a key in it"));
                }
                steps.push(Step::Deployment(k));
                t = self.root["deployment"][k].as_table().ok_or("a deployment is not a table")?;
                i += 2;
                continue;
            }
            t = t.get(s).and_then(|v| v.as_table()).ok_or_else(|| {
                let known = segments[..=i].join(".");
                format!("`{known}` is not a table in the scenario, so `{path}` cannot be set\nhint: write the table into the scenario first")
            })?;
            steps.push(Step::Key(s.to_string()));
            i += 1;
        }
        if i != segments.len() - 1 {
            return Err(format!("`{path}` names a deployment, not a key in it"));
        }
        Ok((steps, segments[segments.len() - 1]))
    }
}

enum Step {
    Key(String),
    Deployment(usize),
}

fn path_last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The axes of a `[sweep]` table, each path checked against the scenario.
pub fn axes_of(table: &toml::Table, scenario: &Editable) -> Result<Vec<Axis>, Problem> {
    let mut axes = Vec::new();
    for (path, spec) in table {
        let a = axis(path, spec)?;
        let key = format!("sweep.\"{path}\"");
        let now = scenario.get(path).map_err(|m| Problem::new(&key, m))?;
        // A key the scenario does not have must be one it could have.
        if now.is_none() {
            scenario.with(&[(path, a.values[0])]).map_err(|p| {
                Problem::new(&key, format!("`{path}` cannot be set: {}", p.message))
            })?;
        }
        axes.push(a);
    }
    if point_count(&axes) > MAX_POINTS {
        return Err(Problem::new(
            "sweep",
            format!("the grid has {} points; at most {MAX_POINTS} are run", point_count(&axes)),
        )
        .hint("use fewer values per axis"));
    }
    Ok(axes)
}

/// The keys of a `[sensitivity]` table: `"PATH" = [low, high]` or `"PATH" = 0.3` (±30 %).
pub fn swings_of(table: &toml::Table, scenario: &Editable) -> Result<Vec<Swing>, Problem> {
    let mut out = Vec::new();
    for (path, spec) in table {
        let key = format!("sensitivity.\"{path}\"");
        let base = scenario.get(path).map_err(|m| Problem::new(&key, m))?.ok_or_else(|| {
            Problem::new(
                &key,
                format!("`{path}` is not set in the scenario, so it has no value to move"),
            )
        })?;
        let n = |v: &toml::Value| match v {
            toml::Value::Float(x) if x.is_finite() => Some(*x),
            toml::Value::Integer(i) => Some(*i as f64),
            _ => None,
        };
        let swing = match spec {
            toml::Value::Array(v) if v.len() == 2 => match (n(&v[0]), n(&v[1])) {
                (Some(low), Some(high)) => Swing { path: path.clone(), base, low, high },
                _ => return Err(Problem::new(&key, "needs [low, high] as numbers")),
            },
            v => match n(v) {
                Some(f) if f > 0.0 => by_share(path, base, f),
                _ => {
                    return Err(Problem::new(&key, "must be [low, high] or a positive share")
                        .hint("\"deployment.api.cost.usd_per_mtok_out\" = [0.3, 1.2], or = 0.2 for ±20 %"));
                }
            },
        };
        out.push(swing);
    }
    Ok(out)
}

/// `base` moved down and up by `share` of itself.
pub fn by_share(path: &str, base: f64, share: f64) -> Swing {
    Swing { path: path.to_string(), base, low: base * (1.0 - share), high: base * (1.0 + share) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_wire;

    const TEXT: &str = r#"
name = "t"
[simulation]
seed = 1
replications = 2
duration_hours = 1
[traffic]
pattern = "poisson"
rate_per_s = 2.5
[[deployment]]
name = "box"
kind = "local"
servers = 2
service_ms = { dist = "exponential", mean = 100 }
[[deployment]]
name = "api"
kind = "cloud"
service_ms = { dist = "fixed", value = 50 }
"#;

    fn editable() -> Editable {
        Editable::new(&parse_wire("t.toml", TEXT).unwrap()).unwrap()
    }

    #[test]
    fn ranges_end_exactly_at_their_ends() {
        let a = parse_vary("traffic.rate_per_s=0.01..10:25:log").unwrap();
        assert_eq!(a.values.len(), 25);
        assert_eq!((a.values[0], a.values[24]), (0.01, 10.0));
        assert!((a.values[12] - (0.01f64 * 10.0).sqrt()).abs() < 1e-12);
        assert_eq!(parse_vary("x.y=1,2,4").unwrap().values, vec![1.0, 2.0, 4.0]);
        assert!(parse_vary("x.y=0..1:3:log").is_err());
        assert!(parse_vary("x.y=a,b").is_err());
    }

    #[test]
    fn grid_varies_the_last_axis_fastest() {
        let a = Axis { path: "a.a".into(), values: vec![1.0, 2.0], scale: Scale::Linear };
        let b = Axis { path: "b.b".into(), values: vec![3.0, 4.0, 5.0], scale: Scale::Linear };
        let p = points(&[a, b]);
        assert_eq!(p.len(), 6);
        assert_eq!(p[1], vec![1.0, 4.0]);
        assert_eq!(p[3], vec![2.0, 3.0]);
    }

    #[test]
    fn the_same_values_give_the_same_scenario() {
        let wire = parse_wire("t.toml", TEXT).unwrap();
        let e = Editable::new(&wire).unwrap();
        assert_eq!(
            e.with(&[("traffic.rate_per_s", 2.5), ("deployment.box.servers", 2.0)]).unwrap(),
            wire
        );
    }

    #[test]
    fn paths_address_deployments_by_name() {
        let e = editable();
        assert_eq!(e.get("deployment.box.service_ms.mean").unwrap(), Some(100.0));
        let w = e.with(&[("deployment.box.servers", 3.0)]).unwrap();
        assert_eq!(w.deployments[0].servers, Some(3));
        assert!(e.get("deployment.nope.servers").unwrap_err().contains("box, api"));
        assert!(e.get("deployment.box.cost.capex_usd").unwrap_err().contains("not a table"));
        assert!(e.get("traffic.pattern").unwrap_err().contains("not a number"));
        assert_eq!(e.get("traffic.growth_per_month").unwrap(), None);
    }

    #[test]
    fn a_fraction_where_a_count_belongs_is_refused_with_its_path() {
        let p = editable().with(&[("deployment.box.servers", 1.5)]).unwrap_err();
        assert!(p.key_path.contains("servers"), "{p:?}");
    }

    #[test]
    fn numbers_lists_every_numeric_key() {
        let keys: Vec<String> = editable().numbers().into_iter().map(|k| k.0).collect();
        assert!(keys.contains(&"traffic.rate_per_s".to_string()));
        assert!(keys.contains(&"deployment.box.service_ms.mean".to_string()));
        assert!(keys.contains(&"simulation.seed".to_string()));
    }
}
