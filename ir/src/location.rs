//! Source locations. Imported ops carry the ONNX node name (`loc("/model/layer.0/Softmax")`), so
//! every later error and every lowered instruction traces back to the node it came from.

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Location {
    /// `loc(unknown)`.
    #[default]
    Unknown,
    /// `loc("name")`: an ONNX node or graph value name.
    Name(String),
    /// `loc("file":line:col)`.
    FileLineCol { file: String, line: u32, col: u32 },
    /// `loc(fused["a", "b"])`: an op made from several (e.g. a fused attention block).
    Fused(Vec<Location>),
}

impl Location {
    pub fn name(s: impl Into<String>) -> Location {
        Location::Name(s.into())
    }

    /// Fuse locations, flattening nested fusions, dropping unknowns and duplicates (in order).
    pub fn fused(locs: impl IntoIterator<Item = Location>) -> Location {
        let mut out: Vec<Location> = Vec::new();
        for loc in locs {
            match loc {
                Location::Unknown => {}
                Location::Fused(inner) => {
                    for l in inner {
                        if !out.contains(&l) {
                            out.push(l);
                        }
                    }
                }
                other => {
                    if !out.contains(&other) {
                        out.push(other);
                    }
                }
            }
        }
        match out.len() {
            0 => Location::Unknown,
            1 => out.pop().expect("one element"),
            _ => Location::Fused(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusing_flattens_and_dedups() {
        let a = Location::name("a");
        let b = Location::name("b");
        let f = Location::fused([
            a.clone(),
            Location::Unknown,
            Location::fused([b.clone(), a.clone()]),
        ]);
        assert_eq!(f, Location::Fused(vec![a.clone(), b]));
        assert_eq!(Location::fused([a.clone()]), a);
        assert_eq!(Location::fused([]), Location::Unknown);
    }
}
