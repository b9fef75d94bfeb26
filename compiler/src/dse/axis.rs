//! The axes of a spec checked value by value: the plan's (`keep`, `schedule`, `tiles`) and
//! any leaf of the hardware TOML. Errors name the value's `file:line:col`.

use sofa_ir::dialect::attn::{check_keep_ratio, Schedule};
use sofa_ir::hw::HwConfig;
use toml::Spanned;

use super::spec::{Axis, AxisKind, ErrAt};
use super::DseError;

/// Each value of axis `name` read by `read` (`Err`: what is wrong with it), or the first
/// error, at the value's span and prefixed with the axis.
fn each<T>(
    name: &str,
    values: &[Spanned<toml::Value>],
    err: &ErrAt<'_>,
    read: impl Fn(&toml::Value) -> Result<T, String>,
) -> Result<Vec<T>, DseError> {
    values
        .iter()
        .map(|v| read(v.get_ref()).map_err(|m| err(v.span(), format!("axis '{name}': {m}"))))
        .collect()
}

pub(super) fn keep_axis(
    values: &[Spanned<toml::Value>],
    err: &ErrAt<'_>,
) -> Result<Axis, DseError> {
    let keeps = each("keep", values, err, |v| {
        let k = match v {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            other => return Err(format!("expected a number, found {}", other.type_str())),
        };
        check_keep_ratio(k).map_err(|e| e.to_string())?;
        Ok(k)
    })?;
    Ok(Axis {
        key: String::new(),
        values: keeps.iter().map(|&k| serde_json::Value::from(k)).collect(),
        kind: AxisKind::Keep(keeps),
    })
}

pub(super) fn schedule_axis(
    values: &[Spanned<toml::Value>],
    err: &ErrAt<'_>,
) -> Result<Axis, DseError> {
    let schedules = each("schedule", values, err, |v| {
        v.as_str()
            .and_then(|s| Schedule::parse(s).ok())
            .ok_or_else(|| format!("expected \"cct\", \"staged\" or \"dense\", found {v}"))
    })?;
    Ok(Axis {
        key: String::new(),
        values: schedules.iter().map(|s| s.name().into()).collect(),
        kind: AxisKind::Schedule(schedules),
    })
}

/// Key-tile counts: integers ≥ 1. Whether a count can be planned depends on the point's chip
/// and layers (an infeasible point otherwise), so only the type is checked here.
pub(super) fn tiles_axis(
    values: &[Spanned<toml::Value>],
    err: &ErrAt<'_>,
) -> Result<Axis, DseError> {
    let tiles = each("tiles", values, err, |v| {
        v.as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .filter(|&t| t >= 1)
            .ok_or_else(|| format!("expected a key-tile count (an integer ≥ 1), found {v}"))
    })?;
    Ok(Axis {
        key: String::new(),
        values: tiles.iter().map(|&t| serde_json::Value::from(t)).collect(),
        kind: AxisKind::Tiles(tiles),
    })
}

/// A hardware axis; each value is checked alone on the base chip for its type (a value the
/// hardware TOML could not hold is a spec error), not for the config's rules (a point whose
/// chip breaks a rule is infeasible).
pub(super) fn hardware_axis(
    key: &str,
    values: &[Spanned<toml::Value>],
    base: &serde_json::Value,
    err: &ErrAt<'_>,
) -> Result<Axis, DseError> {
    let pointer = format!("/{}", key.replace('.', "/"));
    let mut out = Vec::new();
    for v in values {
        let json = match v.get_ref() {
            toml::Value::Integer(i) => serde_json::Value::from(*i),
            toml::Value::Float(f) => serde_json::Value::from(*f),
            toml::Value::String(s) => serde_json::Value::from(s.as_str()),
            toml::Value::Boolean(b) => serde_json::Value::from(*b),
            other => {
                return Err(err(
                    v.span(),
                    format!(
                        "axis '{key}': a {} is not a hardware value",
                        other.type_str()
                    ),
                ))
            }
        };
        let mut probe = base.clone();
        if let Some(slot) = probe.pointer_mut(&pointer) {
            *slot = json.clone();
        }
        serde_json::from_value::<HwConfig>(probe).map_err(|e| {
            err(
                v.span(),
                format!("axis '{key}': the value {} does not fit: {e}", v.get_ref()),
            )
        })?;
        out.push(json);
    }
    Ok(Axis {
        key: String::new(),
        values: out,
        kind: AxisKind::Hardware(pointer),
    })
}
