//! Output files read back (resume), rendered whole, and merged from shards: the format is the
//! header and point lines of [`super::render_header`] and [`super::render_record`].

use std::collections::BTreeMap;

use super::{render_header, DseError, Header, Record, Shard, FORMAT_VERSION};

/// An output file read back: its header and its complete point lines (verbatim, without the
/// newline), and whether a last line was cut short (discarded).
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub header: Option<Header>,
    pub lines: BTreeMap<u64, (String, Record)>,
    pub truncated: bool,
}

/// Parse an output of `sofa dse` (`file` names it in errors). A last line without its newline
/// is an interrupted write and is discarded (`truncated`); any other line that is not what
/// `sofa dse` writes is an error naming its line.
pub fn parse_output(text: &str, file: &str) -> Result<Output, DseError> {
    let mut out = Output {
        header: None,
        lines: BTreeMap::new(),
        truncated: false,
    };
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let Some(line) = line.strip_suffix('\n') else {
            out.truncated = true;
            break;
        };
        let bad = |message: String| DseError::Output {
            file: file.to_string(),
            line: n + 1,
            message,
        };
        let Some(header) = &out.header else {
            let h: Header = serde_json::from_str(line)
                .map_err(|e| bad(format!("not a `sofa dse` header line: {e}")))?;
            if h.sofa_dse != FORMAT_VERSION {
                return Err(bad(format!(
                    "output format version {} (this sofa writes {FORMAT_VERSION})",
                    h.sofa_dse
                )));
            }
            out.header = Some(h);
            continue;
        };
        let r: Record = serde_json::from_str(line)
            .map_err(|e| bad(format!("not a `sofa dse` point line: {e}")))?;
        if r.index >= header.points {
            return Err(bad(format!(
                "point {} is out of range (the spec has {} points)",
                r.index, header.points
            )));
        }
        if let Some((prev, _)) = out.lines.get(&r.index) {
            if prev != line {
                return Err(bad(format!("point {} appears twice, differently", r.index)));
            }
        }
        out.lines.insert(r.index, (line.to_string(), r));
    }
    Ok(out)
}

/// The whole output text: the header, then the lines in index order.
pub fn render_output<'a>(header: &Header, lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = render_header(header);
    text.push('\n');
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

/// Join shard outputs (each `(name, text)`) into the text an unsharded run writes. Every
/// shard must be of the same spec and complete; together they must hold every point.
pub fn merge(outputs: &[(String, String)]) -> Result<(Header, Output), DseError> {
    let mut header: Option<Header> = None;
    let mut all: BTreeMap<u64, (String, Record)> = BTreeMap::new();
    for (name, text) in outputs {
        let out = parse_output(text, name)?;
        if out.truncated {
            return Err(DseError::Mismatch(format!(
                "{name}: the last line is cut short (an interrupted run); rerun its shard \
                 with the same -o to complete it"
            )));
        }
        let Some(mut h) = out.header else {
            return Err(DseError::Mismatch(format!("{name}: empty output")));
        };
        if let Some(search) = h.search {
            return Err(DseError::Mismatch(format!(
                "{name}: the output of a {} search is whole (it cannot be sharded); there is \
                 nothing to merge",
                search.method.name()
            )));
        }
        let shard = h.shard.take();
        match &header {
            None => header = Some(h),
            Some(first) if *first != h => {
                return Err(DseError::Mismatch(format!(
                    "{name}: of spec {} ({} points), not of {} ({} points) as {}",
                    h.spec, h.points, first.spec, first.points, outputs[0].0
                )))
            }
            Some(_) => {}
        }
        if let Some(s) = shard {
            let s: Shard = s.parse()?;
            let points = header.as_ref().map_or(0, |h| h.points);
            if let Some(missing) = s.points(points).find(|i| !out.lines.contains_key(i)) {
                return Err(DseError::Mismatch(format!(
                    "{name}: shard {s} is incomplete (point {missing} is missing); rerun it \
                     with the same -o to complete it"
                )));
            }
        }
        for (i, (line, rec)) in out.lines {
            if let Some((prev, _)) = all.get(&i) {
                if *prev != line {
                    return Err(DseError::Mismatch(format!(
                        "{name}: point {i} differs from another output's"
                    )));
                }
            }
            all.insert(i, (line, rec));
        }
    }
    let header = header.ok_or_else(|| DseError::Mismatch("no outputs to merge".into()))?;
    let missing: Vec<u64> = (0..header.points)
        .filter(|i| !all.contains_key(i))
        .collect();
    if let Some(first) = missing.first() {
        return Err(DseError::Mismatch(format!(
            "the outputs lack {} of the {} points (first: {first}); merge every shard",
            missing.len(),
            header.points
        )));
    }
    Ok((
        header.clone(),
        Output {
            header: Some(header),
            lines: all,
            truncated: false,
        },
    ))
}
