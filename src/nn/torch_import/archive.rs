//! The two containers of `torch.save`: the zip archive (PyTorch >= 1.6: `<name>/data.pkl` plus
//! one entry `<name>/data/<key>` per storage) and the legacy stream
//! (`_use_new_zipfile_serialization=False`: pickles of the magic number, the protocol version
//! and the system info, the object, the sorted storage keys, then each storage as an int64
//! element count and its raw bytes). Both are read here into the pickled [`Value`] and the
//! storages' bytes; [`Storages::tensor`] turns a [`TensorRef`] into a tch tensor.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use super::pickle::{unpickle, TensorRef, Value};

/// torch.serialization's MAGIC_NUMBER and PROTOCOL_VERSION of the legacy format.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
const LEGACY_PROTOCOL: i128 = 1001;

/// A reason, without the file's name (the caller adds it).
pub type Why = String;

/// Where the storages' bytes come from.
pub enum Storages {
    /// The zip archive and the prefix of its entries (`<name>/data/`): read on demand, so only
    /// the tensors that are used are read.
    Zip {
        archive: zip::ZipArchive<std::fs::File>,
        prefix: String,
    },
    /// The legacy stream's storages, all read (they follow the pickle in one stream).
    Legacy(HashMap<String, Vec<u8>>),
}

/// Reads a zip-format file: its pickled object and its storages.
pub fn open_zip(path: &Path) -> Result<(Value, Storages), Why> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        format!(
            "it is not a readable zip archive ({e}); is the file complete (a download cut short)?"
        )
    })?;
    let pkl = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(str::to_string)
        .ok_or_else(|| {
            if archive.file_names().any(|n| n.ends_with("constants.pkl")) {
                "it is a TorchScript module (torch.jit.save), not a state dict; save model.state_dict() with torch.save instead".to_string()
            } else {
                "the zip archive holds no <name>/data.pkl, so torch.save did not write it".to_string()
            }
        })?;
    let root = pkl.trim_end_matches("data.pkl").to_string();
    if let Ok(mut order) = archive.by_name(&format!("{root}byteorder")) {
        let mut s = String::new();
        order.read_to_string(&mut s).map_err(|e| e.to_string())?;
        if s.trim() != "little" {
            return Err(format!(
                "its tensors are stored {} endian; load and re-save it on a little-endian machine",
                s.trim()
            ));
        }
    }
    let bytes = read_entry(&mut archive, &pkl)?;
    let (value, _) = unpickle(&bytes).map_err(|e| format!("its data.pkl cannot be read: {e}"))?;
    Ok((
        value,
        Storages::Zip {
            archive,
            prefix: format!("{root}data/"),
        },
    ))
}

fn read_entry(archive: &mut zip::ZipArchive<std::fs::File>, name: &str) -> Result<Vec<u8>, Why> {
    let mut entry = archive
        .by_name(name)
        .map_err(|e| format!("its entry {name} cannot be read ({e})"))?;
    let mut bytes = Vec::with_capacity(entry.size().min(1 << 32) as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("its entry {name} cannot be read ({e}); is the file complete?"))?;
    Ok(bytes)
}

/// Reads a legacy-format file: its pickled object and all its storages.
pub fn open_legacy(path: &Path) -> Result<(Value, Storages), Why> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut pos = 0usize;
    let mut next = |what: &str| -> Result<Value, Why> {
        let (v, used) = unpickle(&data[pos..])
            .map_err(|e| format!("its {what} cannot be read as a legacy torch.save file ({e})"))?;
        pos += used;
        Ok(v)
    };
    match next("header")? {
        Value::Int(LEGACY_MAGIC) => {}
        _ => {
            return Err(
                "it is a pickle but not a torch.save file (no PyTorch magic number)".to_string(),
            )
        }
    }
    match next("header")? {
        Value::Int(LEGACY_PROTOCOL) => {}
        v => return Err(format!("its legacy protocol version is {v:?}, not 1001")),
    }
    if let Value::Dict(info) = next("system info")? {
        let little = info.borrow().iter().any(
            |(k, v)| matches!((k, v), (Value::Str(k), Value::Bool(true)) if k == "little_endian"),
        );
        if !little {
            return Err(
                "its tensors are stored big endian; load and re-save it on a little-endian machine"
                    .into(),
            );
        }
    }
    let value = next("object")?;
    let keys = match next("storage key list")? {
        Value::List(l) => l
            .borrow()
            .iter()
            .map(|k| match k {
                Value::Str(s) => Ok(s.clone()),
                v => Err(format!("a storage key is {}", v.kind())),
            })
            .collect::<Result<Vec<_>, _>>()?,
        v => return Err(format!("its storage key list is {}", v.kind())),
    };
    // Element sizes come from the pickle's storage classes.
    let mut sizes: HashMap<String, usize> = HashMap::new();
    collect_storage_sizes(&value, &mut sizes, 0);
    let mut storages = HashMap::new();
    for key in keys {
        let count = data
            .get(pos..pos + 8)
            .ok_or("it ends before its storages do (a truncated file?)")?;
        let numel = u64::from_le_bytes(count.try_into().map_err(|_| "bad storage header")?);
        pos += 8;
        let elem = sizes.get(&key).copied().ok_or_else(|| {
            format!("its storage `{key}` is listed but no tensor of the pickle uses it")
        })?;
        let len = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(elem))
            .filter(|&n| pos + n <= data.len())
            .ok_or("it ends before its storages do (a truncated file?)")?;
        storages.insert(key, data[pos..pos + len].to_vec());
        pos += len;
    }
    Ok((value, Storages::Legacy(storages)))
}

/// The element size of every storage the pickle names (storages without a known type are
/// skipped: they fail later only if a wanted tensor uses them).
fn collect_storage_sizes(v: &Value, out: &mut HashMap<String, usize>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Tensor(t) => {
            if let Some((kind, _)) = storage_kind(&t.storage.class) {
                out.insert(t.storage.key.clone(), kind.elt_size_in_bytes());
            }
        }
        Value::Storage(s) => {
            if let Some((kind, _)) = storage_kind(&s.class) {
                out.insert(s.key.clone(), kind.elt_size_in_bytes());
            }
        }
        Value::Tuple(items) => items
            .iter()
            .for_each(|i| collect_storage_sizes(i, out, depth + 1)),
        Value::List(items) => items
            .borrow()
            .iter()
            .for_each(|i| collect_storage_sizes(i, out, depth + 1)),
        Value::Dict(items) => items
            .borrow()
            .iter()
            .for_each(|(_, i)| collect_storage_sizes(i, out, depth + 1)),
        _ => {}
    }
}

/// The tch kind of a typed storage class, and its dtype's name for messages.
fn storage_kind(class: &str) -> Option<(Kind, &'static str)> {
    Some(match class {
        "FloatStorage" => (Kind::Float, "float32"),
        "DoubleStorage" => (Kind::Double, "float64"),
        "HalfStorage" => (Kind::Half, "float16"),
        "BFloat16Storage" => (Kind::BFloat16, "bfloat16"),
        "LongStorage" => (Kind::Int64, "int64"),
        "IntStorage" => (Kind::Int, "int32"),
        "ShortStorage" => (Kind::Int16, "int16"),
        "CharStorage" => (Kind::Int8, "int8"),
        "ByteStorage" => (Kind::Uint8, "uint8"),
        "BoolStorage" => (Kind::Bool, "bool"),
        _ => return None,
    })
}

impl Storages {
    /// The tensor `t` describes, as a contiguous CPU tensor of its own.
    pub fn tensor(&mut self, t: &TensorRef) -> Result<Tensor, Why> {
        let (kind, _) = storage_kind(&t.storage.class).ok_or_else(|| {
            format!(
                "it holds a tensor of storage type {}, which synthgen does not read",
                t.storage.class
            )
        })?;
        let elem = kind.elt_size_in_bytes();
        let numel = t.storage.numel;
        let bytes_owned;
        let bytes: &[u8] = match self {
            Storages::Zip { archive, prefix } => {
                bytes_owned = read_entry(archive, &format!("{prefix}{}", t.storage.key))?;
                &bytes_owned
            }
            Storages::Legacy(map) => map
                .get(&t.storage.key)
                .ok_or_else(|| format!("its storage `{}` is missing", t.storage.key))?,
        };
        let want = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(elem))
            .ok_or_else(|| format!("a storage length {numel} is invalid"))?;
        if bytes.len() < want {
            return Err(format!(
                "its storage `{}` holds {} bytes but {want} are needed (a truncated file?)",
                t.storage.key,
                bytes.len()
            ));
        }
        check_view(t)?;
        let storage =
            Tensor::f_from_data_size(&bytes[..want], &[numel], kind).map_err(|e| e.to_string())?;
        let view = storage
            .f_as_strided(&t.size, &t.stride, Some(t.offset))
            .map_err(|e| e.to_string())?;
        view.f_contiguous().map_err(|e| e.to_string())
    }
}

/// The view must lie inside its storage (as_strided does not check on every build).
fn check_view(t: &TensorRef) -> Result<(), Why> {
    let bad = || {
        format!(
            "a tensor of size {:?} and stride {:?} at offset {} does not fit its storage of {} elements",
            t.size, t.stride, t.offset, t.storage.numel
        )
    };
    if t.offset < 0 || t.size.iter().any(|&s| s < 0) || t.stride.iter().any(|&s| s < 0) {
        return Err(bad());
    }
    if t.size.contains(&0) {
        return Ok(());
    }
    let mut last = t.offset as i128;
    for (&s, &st) in t.size.iter().zip(&t.stride) {
        last += (s as i128 - 1) * st as i128;
    }
    if last >= t.storage.numel as i128 {
        return Err(bad());
    }
    Ok(())
}
