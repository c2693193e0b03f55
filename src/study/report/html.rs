//! report.html: one self-contained file (inline CSS, SVG charts, base64 PNG images, no
//! network). A small inline script counts the images that decoded into `data-images-loaded`
//! on <body>, so a headless browser can check the page as rendered.
use super::md::seed_of;
use super::{curves, fmt_pct, machine, now_utc, samples, Report};
use crate::study::stages::run_dir;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}.holds{background:#d9f2d9}.reversed{background:#f8d7d7}\
.noise{background:#f3f3e0}.se{color:#777;font-size:85%}.paper{color:#555}\
.grid img{width:64px;height:64px;margin:1px;image-rendering:pixelated}.chart{margin:0.5em 1em 1em 0}\
pre{background:#f4f4f4;padding:0.5em;white-space:pre-wrap}";

const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// A line chart of percent against step, one line per series.
fn chart(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let (w, h, l, b) = (360.0, 220.0, 40.0, 30.0);
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0_f64, f64::max);
    let x = |v: f64| l + (w - l - 10.0) * v / max_x;
    let y = |v: f64| (h - b) - (h - b - 20.0) * v / 100.0;
    let mut s = format!(
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" xmlns=\"http://www.w3.org/2000/svg\">\
<text x=\"{l}\" y=\"14\" font-size=\"12\">{}</text>\
<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/><line x1=\"{l}\" y1=\"20\" x2=\"{l}\" y2=\"{}\" stroke=\"#444\"/>",
        esc(title),
        y(0.0),
        w - 10.0,
        y(0.0),
        y(0.0)
    );
    for t in [0.0, 50.0, 100.0] {
        s.push_str(&format!(
            "<text x=\"4\" y=\"{}\" font-size=\"10\">{t:.0}%</text>",
            y(t) + 3.0
        ));
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"10\">step {max_x:.0}</text>",
        w - 70.0,
        h - 8.0
    ));
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = points
            .iter()
            .map(|(a, v)| format!("{:.1},{:.1}", x(*a), y(*v)))
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            pts.join(" "),
            l + 8.0 + 90.0 * (i % 3) as f64,
            h - 8.0 - 12.0 * (i / 3) as f64,
            esc(name)
        ));
    }
    s.push_str("</svg>");
    s
}

pub fn render(r: &Report) -> String {
    let mut s = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>synthgen study {0}</title><style>{STYLE}</style></head><body>\
<h1>Study <code>{0}</code></h1><p>{1}</p>",
        esc(&r.spec.name),
        esc(r.spec.description.trim())
    );
    if !r.spec.design.trim().is_empty() {
        s.push_str(&format!(
            "<h2>Design</h2><p>{}</p>",
            esc(r.spec.design.trim())
        ));
    }
    s.push_str(&format!("<p>{}</p>", esc(&super::replicates_line(r.spec))));
    for line in super::notes(r) {
        s.push_str(&format!("<p>{}</p>", esc(&line)));
    }
    tables(&mut s, r);
    breakdowns(&mut s, r);
    for f in r.plan.fits.values() {
        s.push_str(&fit_section(f));
    }
    learning_curves(&mut s, r);
    tsne(&mut s, r);
    samples_section(&mut s, r);
    provenance(&mut s, r);
    s.push_str(
        "<script>window.addEventListener('load',function(){var n=0;for(const i of document.images){if(i.complete&&i.naturalWidth>0)n++;}\
document.body.setAttribute('data-images-loaded',String(n));});</script></body></html>\n",
    );
    s
}

/// The result tables: each cell our value ± SE [best] / the paper's, with the paired test.
fn tables(s: &mut String, r: &Report) {
    for t in &r.tables {
        s.push_str(&format!(
            "<h2>{}</h2><p>{}</p><table class=\"results\"><tr><th></th>",
            esc(&t.table.title),
            esc(&super::table_legend(t))
        ));
        for c in &t.columns {
            s.push_str(&format!("<th>{}</th>", esc(c)));
        }
        s.push_str("</tr>");
        for (row, cells) in &t.rows {
            s.push_str(&format!("<tr><td>{}</td>", esc(row)));
            for c in cells {
                let class = match c.direction {
                    super::Direction::Holds => "holds",
                    super::Direction::Reversed => "reversed",
                    super::Direction::Unresolved => "noise",
                    super::Direction::NotApplicable | super::Direction::Untested => "",
                };
                let best = c.best.map_or(String::new(), |b| {
                    format!(" <span class=\"se\">[{b:.1}]</span>")
                });
                let mark = c.direction.mark();
                let test = match &c.paired {
                    Some(p) => format!(
                        "<br><small>{}{}p {}, b/c {}/{}</small>",
                        mark,
                        if mark.is_empty() { "" } else { ", " },
                        esc(&super::fmt_p(p.p_value)),
                        p.discordant.baseline_only,
                        p.discordant.row_only
                    ),
                    None if !mark.is_empty() => format!("<br><small>{mark}</small>"),
                    None => String::new(),
                };
                s.push_str(&format!(
                    "<td class=\"{class}\">{} <span class=\"se\">± {}</span>{best} / <span class=\"paper\">{}</span>{test}</td>",
                    fmt_pct(c.ours),
                    fmt_pct(c.se),
                    fmt_pct(c.paper),
                ));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
}

/// Accuracy by a manifest field's groups, per row.
fn breakdowns(s: &mut String, r: &Report) {
    for b in &r.breakdowns {
        s.push_str(&format!(
            "<h2>{}</h2><p>{}</p><table class=\"results\"><tr><th></th>",
            esc(&b.breakdown.title),
            esc(&super::breakdown_legend(b))
        ));
        for g in &b.groups {
            s.push_str(&format!("<th>{}</th>", esc(g)));
        }
        s.push_str("</tr>");
        for (row, cells) in &b.rows {
            s.push_str(&format!("<tr><td>{}</td>", esc(row)));
            for &(c, n) in cells {
                s.push_str(&format!("<td>{}</td>", esc(&super::group_text(c, n))));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
}

/// Acc on each evaluation set against the step, per run and adaptation.
fn learning_curves(s: &mut String, r: &Report) {
    s.push_str(
        "<h2>Learning curves</h2><p>Acc on each evaluation set against the training step.</p><div>",
    );
    for run in r.plan.runs.values() {
        s.push_str(&chart(
            &format!("run {}", run.name),
            &curves(&run.stage, false),
        ));
    }
    for a in r.plan.adaptations.values() {
        s.push_str(&chart(
            &format!("adaptation {} ({})", a.name, a.adapt.method),
            &curves(&a.stage, false),
        ));
    }
    s.push_str("</div>");
}

/// The adaptations' t-SNE figures, where they wrote one.
fn tsne(s: &mut String, r: &Report) {
    let figures: Vec<_> = r
        .plan
        .adaptations
        .values()
        .filter_map(|a| {
            let png = std::fs::read(run_dir(&a.stage).join("tsne.png")).ok()?;
            Some((a.name.clone(), png))
        })
        .collect();
    if !figures.is_empty() {
        s.push_str("<h2>t-SNE of adapted features</h2><p>Source and target features, coloured by class.</p>");
        for (name, png) in figures {
            s.push_str(&format!(
                "<figure><img class=\"tsne\" alt=\"t-SNE {0}\" style=\"max-width:480px\" src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>",
                esc(&name),
                base64(&png)
            ));
        }
    }
}

/// A few images per class of every dataset.
fn samples_section(s: &mut String, r: &Report) {
    s.push_str("<h2>Samples</h2>");
    for d in r.plan.datasets.values() {
        s.push_str(&format!(
            "<h3>{} <small>({} images{})</small></h3><table class=\"grid\">",
            esc(&d.name),
            d.images,
            if d.stream {
                ", streamed while training"
            } else if d.stage.is_none() {
                ", your real folder"
            } else {
                ""
            }
        ));
        for (class, images) in samples(&d.data, &d.classes, 6) {
            s.push_str(&format!("<tr><td>{}</td><td>", esc(&class)));
            for png in images {
                s.push_str(&format!(
                    "<img alt=\"{}\" src=\"data:image/png;base64,{}\">",
                    esc(&class),
                    base64(&png)
                ));
            }
            s.push_str("</td></tr>");
        }
        s.push_str("</table>");
    }
}

/// Command, version, machine, stage records and resolved presets.
fn provenance(s: &mut String, r: &Report) {
    s.push_str(&format!(
        "<h2>Provenance</h2><ul><li>command: <code>{}</code></li><li>synthgen {}</li><li>machine: {}</li><li>written: {}</li><li>spec: {}</li></ul>\
<table class=\"stages\"><tr><th>stage</th><th>this invocation</th><th>seconds</th><th>seed</th><th>hash</th></tr>",
        esc(&r.command),
        env!("CARGO_PKG_VERSION"),
        esc(&machine()),
        now_utc(),
        esc(&r.spec.source)
    ));
    for o in r.outcomes {
        s.push_str(&format!(
            "<tr><td>{} {}</td><td>{}</td><td>{:.1}</td><td>{}</td><td><code>{}</code></td></tr>",
            o.kind,
            esc(&o.name),
            o.how,
            o.record.seconds,
            seed_of(r, o),
            &o.record.hash[..16.min(o.record.hash.len())]
        ));
    }
    s.push_str("</table><h3>Datasets</h3>");
    for d in r.plan.datasets.values() {
        if let Some(p) = &d.preset {
            s.push_str(&format!(
                "<details><summary>{} (resolved preset)</summary><pre>{}</pre></details>",
                esc(&d.name),
                esc(&p.to_yaml())
            ));
        }
    }
}

/// A fit's held-out MMD before and after, its chart and a table of weights per factor.
fn fit_section(f: &crate::study::fit_stage::PlannedFit) -> String {
    use crate::study::fit_stage::{summary, CHART_FILE};
    let Some(sum) = summary(&f.stage) else {
        return String::new();
    };
    let mut s = format!(
        "<h2>Fitted weights: <code>{}</code></h2><p>Preset <code>{}</code> (dataset <code>{}</code>) fitted to {}, <code>{}</code> ({} images, {} unreadable skipped) with {} probe renders in {} round(s). \
Held-out MMD<sup>2</sup>: <b class=\"mmd\">{:.5} before, {:.5} after</b> (effective sample size {:.0}).</p>",
        esc(&f.name),
        esc(&sum.preset),
        esc(&f.fit.dataset),
        esc(&f.target_kind),
        esc(&sum.target),
        sum.target_images,
        sum.target_unreadable,
        sum.probe_images,
        sum.rounds,
        sum.heldout_mmd2_before,
        sum.heldout_mmd2_after,
        sum.effective_sample_size
    );
    if let Ok(png) = std::fs::read(f.stage.join(CHART_FILE)) {
        s.push_str(&format!(
            "<figure><img class=\"weights\" alt=\"fitted weights {0}\" style=\"max-width:720px\" src=\"data:image/png;base64,{1}\"><figcaption>one group of bars per factor, in the order of the tables below (grey: probe, blue: fitted)</figcaption></figure>",
            esc(&f.name),
            base64(&png)
        ));
    }
    for fw in &sum.factors {
        s.push_str(&format!(
            "<table class=\"weights\"><tr><th>{}</th><th>probe</th><th>fitted</th></tr>",
            esc(&fw.factor)
        ));
        for (l, (b, a)) in fw.levels.iter().zip(fw.before.iter().zip(&fw.after)) {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{b:.3}</td><td>{a:.3}</td></tr>",
                esc(l)
            ));
        }
        s.push_str("</table>");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
