//! `synthgen index` on a fixture ShapeNet tree, and the one-line input errors of ShapeNet
//! runs (none of these start Blender).
mod common;
mod shapenet_fixture;

use common::{synthgen, text};
use shapenet_fixture::{write_tree, AIRPLANE, CHAIR, TABLE};
use std::path::Path;

fn index(scratch: &Path, root: &Path, out: &Path) -> (serde_json::Value, String) {
    let o = synthgen(scratch)
        .args(["index", "--shapenet"])
        .arg(root)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    (json, String::from_utf8_lossy(&o.stdout).to_string())
}

fn ids(v: &serde_json::Value, synset: &str, list: &str) -> Vec<String> {
    v["synsets"][synset][list]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn reason(v: &serde_json::Value, synset: &str, id: &str) -> String {
    v["synsets"][synset]["unusable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not unusable"))["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn index_lists_usable_models_and_says_why_the_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = write_tree(&dir.path().join("ShapeNetCore"));
    let out = dir.path().join("index.json");
    let (v, stdout) = index(dir.path(), &root, &out);
    assert_eq!(ids(&v, CHAIR, "models"), ["c_huge", "c_v1"]);
    assert_eq!(ids(&v, TABLE, "models"), ["t_v2", "t_v2b"]);
    assert_eq!(ids(&v, AIRPLANE, "models"), ["a_deny", "a_ok"]);
    assert_eq!(v["synsets"][AIRPLANE]["name"], "airplane");
    assert_eq!(
        v["synsets"][TABLE]["models"][0]["obj"],
        format!("{TABLE}/t_v2/models/model_normalized.obj")
    );
    assert_eq!(
        v["synsets"][CHAIR]["models"][1]["obj"],
        format!("{CHAIR}/c_v1/model.obj")
    );
    assert!(reason(&v, CHAIR, "c_noobj").starts_with("missing OBJ"));
    assert!(reason(&v, CHAIR, "c_empty").starts_with("empty mesh"));
    assert!(reason(&v, TABLE, "t_lines").starts_with("zero faces"));
    assert!(reason(&v, TABLE, "t_nomtl").contains("gone.mtl"));
    assert!(reason(&v, AIRPLANE, "a_tex").contains("missing.jpg"));
    assert!(
        stdout.contains("6 usable and 5 unusable") && stdout.contains("11 checked"),
        "{stdout}"
    );

    // Unchanged tree: every verdict comes from the cache; one changed model is re-checked.
    let (_, stdout) = index(dir.path(), &root, &out);
    assert!(stdout.contains("0 checked, 11 unchanged"), "{stdout}");
    std::fs::write(
        root.join(CHAIR).join("c_empty/model.obj"),
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
    )
    .unwrap();
    let (v, stdout) = index(dir.path(), &root, &out);
    assert!(stdout.contains("1 checked, 10 unchanged"), "{stdout}");
    assert_eq!(ids(&v, CHAIR, "models"), ["c_empty", "c_huge", "c_v1"]);
}

fn one_error_line(o: &std::process::Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", text(o));
    for n in needles {
        assert!(errors[0].contains(n), "missing {n:?}: {}", text(o));
    }
}

#[test]
fn bad_shapenet_input_gives_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let root = write_tree(&scratch.join("ShapeNetCore"));
    let run = |args: &[&str]| synthgen(scratch).args(args).output().unwrap();
    let s = |p: &Path| p.to_string_lossy().to_string();

    // A folder that is not a ShapeNet tree.
    let plain = scratch.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    one_error_line(
        &run(&["index", "--shapenet", &s(&plain)]),
        &["not a ShapeNetCore folder", "taxonomy.json"],
    );

    // A taxonomy that does not parse.
    let broken = write_tree(&scratch.join("broken"));
    std::fs::write(broken.join("taxonomy.json"), "{not json").unwrap();
    one_error_line(
        &run(&["index", "--shapenet", &s(&broken)]),
        &["taxonomy.json", "does not parse"],
    );

    let render = |extra: &[&str]| {
        synthgen(scratch)
            .args([
                "render",
                "--preset",
                "s2rda49",
                "--per-class",
                "1",
                "--classes",
                "chair",
            ])
            .arg("--shapenet")
            .arg(&root)
            .arg("--out")
            .arg(scratch.join("out"))
            .args(extra)
            .output()
            .unwrap()
    };

    // A class map naming a synset the taxonomy does not have.
    let map = scratch.join("map.yaml");
    std::fs::write(
        &map,
        "benchmark: mine\nclasses:\n  chair: {synsets: [\"09999999\"]}\n",
    )
    .unwrap();
    one_error_line(
        &render(&["--class-map", &s(&map)]),
        &["09999999", "taxonomy.json", "chair"],
    );

    // A denylist line that does not parse.
    let deny = scratch.join("deny.txt");
    std::fs::write(&deny, "c_v1 fine\nc_huge\n").unwrap();
    one_error_line(
        &render(&["--denylist", &s(&deny)]),
        &["deny.txt", "line 2", "no reason"],
    );

    // A bad --shard.
    one_error_line(&render(&["--shard", "4/3"]), &["I/N"]);
}

#[test]
fn strict_mode_refuses_missing_classes_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let out = scratch.join("out");
    // Without ShapeNet: microphone has no Sweet Home 3D stand-in.
    let o = synthgen(scratch)
        .env_remove("SYNTHGEN_SHAPENET")
        .args([
            "render",
            "--preset",
            "s2rda49",
            "--classes",
            "chair,microphone",
            "--strict",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    one_error_line(&o, &["--strict", "microphone", "--shapenet"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("ShapeNet: not given"), "{stderr}");
    assert!(!out.join("manifest.jsonl").exists());
}
