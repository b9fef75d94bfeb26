//! The value table: which DRAM [`View`] holds each IR value, and the tensor table entries
//! behind them.
//!
//! - Function arguments are `input` tensors named by `arg_attrs` `onnx.name` (else the block
//!   argument's location).
//! - `onnx.Constant` results become `const` tensors (the payload of their dense or
//!   dense-resource attribute, little-endian) the first time an op loads them; their values
//!   are also readable at compile time ([`Ctx::const_value`]) for scalars, indices and masks.
//! - Op results get fresh tensors: `output` named by `res_attrs` `onnx.name` when the value is
//!   returned, `scratch` named after the op's location otherwise.
//! - Generated tables (`const.*`): splat scalars and count words are shared by name (the name
//!   encodes the data); index lists belong to their op.

use bytes::Bytes;
use sofa_ir::attr::{Attribute, FileRange};
use sofa_ir::eval::precision::{f32_to_bf16_bits, f32_to_f16_bits};
use sofa_ir::eval::Tensor;
use sofa_ir::isa::{DType, TensorKind};
use sofa_ir::{Block, Location, Op, Value};

use super::view::View;
use super::{movement, Ctx, OpRef};
use crate::lower::LowerError;

/// Largest element count of a tensor the lowering accepts (keeps address arithmetic exact).
const MAX_ELEMS: u64 = 1 << 36;

impl Ctx<'_> {
    /// Register every function argument as an `input` tensor.
    pub(super) fn bind_inputs(&mut self, func: Op, entry: Block) -> Result<(), LowerError> {
        let names = self.onnx_names(func, "arg_attrs");
        let args = self.m.blocks[entry].args.clone();
        for (i, &a) in args.iter().enumerate() {
            let name = names.get(i).cloned().flatten().unwrap_or_else(|| {
                match self.m.blocks[entry].arg_locs.get(i) {
                    Some(Location::Name(n)) => n.clone(),
                    _ => format!("arg{i}"),
                }
            });
            let (dt, shape) = self.value_shape(a).map_err(|e| {
                LowerError::Module(format!("function argument {i} ('{name}'): {e}"))
            })?;
            let name = self.unique_name(&name);
            let view = self
                .add_tensor(name, TensorKind::Input, dt, shape)
                .map_err(LowerError::Module)?;
            self.values.insert(a, view);
        }
        Ok(())
    }

    /// The ONNX name of every returned value, in order; reserves them and remembers the first
    /// position of each op result so its producer can write the output tensor directly.
    pub(super) fn result_names(
        &mut self,
        func: Op,
        ret: Op,
    ) -> Result<Vec<(Value, String)>, LowerError> {
        let names = self.onnx_names(func, "res_attrs");
        let mut out = Vec::new();
        for (i, &v) in self.m.op(ret).operands.iter().enumerate() {
            let name = names
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("output{i}"));
            if !self.names.insert(name.clone()) {
                return Err(LowerError::Module(format!(
                    "output name '{name}' is used twice"
                )));
            }
            if self.m.defining_op(v).is_some() && !self.out_names.contains_key(&v) {
                self.out_names.insert(v, name.clone());
            }
            out.push((v, name));
        }
        Ok(out)
    }

    /// Copy every returned value that is not already its own output tensor.
    pub(super) fn finish_outputs(&mut self, results: &[(Value, String)]) -> Result<(), LowerError> {
        for (v, name) in results {
            let owned = self
                .fresh
                .get(v)
                .is_some_and(|&t| self.dram.tensors[t].name == *name);
            if owned {
                continue;
            }
            let src =
                self.values.get(v).cloned().ok_or_else(|| {
                    LowerError::Module(format!("output '{name}' was not computed"))
                })?;
            let o = OpRef {
                op: self.m.top,
                kind: "func.return".into(),
                loc: name.clone(),
            };
            let dst = self
                .add_tensor(name.clone(), TensorKind::Output, src.dt, src.shape.clone())
                .map_err(|e| o.err(e))?;
            movement::copy_view(self, &o, &src, &dst)?;
        }
        Ok(())
    }

    fn onnx_names(&self, func: Op, key: &str) -> Vec<Option<String>> {
        let Some(list) = self.m.op(func).props.get(key).and_then(Attribute::as_array) else {
            return Vec::new();
        };
        list.iter()
            .map(|a| match a {
                Attribute::Dict(d) => d
                    .get("onnx.name")
                    .and_then(|n| n.as_str())
                    .map(String::from),
                _ => None,
            })
            .collect()
    }

    /// `base`, or `base#k` for the first free `k`.
    pub(super) fn unique_name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}#{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Append a tensor (name already unique) and return its dense view.
    pub(super) fn add_tensor(
        &mut self,
        name: String,
        kind: TensorKind,
        dt: DType,
        shape: Vec<u64>,
    ) -> Result<View, String> {
        self.add_tensor_data(name, kind, dt, shape, Bytes::new())
    }

    /// Append a `const` tensor with its data (name already unique).
    pub(super) fn add_const(
        &mut self,
        name: String,
        dt: DType,
        shape: Vec<u64>,
        data: Vec<u8>,
    ) -> Result<View, String> {
        self.add_tensor_data(name, TensorKind::Const, dt, shape, data.into())
    }

    fn add_tensor_data(
        &mut self,
        name: String,
        kind: TensorKind,
        dt: DType,
        shape: Vec<u64>,
        data: Bytes,
    ) -> Result<View, String> {
        let at = self
            .dram
            .add(name, kind, dt, shape.clone(), data)
            .ok_or("DRAM addresses overflow")?;
        Ok(View::contiguous(at, dt, shape))
    }

    /// Element type and static shape of `v`, checked to be non-empty and of sane size.
    pub(super) fn value_shape(&self, v: Value) -> Result<(DType, Vec<u64>), String> {
        let t = self
            .m
            .value_type(v)
            .as_tensor()
            .ok_or("not a tensor value")?;
        let shape = t
            .static_dims()
            .ok_or("the shape is not static (bind every dim with shape-infer{bind=…})")?;
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= MAX_ELEMS)
            .ok_or_else(|| format!("tensor of shape {shape:?} is too large"))?;
        if n == 0 {
            return Err(format!("empty tensor of shape {shape:?}"));
        }
        Ok((DType::from_elem(t.elem), shape))
    }

    /// [`Ctx::value_shape`] with the op named in the error.
    pub(super) fn shape_of(&self, o: &OpRef, v: Value) -> Result<(DType, Vec<u64>), LowerError> {
        self.value_shape(v).map_err(|e| o.err(e))
    }

    /// Operand `i` of the op.
    pub(super) fn operand(&self, o: &OpRef, i: usize) -> Result<Value, LowerError> {
        self.m
            .op(o.op)
            .operands
            .get(i)
            .copied()
            .filter(|&v| self.m.value_type(v).as_tensor().is_some())
            .ok_or_else(|| o.err(format!("operand {i} is missing")))
    }

    /// Result `i` of the op.
    pub(super) fn result(&self, o: &OpRef, i: usize) -> Result<Value, LowerError> {
        self.m
            .op(o.op)
            .results
            .get(i)
            .copied()
            .ok_or_else(|| o.err(format!("result {i} is missing")))
    }

    /// The DRAM view of `v`; constants are placed in DRAM on first use.
    pub(super) fn view(&mut self, o: &OpRef, v: Value) -> Result<View, LowerError> {
        if let Some(view) = self.values.get(&v) {
            return Ok(view.clone());
        }
        let def = self
            .m
            .defining_op(v)
            .filter(|&d| self.m.op(d).name == "onnx.Constant")
            .ok_or_else(|| o.err("an operand was not computed (unsupported producer)"))?;
        let (dt, shape) = self.shape_of(o, v)?;
        let (data, origin) = self.const_bytes(def).map_err(|e| o.err(e))?;
        let weights = origin
            .filter(|_| self.defaults.weights_by_reference)
            .map(|range| crate::weights::reference(range, data.len() as u64))
            .transpose()
            .map_err(|e| o.err(format!("reading its weights: {e}")))?;
        let name = self.unique_name(&loc_name(self.m.op(def)));
        let view = self
            .add_tensor_data(name, TensorKind::Const, dt, shape, data)
            .map_err(|e| o.err(e))?;
        if weights.is_some() {
            // The tensor just added: its bytes stay in the file.
            if let Some(t) = self.dram.tensors.last_mut() {
                t.weights = weights;
            }
        }
        self.values.insert(v, view.clone());
        Ok(view)
    }

    /// The constant's bytes and, when they are a file's range unchanged, where.
    fn const_bytes(&self, def: Op) -> Result<(Bytes, Option<&FileRange>), String> {
        match self.m.op(def).attrs.get("value") {
            Some(Attribute::Dense(d)) => Ok((d.payload().clone(), None)),
            Some(Attribute::DenseResource { name, .. }) => self
                .m
                .resources
                .get(name)
                .map(|r| (r.bytes.clone(), r.origin.as_ref()))
                .ok_or_else(|| format!("dense_resource<{name}> is not in the module")),
            _ => Err("onnx.Constant without a dense `value`".into()),
        }
    }

    /// The compile-time value of `v` when an `onnx.Constant` defines it or the lowering
    /// evaluated its producer at compile time.
    pub(super) fn const_value(&self, v: Value) -> Option<Tensor> {
        if let Some(t) = self.known.get(&v) {
            return Some(t.clone());
        }
        let def = self.m.defining_op(v)?;
        let d = self.m.op(def);
        if d.name != "onnx.Constant" {
            return None;
        }
        Tensor::from_attr(d.attrs.get("value")?, self.m).ok()
    }

    /// The single value of a constant whose elements are all equal.
    pub(super) fn splat(&self, v: Value) -> Option<f64> {
        let t = self.const_value(v)?;
        let vals = t.to_f64_vec();
        let first = *vals.first()?;
        vals.iter()
            .all(|&x| x.to_bits() == first.to_bits())
            .then_some(first)
    }

    /// Record the compile-time value of `v` (see [`super::static_eval`]).
    pub(super) fn know(&mut self, v: Value, t: Tensor) {
        self.known.insert(v, t);
    }

    /// Bind `v` to `view` (layout ops).
    pub(super) fn bind(&mut self, v: Value, view: View) {
        self.values.insert(v, view);
    }

    /// A fresh dense tensor for result `index` of the op: the function output when the value is
    /// returned, else scratch named after the op.
    pub(super) fn new_result(
        &mut self,
        o: &OpRef,
        index: usize,
        dt: DType,
        shape: Vec<u64>,
    ) -> Result<View, LowerError> {
        let v = self.result(o, index)?;
        let (name, kind) = match self.out_names.remove(&v) {
            Some(n) => (n, TensorKind::Output),
            None if index == 0 => (self.unique_name(&o.loc), TensorKind::Scratch),
            None => (
                self.unique_name(&format!("{}#{index}", o.loc)),
                TensorKind::Scratch,
            ),
        };
        let view = self
            .add_tensor(name, kind, dt, shape)
            .map_err(|e| o.err(e))?;
        self.fresh.insert(v, self.dram.tensors.len() - 1);
        self.values.insert(v, view.clone());
        Ok(view)
    }

    /// A scratch tensor for an intermediate that is no IR value.
    pub(super) fn scratch(
        &mut self,
        o: &OpRef,
        suffix: &str,
        dt: DType,
        shape: Vec<u64>,
    ) -> Result<View, LowerError> {
        let name = self.unique_name(&format!("{}.{suffix}", o.loc));
        self.add_tensor(name, TensorKind::Scratch, dt, shape)
            .map_err(|e| o.err(e))
    }

    /// The tensor index `v` owns, if it was allocated for it and is still scratch.
    pub(super) fn owned_scratch(&self, v: Value) -> Option<usize> {
        let &t = self.fresh.get(&v)?;
        (self.dram.tensors[t].kind == TensorKind::Scratch).then_some(t)
    }

    /// A `const.*` table shared by name (the name must determine the data).
    pub(super) fn table(
        &mut self,
        name: &str,
        dt: DType,
        shape: Vec<u64>,
        data: Vec<u8>,
    ) -> Result<View, String> {
        if let Some(&at) = self.tables.get(name) {
            return Ok(View::contiguous(at, dt, shape));
        }
        let unique = self.unique_name(name);
        let view = self.add_tensor_data(unique, TensorKind::Const, dt, shape, data.into())?;
        self.tables.insert(name.to_string(), view.base);
        Ok(view)
    }

    /// One element of `dt` with value `x` (a `const.splat.*` table), viewed as `shape` by
    /// broadcasting: loads of it are stride-0 reads.
    pub(super) fn splat_view(&mut self, dt: DType, x: f64, shape: &[u64]) -> Result<View, String> {
        let bytes = scalar_bytes(dt, x)?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let one = self.table(&format!("const.splat.{dt}.{hex}"), dt, vec![1], bytes)?;
        one.broadcast_to(shape)
            .ok_or_else(|| "cannot broadcast a scalar".to_string())
    }
}

/// Little-endian bytes of `x` as one `dt` element.
pub(super) fn scalar_bytes(dt: DType, x: f64) -> Result<Vec<u8>, String> {
    Ok(match dt {
        DType::F32 => (x as f32).to_le_bytes().to_vec(),
        DType::F16 => f32_to_f16_bits(x as f32).to_le_bytes().to_vec(),
        DType::BF16 => f32_to_bf16_bits(x as f32).to_le_bytes().to_vec(),
        DType::I64 => (x as i64).to_le_bytes().to_vec(),
        DType::I32 => (x as i32).to_le_bytes().to_vec(),
        DType::U32 => (x as u32).to_le_bytes().to_vec(),
        DType::I8 => vec![x as i8 as u8],
        DType::U8 => vec![x as u8],
        DType::I1 => vec![u8::from(x != 0.0)],
        other => return Err(format!("no scalar constants of type {other}")),
    })
}

/// Name of a constant's tensor: its location (the initializer or node name).
fn loc_name(d: &sofa_ir::OpData) -> String {
    match &d.loc {
        Location::Unknown => "const".into(),
        other => super::loc_text(other),
    }
}
