//! Rendering a benchmark preset from a fixture ShapeNet tree through real Blender: ShapeNet
//! models where the tree has the class, Sweet Home 3D stand-ins where not, missing classes
//! announced in one block, the user denylist honoured, broken textures never magenta.
mod common;
mod shapenet_fixture;

use common::{manifest_digests, synthgen, text};
use shapenet_fixture::{write_tree, AIRPLANE};

#[test]
fn partial_benchmark_run_mixes_shapenet_and_sweethome3d_and_names_the_missing_class() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let root = write_tree(&scratch.join("ShapeNetCore"));
    // Passes the index (vertices and faces), but every face points at a vertex that does not
    // exist: Blender imports no faces, the run denylists it and records it for next time.
    let bad = root.join(AIRPLANE).join("a_bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("model.obj"),
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 97\nf 2 3 98\n",
    )
    .unwrap();
    let deny = scratch.join("deny.txt");
    std::fs::write(&deny, format!("# fixture\n{AIRPLANE}/a_deny looks wrong\n")).unwrap();
    let out = scratch.join("out");
    let o = synthgen(scratch)
        .args([
            "render",
            "--preset",
            "s2rda49",
            "--classes",
            "airplane,table,microphone,truck",
        ])
        .args([
            "--per-class",
            "2",
            "--set",
            "render.resolution=32",
            "--set",
            "render.samples=4",
        ])
        .args(["--set", "render.denoise=false"])
        // Keep the models' own materials, so the table whose texture is not an image must
        // fall back to a sampled material (validate rejects magenta).
        .args(["--set", "factors.material.keep_original_probability=1"])
        // Only the magenta check may reject an image, so every model is used as planned.
        .args([
            "--set",
            "validate.max_truncation=1",
            "--set",
            "validate.min_coverage=0",
        ])
        .args(["--set", "validate.max_coverage=1"])
        .arg("--shapenet")
        .arg(&root)
        .arg("--denylist")
        .arg(&deny)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let block = stderr
        .lines()
        .skip_while(|l| !l.contains("not every class comes from ShapeNet"))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        block.contains("Sweet Home 3D catalog: truck"),
        "{}",
        text(&o)
    );
    assert!(
        block.contains("missing") && block.contains("microphone"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("classes.txt")).unwrap(),
        "airplane\ntable\ntruck\n"
    );
    let records = manifest_digests(&out);
    assert_eq!(records.len(), 6);
    for r in &records {
        let key = r.model["key"].as_str().unwrap();
        match r.id.rsplit_once('_').unwrap().0 {
            "airplane" => assert_eq!(key, format!("shapenet:{AIRPLANE}/a_ok")),
            "table" => assert!(key.starts_with("shapenet:04379243/t_v2"), "{key}"),
            "truck" => assert!(key.starts_with("sweethome3d:"), "{key}"),
            other => panic!("unexpected class {other}"),
        }
    }
    let deny_text = std::fs::read_to_string(&deny).unwrap();
    assert!(
        deny_text.contains(&format!("\n{AIRPLANE}/a_bad ")),
        "{deny_text}\n{}",
        text(&o)
    );

    // The table with a texture that is not an image was rendered at the first attempt: its
    // material fell back to a sampled one instead of magenta.
    let broken: Vec<u32> = records
        .iter()
        .filter(|r| r.model["key"] == "shapenet:04379243/t_v2")
        .map(|r| r.attempt)
        .collect();
    assert_eq!(broken, [0], "{}", text(&o));
}

/// `--shapenet` with a preset that draws from Sweet Home 3D: an existing folder is named as
/// ignored in one line and the render goes on; a missing one is refused with exit 2 before
/// anything is written (with any preset).
#[test]
fn shapenet_folder_is_named_as_ignored_by_a_sweethome3d_preset_and_a_missing_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let root = scratch.join("ShapeNetCore");
    std::fs::create_dir_all(&root).unwrap();
    let out = scratch.join("out");
    let o = synthgen(scratch)
        .args(common::fit_render_args(&out, 1))
        .arg("--shapenet")
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let notes: Vec<&str> = std::str::from_utf8(&o.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.contains("--shapenet"))
        .collect();
    assert_eq!(
        notes,
        [format!(
            "note: --shapenet {} is ignored: preset demo draws from the sweethome3d catalog (only presets with `catalog: shapenet` use ShapeNet)",
            root.display()
        )],
        "{}",
        text(&o)
    );
    assert_eq!(manifest_digests(&out).len(), 2);

    for preset in ["demo", "s2rda49"] {
        let missing = scratch.join("no_such_dir");
        let refused = scratch.join(format!("refused_{preset}"));
        let mut args = common::fit_render_args(&refused, 1);
        args[2] = preset.to_string(); // render --preset <name>
        let o = synthgen(scratch)
            .args(args)
            .arg("--shapenet")
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{preset}: {}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "--shapenet {}: no such folder; point it (or SYNTHGEN_SHAPENET) at your ShapeNetCore copy, or leave it out",
                missing.display()
            )),
            "{preset}: {}",
            text(&o)
        );
        assert!(!refused.exists(), "{preset}");
    }
}
