//! A pickle reader for the subset `torch.save` writes: dicts (plain and `OrderedDict`), lists,
//! tuples, strings, numbers and tensors. It never imports or runs anything: a class it does not
//! know becomes an opaque [`Value::Object`], so a checkpoint's extra entries (an argparse
//! `Namespace`, numpy scalars) are read past and only the state dict has to be understood.
//!
//! Tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls whose
//! storage is a persistent id `('storage', torch.FloatStorage, key, location, numel, ...)`;
//! they are kept as [`TensorRef`]s (no data) for the container reader to fill from the storages.
use std::cell::RefCell;
use std::rc::Rc;

/// What went wrong while reading the pickle stream (the caller adds the file's name).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(pub String);

fn err<T>(why: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError(why.into()))
}

/// A storage named by a persistent id: its key (a zip entry `data/<key>` or a legacy key),
/// its element type's class name (`FloatStorage`, ...) and its length in elements.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub class: String,
    pub numel: i64,
}

/// A tensor as the pickle describes it: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

/// The values of the subset. Lists and dicts are shared, as in Python: a memoised container
/// that is filled after being memoised is seen filled through every reference.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Rc<RefCell<Vec<Value>>>),
    /// Dicts and `OrderedDict`s, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A class or function named by GLOBAL / STACK_GLOBAL.
    Global {
        module: String,
        name: String,
    },
    Storage(StorageRef),
    Tensor(TensorRef),
    /// An instance of a class this reader does not know (read past, never built).
    Object(String),
}

impl Value {
    fn dict() -> Value {
        Value::Dict(Rc::new(RefCell::new(Vec::new())))
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }

    /// A short description for error messages.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::List(_) => "a list".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global { module, name } => format!("{module}.{name}"),
            Value::Storage(_) => "a storage".into(),
            Value::Tensor(_) => "a tensor".into(),
            Value::Object(class) => format!("a {class} object"),
        }
    }

    fn as_i64(&self, what: &str) -> Result<i64, PickleError> {
        match self {
            Value::Int(i) => i64::try_from(*i).or_else(|_| err(format!("{what} {i} is too large"))),
            Value::Bool(b) => Ok(*b as i64),
            v => err(format!("{what} should be an int, not {}", v.kind())),
        }
    }

    fn as_shape(&self, what: &str) -> Result<Vec<i64>, PickleError> {
        match self {
            Value::Tuple(items) => items.iter().map(|v| v.as_i64(what)).collect(),
            Value::List(items) => items.borrow().iter().map(|v| v.as_i64(what)).collect(),
            v => err(format!("{what} should be a tuple, not {}", v.kind())),
        }
    }
}

/// Reads one pickle from the start of `data`; returns the value and the bytes it used (a
/// legacy torch file is several pickles in a row followed by raw storages).
pub fn unpickle(data: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Vec::new(),
    };
    let value = m.run()?;
    Ok((value, m.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Vec<Option<Value>>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                PickleError("the pickle stream ends early (a truncated file?)".into())
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A text line (protocol 0 opcodes), without its newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| {
            PickleError("the pickle stream ends early (a truncated file?)".into())
        })?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| PickleError("a text opcode holds invalid UTF-8".into()))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn utf8(&mut self, n: usize) -> Result<String, PickleError> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| PickleError("a string is not UTF-8".into()))
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => err("the pickle stream pops an empty stack (a damaged file?)"),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(v) => Ok(v),
            None => err("the pickle stream reads an empty stack (a damaged file?)"),
        }
    }

    /// The values pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let at = match self.marks.pop() {
            Some(at) if at <= self.stack.len() => at,
            _ => return err("the pickle stream closes a MARK it never opened (a damaged file?)"),
        };
        Ok(self.stack.split_off(at))
    }

    fn memo_put(&mut self, index: usize) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        if index > 10_000_000 {
            return err(format!("memo index {index} is implausibly large"));
        }
        if self.memo.len() <= index {
            self.memo.resize(index + 1, None);
        }
        self.memo[index] = Some(v);
        Ok(())
    }

    fn memo_get(&mut self, index: usize) -> Result<(), PickleError> {
        match self.memo.get(index) {
            Some(Some(v)) => {
                let v = v.clone();
                self.stack.push(v);
                Ok(())
            }
            _ => err(format!("memo entry {index} is read before it is written")),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if items.len() % 2 != 0 {
            return err("SETITEMS has an odd number of values");
        }
        match self.top()? {
            Value::Dict(d) => {
                let mut d = d.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
                Ok(())
            }
            // Items of an unknown mapping class are read past.
            Value::Object(_) => Ok(()),
            v => err(format!("SETITEM on {}", v.kind())),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            Value::Object(_) => Ok(()),
            v => err(format!("APPEND on {}", v.kind())),
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.byte()?;
            if op == b'.' {
                return self.pop();
            }
            let known = self.control(op)?
                || self.number(op)?
                || self.text(op)?
                || self.container(op)?
                || self.memo_op(op)?
                || self.object(op)?;
            if !known {
                return err(format!(
                    "pickle opcode 0x{op:02x} at byte {} is outside what torch.save writes",
                    self.pos - 1
                ));
            }
        }
    }

    /// Protocol, framing, mark and stack opcodes. False when `op` is not one of them.
    fn control(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            0x80 => {
                let proto = self.byte()?;
                if proto > 5 {
                    return err(format!("pickle protocol {proto} is newer than 5"));
                }
            }
            0x95 => {
                self.u64()?; // FRAME: a length hint only
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Numbers: None, booleans, integers and floats. False when `op` is not one of them.
    fn number(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = self.u32()? as i32;
                self.stack.push(Value::Int(v as i128));
            }
            b'K' => {
                let v = self.byte()?;
                self.stack.push(Value::Int(v as i128));
            }
            b'M' => {
                let v = self.u16()?;
                self.stack.push(Value::Int(v as i128));
            }
            0x8a => {
                let n = self.byte()? as usize;
                let v = self.long(n)?;
                self.stack.push(v);
            }
            0x8b => {
                let n = self.u32()? as usize;
                let v = self.long(n)?;
                self.stack.push(v);
            }
            b'I' | b'L' => {
                let line = self.line()?.trim_end_matches('L');
                let v = match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    s => Value::Int(
                        s.parse()
                            .map_err(|_| PickleError(format!("`{s}` is not an integer")))?,
                    ),
                };
                self.stack.push(v);
            }
            b'G' => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                self.stack.push(Value::Float(f64::from_be_bytes(a)));
            }
            b'F' => {
                let s = self.line()?;
                let v = s
                    .parse()
                    .map_err(|_| PickleError(format!("`{s}` is not a float")))?;
                self.stack.push(Value::Float(v));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Strings and bytes. False when `op` is not one of them.
    fn text(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'X' => {
                let n = self.u32()? as usize;
                let s = self.utf8(n)?;
                self.stack.push(Value::Str(s));
            }
            0x8c => {
                let n = self.byte()? as usize;
                let s = self.utf8(n)?;
                self.stack.push(Value::Str(s));
            }
            0x8d => {
                let n = self.u64()? as usize;
                let s = self.utf8(n)?;
                self.stack.push(Value::Str(s));
            }
            b'V' => {
                let s = self.line()?.to_string();
                self.stack.push(Value::Str(s));
            }
            b'T' | b'B' => {
                let n = self.u32()? as usize;
                let b = self.take(n)?.to_vec();
                self.stack.push(Value::Bytes(b));
            }
            b'U' | b'C' => {
                let n = self.byte()? as usize;
                let b = self.take(n)?.to_vec();
                self.stack.push(Value::Bytes(b));
            }
            0x8e => {
                let n = self.u64()? as usize;
                let b = self.take(n)?.to_vec();
                self.stack.push(Value::Bytes(b));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Dicts, lists and tuples, and their items. False when `op` is not one of them.
    fn container(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'}' => self.stack.push(Value::dict()),
            b']' => self.stack.push(Value::list(Vec::new())),
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::dict());
                self.set_items(items)?;
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::list(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return err("a tuple opcode finds too few values");
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(items));
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo: PUT and GET in their forms. False when `op` is not one of them.
    fn memo_op(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'q' => {
                let i = self.byte()? as usize;
                self.memo_put(i)?;
            }
            b'r' => {
                let i = self.u32()? as usize;
                self.memo_put(i)?;
            }
            0x94 => {
                let i = self.memo.len();
                self.memo_put(i)?;
            }
            b'p' => {
                let s = self.line()?;
                let i = s
                    .parse()
                    .map_err(|_| PickleError(format!("PUT index `{s}` is not a number")))?;
                self.memo_put(i)?;
            }
            b'h' => {
                let i = self.byte()? as usize;
                self.memo_get(i)?;
            }
            b'j' => {
                let i = self.u32()? as usize;
                self.memo_get(i)?;
            }
            b'g' => {
                let s = self.line()?;
                let i = s
                    .parse()
                    .map_err(|_| PickleError(format!("GET index `{s}` is not a number")))?;
                self.memo_get(i)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, calls, object construction and persistent ids (tensor storages). False when `op` is not one of them.
    fn object(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                self.stack.push(Value::Global { module, name });
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        self.stack.push(Value::Global { module, name })
                    }
                    _ => return err("STACK_GLOBAL expects two strings"),
                }
            }
            b'R' => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let v = reduce(callable, args)?;
                self.stack.push(v);
            }
            0x81 => {
                let _args = self.pop()?;
                let class = self.pop()?;
                self.stack.push(Value::Object(class.kind()));
            }
            0x92 => {
                let _kwargs = self.pop()?;
                let _args = self.pop()?;
                let class = self.pop()?;
                self.stack.push(Value::Object(class.kind()));
            }
            b'b' => {
                // BUILD sets an object's state (an OrderedDict's `_metadata`, an
                // unknown object's fields): nothing this reader keeps.
                self.pop()?;
                self.top()?;
            }
            b'Q' => {
                let pid = self.pop()?;
                let v = persistent_load(pid)?;
                self.stack.push(v);
            }
            b'P' => {
                let s = self.line()?.to_string();
                return err(format!(
                    "a text persistent id `{s}` (not written by torch.save)"
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A little-endian two's-complement integer of `n` bytes (LONG1 / LONG4).
    fn long(&mut self, n: usize) -> Result<Value, PickleError> {
        if n > 16 {
            return err(format!("an integer of {n} bytes is too large"));
        }
        let b = self.take(n)?;
        let mut a = [0u8; 16];
        a[..n].copy_from_slice(b);
        if n > 0 && b[n - 1] & 0x80 != 0 {
            a[n..].fill(0xff);
        }
        Ok(Value::Int(i128::from_le_bytes(a)))
    }
}

/// `callable(*args)` for the callables torch.save writes; anything else is opaque.
fn reduce(callable: Value, args: Value) -> Result<Value, PickleError> {
    let (module, name) = match &callable {
        Value::Global { module, name } => (module.as_str(), name.as_str()),
        v => return Ok(Value::Object(v.kind())),
    };
    let args = match args {
        Value::Tuple(a) => a,
        v => return err(format!("{module}.{name} is called with {}", v.kind())),
    };
    match (module, name) {
        ("collections", "OrderedDict") if args.is_empty() => Ok(Value::dict()),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => rebuild_tensor(&args),
        // A Parameter wraps its data tensor: keep the tensor.
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match args.into_iter().next() {
                Some(t @ Value::Tensor(_)) => Ok(t),
                Some(v) => err(format!("a Parameter wraps {}", v.kind())),
                None => err("a Parameter without data"),
            }
        }
        _ => Ok(Value::Object(format!("{module}.{name}"))),
    }
}

fn rebuild_tensor(args: &[Value]) -> Result<Value, PickleError> {
    let storage = match args.first() {
        Some(Value::Storage(s)) => s.clone(),
        Some(v) => return err(format!("a tensor is built on {}, not a storage", v.kind())),
        None => return err("a tensor is built without a storage"),
    };
    let get = |i: usize, what: &str| {
        args.get(i)
            .ok_or_else(|| PickleError(format!("a tensor lacks its {what}")))
    };
    let offset = get(1, "storage offset")?.as_i64("a storage offset")?;
    let size = get(2, "size")?.as_shape("a tensor size")?;
    let stride = get(3, "stride")?.as_shape("a tensor stride")?;
    if size.len() != stride.len() {
        return err(format!(
            "a tensor has {} sizes but {} strides",
            size.len(),
            stride.len()
        ));
    }
    Ok(Value::Tensor(TensorRef {
        storage,
        offset,
        size,
        stride,
    }))
}

/// `('storage', torch.FloatStorage, key, location, numel[, view_metadata])`.
fn persistent_load(pid: Value) -> Result<Value, PickleError> {
    let items = match pid {
        Value::Tuple(items) => items,
        v => return err(format!("a persistent id is {}, not a tuple", v.kind())),
    };
    match items.as_slice() {
        [Value::Str(tag), Value::Global { name, .. }, key, _location, numel, rest @ ..]
            if tag == "storage" =>
        {
            if let Some(view) = rest.first() {
                if !matches!(view, Value::None) {
                    return err("a storage view (written by PyTorch before 0.4) is not supported");
                }
            }
            let key = match key {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                v => return err(format!("a storage key is {}", v.kind())),
            };
            Ok(Value::Storage(StorageRef {
                key,
                class: name.clone(),
                numel: numel.as_i64("a storage length")?,
            }))
        }
        _ => err("a persistent id that is not a torch storage"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written protocol-2 pickle of `OrderedDict([('a', 1), ('b', [2.5, 'x'])])`
    /// with memo references, as pickle.dumps writes it.
    #[test]
    fn reads_an_ordered_dict_with_memo_and_lists() {
        let mut p = vec![0x80, 2];
        p.extend(b"ccollections\nOrderedDict\nq\x00)Rq\x01(");
        p.extend(b"X\x01\x00\x00\x00aq\x02K\x01");
        p.extend(b"X\x01\x00\x00\x00bq\x03]q\x04(G");
        p.extend(2.5f64.to_be_bytes());
        p.extend(b"X\x01\x00\x00\x00xq\x05eu.");
        let (v, used) = unpickle(&p).unwrap();
        assert_eq!(used, p.len());
        let Value::Dict(d) = v else { panic!("{v:?}") };
        let d = d.borrow();
        assert_eq!(d.len(), 2);
        assert!(matches!(&d[0], (Value::Str(k), Value::Int(1)) if k == "a"));
        let Value::List(l) = &d[1].1 else { panic!() };
        let l = l.borrow();
        assert!(matches!(l[0], Value::Float(f) if f == 2.5));
        assert!(matches!(&l[1], Value::Str(s) if s == "x"));
    }

    #[test]
    fn long_integers_are_signed_little_endian() {
        // LONG1 of 0x1950a86a20f9469cfc6c (torch's legacy magic number), then -2 in 1 byte.
        let magic: i128 = 0x1950a86a20f9469cfc6c;
        let mut p = vec![0x80, 2, 0x8a, 10];
        p.extend(&magic.to_le_bytes()[..10]);
        p.push(b'.');
        assert!(matches!(unpickle(&p).unwrap().0, Value::Int(m) if m == magic));
        assert!(matches!(
            unpickle(&[0x80, 2, 0x8a, 1, 0xfe, b'.']).unwrap().0,
            Value::Int(-2)
        ));
    }

    #[test]
    fn damaged_streams_are_errors_not_panics() {
        for bad in [
            &b""[..],
            &[0x80, 2],
            &[0x80, 2, b'u', b'.'],
            &[0x80, 2, b'h', 7, b'.'],
            &[0x80, 2, b's', b'.'],
            &[0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f],
            &[0x80, 2, 0xff],
        ] {
            assert!(unpickle(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_classes_are_opaque_objects() {
        // argparse.Namespace() with a BUILD of its fields, inside a dict.
        let mut p = vec![0x80, 2, b'}', b'(', b'X', 4, 0, 0, 0];
        p.extend(b"argscargparse\nNamespace\n)R}bu.");
        let (v, _) = unpickle(&p).unwrap();
        let Value::Dict(d) = v else { panic!() };
        assert!(matches!(&d.borrow()[0].1, Value::Object(c) if c == "argparse.Namespace"));
    }
}
