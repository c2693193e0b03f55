//! A small ShapeNetCore tree written by the tests: v1 and v2 layouts, a taxonomy.json, and
//! models broken in each way the index must report.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub const CHAIR: &str = "03001627";
pub const TABLE: &str = "04379243";
pub const AIRPLANE: &str = "02691156";
/// In taxonomy.json, but the tree has no folder for it (a class without models).
pub const MICROPHONE: &str = "03759954";

use crate::common::box_obj_with as box_obj;

fn write(path: PathBuf, text: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Writes the tree under `root` and returns `root`. Usable: chair `c_v1`, `c_huge` (v1,
/// coordinates x1000, flipped faces), table `t_v2` (v2, its texture is not an image),
/// `t_v2b` (v2), airplane `a_ok`, `a_deny`. Unusable: one per reason.
pub fn write_tree(root: &Path) -> PathBuf {
    write(
        root.join("taxonomy.json"),
        format!(
            r#"[{{"synsetId": "{CHAIR}", "name": "chair", "children": [], "numInstances": 4}},
{{"synsetId": "{TABLE}", "name": "table", "children": [], "numInstances": 4}},
{{"synsetId": "{AIRPLANE}", "name": "airplane,aeroplane,plane", "children": [], "numInstances": 3}},
{{"synsetId": "{MICROPHONE}", "name": "microphone,mike", "children": [], "numInstances": 0}}]"#
        ),
    );
    let mtl = "newmtl paint\nKd 0.7 0.4 0.2\n";
    let v1 = |synset: &str, id: &str| root.join(synset).join(id);
    // chairs: v1
    write(
        v1(CHAIR, "c_v1").join("model.obj"),
        box_obj(Some("model.mtl"), 0.5, 0.9, 0.5, 1.0, false),
    );
    write(v1(CHAIR, "c_v1").join("model.mtl"), mtl);
    write(
        v1(CHAIR, "c_huge").join("model.obj"),
        box_obj(None, 0.6, 0.8, 0.6, 1000.0, true),
    );
    write(v1(CHAIR, "c_noobj").join("notes.txt"), "no model here");
    write(v1(CHAIR, "c_empty").join("model.obj"), "");
    // tables: v2
    let v2 = |id: &str| root.join(TABLE).join(id).join("models");
    write(
        v2("t_v2").join("model_normalized.obj"),
        box_obj(Some("model_normalized.mtl"), 1.2, 0.7, 0.8, 1.0, false),
    );
    write(
        v2("t_v2").join("model_normalized.mtl"),
        format!("{mtl}map_Kd ../images/texture0.jpg\n"),
    );
    write(
        root.join(TABLE).join("t_v2/images/texture0.jpg"),
        "this is not a jpeg",
    );
    write(
        v2("t_v2b").join("model_normalized.obj"),
        box_obj(None, 1.0, 0.8, 1.0, 1.0, false),
    );
    write(
        v2("t_lines").join("model_normalized.obj"),
        "v 0 0 0\nv 1 0 0\nl 1 2\n",
    );
    write(
        v2("t_nomtl").join("model_normalized.obj"),
        box_obj(Some("gone.mtl"), 1.0, 1.0, 1.0, 1.0, false),
    );
    // airplanes: v1
    write(
        v1(AIRPLANE, "a_ok").join("model.obj"),
        box_obj(None, 1.5, 0.3, 1.2, 1.0, false),
    );
    write(
        v1(AIRPLANE, "a_deny").join("model.obj"),
        box_obj(None, 1.5, 0.3, 1.2, 1.0, false),
    );
    write(
        v1(AIRPLANE, "a_tex").join("model.obj"),
        box_obj(Some("model.mtl"), 1.0, 1.0, 1.0, 1.0, false),
    );
    write(
        v1(AIRPLANE, "a_tex").join("model.mtl"),
        format!("{mtl}map_Kd -s 1 1 1 missing.jpg\n"),
    );
    root.to_path_buf()
}
