//! PNG plots with plotters: loss curve, accuracy curves, confusion matrices. Text is drawn with
//! ab_glyph from a Debian font (DejaVu Sans, or `SYNTHGEN_FONT`); without a font the plots are
//! drawn without text rather than failing. Encoding goes through the `image` crate.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use super::error::TrainError;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a sans-serif font once; returns whether text can be drawn.
pub fn text_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let env = std::env::var_os("SYNTHGEN_FONT").map(PathBuf::from);
        let found = env
            .into_iter()
            .chain(FONT_CANDIDATES.iter().map(PathBuf::from))
            .find_map(|p| std::fs::read(&p).ok());
        match found {
            Some(bytes) => {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            None => {
                tracing::warn!("no TrueType font found (install fonts-dejavu-core or set SYNTHGEN_FONT); plots have no text");
                false
            }
        }
    })
}

pub(crate) fn err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Plot {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Encodes an RGB buffer as PNG under a temporary name, then renames it (also used by adapt).
pub(crate) fn save_rgb(path: &Path, buf: Vec<u8>, (w, h): (u32, u32)) -> Result<(), TrainError> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err(path, "buffer size"))?;
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| err(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
}

/// One named curve of (step, value) points.
pub struct Series<'a> {
    pub name: String,
    pub points: &'a [(f64, f64)],
}

/// Line chart of several series against the step.
pub fn line_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), TrainError> {
    let size = (900u32, 540u32);
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    let text = text_available();
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let pts = series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts.filter(|p| p.1.is_finite()) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-3);
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 24))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(|e| err(path, e))?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("step").y_desc(y_label);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| err(path, e))?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let line = chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied().filter(|p| p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(|e| err(path, e))?;
            if text {
                line.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
        if text && series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()
                .map_err(|e| err(path, e))?;
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save_rgb(path, buf, size)
}

/// Row-normalised confusion matrix (true class per row) as a heat map.
pub fn confusion_chart(
    path: &Path,
    title: &str,
    classes: &[String],
    cm: &[Vec<u64>],
) -> Result<(), TrainError> {
    let n = cm.len().max(1);
    let cell = (720 / n).clamp(8, 60) as u32;
    let text = text_available();
    let label_area = if text { 140 } else { 0 };
    let x_label_area = if text { 50 } else { 0 };
    let size = (
        cell * n as u32 + label_area + 40,
        cell * n as u32 + label_area + 60,
    );
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(10);
        if text {
            builder
                .caption(title, ("sans-serif", 20))
                .x_label_area_size(x_label_area)
                .y_label_area_size(label_area);
        }
        // Segmented axes put labels at cell centres; row t is drawn at y = n - 1 - t (top-down).
        let mut chart = builder
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(|e| err(path, e))?;
        let centre = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => Some(*i),
            _ => None,
        };
        // Columns carry the class index only (names would overlap); rows carry "index name".
        let x_name = |v: &SegmentValue<usize>| centre(v).map(|i| i.to_string()).unwrap_or_default();
        let y_name = |v: &SegmentValue<usize>| {
            centre(v)
                .filter(|&i| i < n)
                .map(|i| n - 1 - i)
                .map(|t| format!("{t} {}", classes.get(t).map_or("", String::as_str)))
                .unwrap_or_default()
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh();
        if text && n <= 60 {
            mesh.x_labels(n)
                .y_labels(n)
                .x_label_formatter(&x_name)
                .y_label_formatter(&y_name)
                .x_desc("predicted")
                .y_desc("true")
                .x_label_style(("sans-serif", 12))
                .y_label_style(("sans-serif", 12));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| err(path, e))?;
        let cells = cm.iter().enumerate().flat_map(|(t, row)| {
            let total: u64 = row.iter().sum::<u64>().max(1);
            row.iter().enumerate().map(move |(p, &c)| {
                let v = c as f64 / total as f64;
                // White (0) to dark blue (1).
                let shade = (255.0 * (1.0 - v)) as u8;
                let color = RGBColor(shade, shade, 255 - (100.0 * v) as u8);
                let y = n - 1 - t;
                Rectangle::new(
                    [
                        (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )
            })
        });
        chart.draw_series(cells).map_err(|e| err(path, e))?;
        root.present().map_err(|e| err(path, e))?;
    }
    save_rgb(path, buf, size)
}

/// Titles of a run's charts (the trainer and the adapter label them differently).
pub struct RunChartTitles<'a> {
    pub loss: &'a str,
    pub loss_axis: &'a str,
    pub accuracy: &'a str,
}

/// `loss.png`, `accuracy.png` (Acc and Mean of every evaluation set) and the latest confusion
/// matrix of each set. A plot that fails is logged: plots never stop a run.
pub fn draw_run_plots(
    out: &Path,
    log: &super::records::MetricsLog,
    sets: &[&str],
    classes: &[String],
    titles: &RunChartTitles,
) {
    use super::records::Record;
    let losses = log.losses();
    let mut result = line_chart(
        &out.join("loss.png"),
        titles.loss,
        titles.loss_axis,
        &[Series {
            name: "train".into(),
            points: &losses,
        }],
    );
    if !sets.is_empty() {
        let curves: Vec<(String, Vec<(f64, f64)>)> = sets
            .iter()
            .flat_map(|name| {
                [
                    (format!("{name} Acc"), log.eval_curve(name, false)),
                    (format!("{name} Mean"), log.eval_curve(name, true)),
                ]
            })
            .collect();
        let series: Vec<Series> = curves
            .iter()
            .map(|(name, pts)| Series {
                name: name.clone(),
                points: pts,
            })
            .collect();
        result = result.and(line_chart(
            &out.join("accuracy.png"),
            titles.accuracy,
            "%",
            &series,
        ));
    }
    for name in sets {
        let last = log.records.iter().rev().find_map(|r| match r {
            Record::Eval(e) if e.set == *name => Some(e),
            _ => None,
        });
        if let Some(e) = last {
            result = result.and(confusion_chart(
                &out.join(format!("confusion_{name}.png")),
                &format!("{name} at step {}", e.step),
                classes,
                &e.confusion,
            ));
        }
    }
    if let Err(e) = result {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_text_offline_and_writes_pngs() {
        assert!(
            text_available(),
            "DejaVu Sans (fonts-dejavu-core) should be installed"
        );
        let dir = tempfile::tempdir().unwrap();
        let pts = [(1.0, 2.0), (2.0, 1.5), (3.0, 0.7)];
        let p = dir.path().join("loss.png");
        line_chart(
            &p,
            "loss",
            "loss",
            &[Series {
                name: "train".into(),
                points: &pts,
            }],
        )
        .unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (900, 540));
        // Not blank: the curve and the text put dark pixels on the white page.
        assert!(img.pixels().filter(|px| px.0[0] < 100).count() > 200);
        let c = dir.path().join("cm.png");
        let classes = vec!["a".to_string(), "b".to_string()];
        confusion_chart(&c, "cm", &classes, &[vec![3, 1], vec![0, 4]]).unwrap();
        assert!(image::open(&c).is_ok());
    }
}
