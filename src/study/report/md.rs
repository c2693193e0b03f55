//! report.md: the tables and the provenance as Markdown (no images).
use super::{machine, now_utc, Report};

pub fn render(r: &Report) -> String {
    let mut s = format!(
        "# Study `{}`\n\n{}\n\n",
        r.spec.name,
        r.spec.description.trim()
    );
    if !r.spec.design.trim().is_empty() {
        s.push_str(&format!("## Design\n\n{}\n\n", r.spec.design.trim()));
    }
    s.push_str(&format!("{}\n\n", super::replicates_line(r.spec)));
    for line in super::notes(r) {
        s.push_str(&format!("{line}\n\n"));
    }
    for t in &r.tables {
        s.push_str(&format!(
            "## {}\n\n{}\n\n",
            t.table.title,
            super::table_legend(t)
        ));
        s.push_str(&format!("| | {} |\n", t.columns.join(" | ")));
        s.push_str(&format!("|---|{}\n", "---|".repeat(t.columns.len())));
        for (row, cells) in &t.rows {
            let cells: Vec<String> = cells.iter().map(super::cell_text).collect();
            s.push_str(&format!("| {row} | {} |\n", cells.join(" | ")));
        }
        s.push('\n');
    }
    for b in &r.breakdowns {
        s.push_str(&format!(
            "## {}\n\n{}\n\n",
            b.breakdown.title,
            super::breakdown_legend(b)
        ));
        s.push_str(&format!("| | {} |\n", b.groups.join(" | ")));
        s.push_str(&format!("|---|{}\n", "---|".repeat(b.groups.len())));
        for (row, cells) in &b.rows {
            let cells: Vec<String> = cells
                .iter()
                .map(|&(c, n)| super::group_text(c, n))
                .collect();
            s.push_str(&format!("| {row} | {} |\n", cells.join(" | ")));
        }
        s.push('\n');
    }
    for f in r.plan.fits.values() {
        let Some(sum) = crate::study::fit_stage::summary(&f.stage) else {
            continue;
        };
        s.push_str(&format!(
            "## Fitted weights: `{}`\n\nPreset `{}` (dataset `{}`) fitted to {}, `{}` ({} images) with {} probe renders in {} round(s). Held-out MMD^2: {:.5} before, {:.5} after (effective sample size {:.0}).\n\n| factor | level | probe | fitted |\n|---|---|---|---|\n",
            f.name,
            sum.preset,
            f.fit.dataset,
            f.target_kind,
            sum.target,
            sum.target_images,
            sum.probe_images,
            sum.rounds,
            sum.heldout_mmd2_before,
            sum.heldout_mmd2_after,
            sum.effective_sample_size
        ));
        for fw in &sum.factors {
            for (l, (b, a)) in fw.levels.iter().zip(fw.before.iter().zip(&fw.after)) {
                s.push_str(&format!("| {} | {l} | {b:.3} | {a:.3} |\n", fw.factor));
            }
        }
        s.push('\n');
    }
    s.push_str("## Provenance\n\n");
    s.push_str(&format!(
        "- command: `{}`\n- synthgen {}\n- machine: {}\n- written: {}\n- spec: {}\n\n",
        r.command,
        env!("CARGO_PKG_VERSION"),
        machine(),
        now_utc(),
        r.spec.source
    ));
    s.push_str("| stage | this invocation | seconds | seed |\n|---|---|---|---|\n");
    for o in r.outcomes {
        s.push_str(&format!(
            "| {} {} | {} | {:.1} | {} |\n",
            o.kind,
            o.name,
            o.how,
            o.record.seconds,
            seed_of(r, o)
        ));
    }
    s
}

pub(super) fn seed_of(r: &Report, o: &crate::study::stages::StageOutcome) -> String {
    let seed = match o.kind.as_str() {
        "render" => r.plan.datasets.get(&o.name).and_then(|d| d.seed),
        "train" => r.plan.runs.get(&o.name).map(|p| p.run.seed),
        "fit" => r.plan.fits.get(&o.name).map(|p| p.fit.seed),
        _ => r.plan.adaptations.get(&o.name).map(|p| p.adapt.seed),
    };
    seed.map_or("-".into(), |s| s.to_string())
}
