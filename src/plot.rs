//! SVG pictures of `sofa dse`'s Pareto front and `sofa calibrate`'s per-layer choice, drawn with
//! plotters' SVG backend into a string (the caller writes it atomically). Text is left to the
//! viewer's sans-serif font, so no font files are read; the same data give the same bytes.

use plotters::prelude::*;

/// Drawing failed (plotters' backend error, as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot: {0}")]
pub struct PlotError(String);

fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

const SIZE: (u32, u32) = (800, 560);
const GREY: RGBColor = RGBColor(150, 150, 150);
const FRONT: RGBColor = RGBColor(200, 40, 40);
const KEEP: RGBColor = RGBColor(60, 110, 190);

/// One evaluated point of a sweep: its two plotted objectives and whether it is on the front.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SweepPoint {
    pub x: f64,
    pub y: f64,
    pub on_front: bool,
}

/// A range around `values` with 5% margins (a unit range around a single value).
fn span(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad)..(hi + pad)
}

/// Every feasible point of a sweep (grey) with its Pareto front (red). The front may be over
/// more objectives than the two drawn, so its points are not joined.
pub fn pareto_svg(
    title: &str,
    (x_desc, y_desc): (&str, &str),
    points: &[SweepPoint],
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                span(points.iter().map(|p| p.x)),
                span(points.iter().map(|p| p.y)),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        let others = points.iter().filter(|p| !p.on_front);
        chart
            .draw_series(others.map(|p| Circle::new((p.x, p.y), 3, GREY.filled())))
            .map_err(err)?
            .label("evaluated point")
            .legend(|(x, y)| Circle::new((x, y), 3, GREY.filled()));
        let mut front: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.on_front)
            .map(|p| (p.x, p.y))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        chart
            .draw_series(
                front
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 5, FRONT.filled())),
            )
            .map_err(err)?
            .label("Pareto front")
            .legend(|(x, y)| Circle::new((x, y), 5, FRONT.filled()));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One attention layer of a calibration: the keep chosen and the cosine to dense with only
/// that layer sparse at it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LayerChoice {
    pub keep: f64,
    pub cosine: f64,
}

/// Per layer: the chosen keep (bars) and the cosine with that layer alone sparse (points),
/// with the target cosine and the best uniform keep as horizontal lines.
pub fn calibration_svg(
    title: &str,
    layers: &[LayerChoice],
    (target, uniform): (f64, f64),
) -> Result<String, PlotError> {
    let n = layers.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("attention layer")
            .y_desc("keep ratio / cosine to dense")
            .x_labels(layers.len().clamp(1, 32))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .disable_x_mesh()
            .draw()
            .map_err(err)?;
        chart
            .draw_series(layers.iter().enumerate().map(|(i, l)| {
                let x = i as f64;
                Rectangle::new([(x - 0.3, 0.0), (x + 0.3, l.keep)], KEEP.mix(0.8).filled())
            }))
            .map_err(err)?
            .label("keep chosen")
            .legend(|(x, y)| Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], KEEP.filled()));
        chart
            .draw_series(
                layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| Circle::new((i as f64, l.cosine), 5, FRONT.filled())),
            )
            .map_err(err)?
            .label("cosine, this layer alone sparse")
            .legend(|(x, y)| Circle::new((x, y), 5, FRONT.filled()));
        for (value, color, label) in [
            (target, BLACK, "target cosine"),
            (uniform, GREY, "best uniform keep"),
        ] {
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, value), (n - 0.5, value)],
                    color.stroke_width(1),
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x - 8, y), (x + 8, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One series of a grouped bar chart: its legend and a value per category.
pub struct Bars<'a> {
    pub legend: &'a str,
    pub values: Vec<f64>,
}

/// A bar chart over named categories, one bar per series side by side in each (at most 3
/// series; colours blue, red, grey).
pub fn bars_svg(
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[Bars<'_>],
) -> Result<String, PlotError> {
    let n = categories.len().max(1) as f64;
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.1;
    let colors = [KEEP, FRONT, GREY];
    let width = 0.8 / series.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 * 3 / 4)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)
            .map_err(err)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                categories.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .y_desc(y_desc)
            .x_labels(categories.len().clamp(1, 32))
            .x_label_formatter(&label)
            .disable_x_mesh()
            .draw()
            .map_err(err)?;
        for (k, s) in series.iter().enumerate() {
            let color = colors[k % colors.len()];
            let left = -0.4 + k as f64 * width;
            chart
                .draw_series(s.values.iter().enumerate().map(|(i, &v)| {
                    let x = i as f64 + left;
                    Rectangle::new([(x, 0.0), (x + width * 0.9, v)], color.filled())
                }))
                .map_err(err)?
                .label(s.legend)
                .legend(move |(x, y)| {
                    Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_draws_every_point_and_is_deterministic() {
        let pts: Vec<SweepPoint> = (0..6)
            .map(|i| SweepPoint {
                x: f64::from(i),
                y: f64::from(10 - i * i % 7),
                on_front: i % 2 == 0,
            })
            .collect();
        let svg = pareto_svg("t", ("x", "y"), &pts).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // 6 points and the two legend markers.
        assert_eq!(svg.matches("<circle").count(), 6 + 2);
        assert_eq!(svg, pareto_svg("t", ("x", "y"), &pts).unwrap());
    }

    #[test]
    fn a_calibration_draws_a_bar_and_a_point_per_layer() {
        let layers = [
            LayerChoice {
                keep: 0.75,
                cosine: 0.99,
            },
            LayerChoice {
                keep: 0.5,
                cosine: 0.98,
            },
        ];
        let svg = calibration_svg("t", &layers, (0.98, 0.75)).unwrap();
        assert!(svg.contains("keep chosen") && svg.contains("target cosine"));
        assert_eq!(svg.matches("<circle").count(), 2 + 1);
    }
}
