//! ONNX graph → `func.func @main` of `onnx.*` ops, following the IR contract
//! (notes/onnx-ir-contract.md): inputs become block arguments, initializers `onnx.Constant`s at
//! the top (large payloads in `Module::resources`), nodes one op each in topological order, with
//! result types from the op's inference hook refined by symbolic shape values and by the shapes
//! the model declares.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sofa_ir::dialect::onnx::shape::check_size;
use sofa_ir::dialect::{DialectRegistry, OpDef};
use sofa_ir::{
    AttrDict, Attribute, Block, DenseAttr, Location, Module, Op, OpSpec, Resource, TensorType,
    Type, Value,
};

use super::attrs;
use super::error::{Cause, OnnxError, Site};
use super::graph::{check_supported, ir_op_name, node_name, node_site, topo_order};
use super::load::LoadedModel;
use super::proto::{GraphProto, NodeProto, TensorProto, ValueInfoProto};
use super::symbolic::SymValues;
use super::tensor::{decode_tensor, ExternalFiles, TensorError};
use super::types::{declared_type, refine};
use super::ImportOptions;

/// Payloads with more elements than this go to `Module::resources`.
pub const INLINE_LIMIT: usize = 64;

/// An imported module plus the non-fatal findings.
#[derive(Debug)]
pub struct Imported {
    pub module: Module,
    pub warnings: Vec<String>,
}

/// Import a loaded model.
pub fn import_model(loaded: &LoadedModel, opts: &ImportOptions) -> Result<Imported, OnnxError> {
    let graph = loaded
        .model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::Model("the model has no graph".into()))?;
    if !graph.sparse_initializer.is_empty() {
        return Err(OnnxError::Model(format!(
            "the graph has {} sparse initializer(s); sparse tensors are not supported",
            graph.sparse_initializer.len()
        )));
    }
    let registry = DialectRegistry::with_core_dialects();
    check_supported(graph, &registry)?;
    let mut imp = Importer::new(loaded, graph, opts, registry);
    imp.set_module_attrs();
    imp.import_inputs()?;
    imp.import_initializers()?;
    let defined: BTreeSet<&str> = imp.values.keys().copied().collect();
    for index in topo_order(graph, &defined)? {
        imp.import_node(index)?;
    }
    imp.import_outputs()?;
    let mut warnings = loaded.warnings.clone();
    warnings.extend(imp.unused_bindings());
    Ok(Imported {
        module: imp.module,
        warnings,
    })
}

struct Importer<'m> {
    loaded: &'m LoadedModel,
    graph: &'m GraphProto,
    opts: &'m ImportOptions,
    registry: DialectRegistry,
    module: Module,
    func: Op,
    entry: Block,
    values: HashMap<&'m str, Value>,
    constants: HashMap<Value, Attribute>,
    sym: SymValues,
    declared: HashMap<&'m str, &'m ValueInfoProto>,
    resource_names: BTreeSet<String>,
    external: ExternalFiles,
    named_dims: BTreeSet<String>,
}

/// A resource key: `[A-Za-z0-9_]` only, not starting with a digit, unique in `taken`.
fn resource_key(hint: &str, taken: &BTreeSet<String>) -> String {
    let mut base: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base.insert(0, '_');
    }
    let mut key = base.clone();
    let mut n = 1;
    while taken.contains(&key) {
        key = format!("{base}_{n}");
        n += 1;
    }
    key
}

impl<'m> Importer<'m> {
    fn new(
        loaded: &'m LoadedModel,
        graph: &'m GraphProto,
        opts: &'m ImportOptions,
        registry: DialectRegistry,
    ) -> Self {
        let mut module = Module::new();
        let (func, entry) = module.add_func("main", Vec::new(), Vec::new());
        let declared = graph
            .value_info
            .iter()
            .chain(&graph.output)
            .map(|vi| (vi.name(), vi))
            .collect();
        Importer {
            loaded,
            graph,
            opts,
            registry,
            module,
            func,
            entry,
            values: HashMap::new(),
            constants: HashMap::new(),
            sym: SymValues::default(),
            declared,
            resource_names: BTreeSet::new(),
            external: ExternalFiles::default(),
            named_dims: BTreeSet::new(),
        }
    }

    fn set_module_attrs(&mut self) {
        let model = &self.loaded.model;
        let producer = format!("{} {}", model.producer_name(), model.producer_version());
        let attrs = &mut self.module.ops[self.module.top].attrs;
        attrs.insert("onnx.opset".into(), Attribute::i64(self.loaded.opset));
        attrs.insert("onnx.ir_version".into(), Attribute::i64(model.ir_version()));
        attrs.insert("onnx.producer".into(), Attribute::string(producer.trim()));
    }

    /// Graph inputs that are not initializers become the entry block's arguments.
    fn import_inputs(&mut self) -> Result<(), OnnxError> {
        let inits: BTreeSet<&str> = self.graph.initializer.iter().map(|t| t.name()).collect();
        let mut arg_attrs = Vec::new();
        for vi in self
            .graph
            .input
            .iter()
            .filter(|vi| !inits.contains(vi.name()))
        {
            let site = || Site::Input(vi.name().to_string());
            if vi.name().is_empty() || self.values.contains_key(vi.name()) {
                return Err(OnnxError::at(site(), Cause::InputName));
            }
            let ty = declared_type(vi, &BTreeMap::new())
                .map_err(|e| OnnxError::at(site(), e))?
                .ok_or_else(|| OnnxError::at(site(), Cause::NoInputShape))?;
            for d in &ty.dims {
                if let sofa_ir::Dim::Named(n) = d {
                    self.named_dims.insert(n.clone());
                }
            }
            let ty = super::types::bind_type(Type::Tensor(ty), &self.opts.shape_bindings);
            let v = self
                .module
                .add_block_arg(self.entry, ty, Location::name(vi.name()));
            self.values.insert(vi.name(), v);
            arg_attrs.push(name_dict(vi.name()));
        }
        self.module.ops[self.func]
            .props
            .insert("arg_attrs".into(), Attribute::Array(arg_attrs));
        Ok(())
    }

    /// A tensor proto as a constant attribute: inline when small, else a module resource
    /// (the payload's one copy).
    fn tensor_attr(
        &mut self,
        t: &TensorProto,
        hint: &str,
    ) -> Result<(Attribute, TensorType), TensorError> {
        let tensor = decode_tensor(t, self.loaded.base_dir.as_deref(), &mut self.external)?;
        let bytes = tensor.bytes.clone();
        let count = tensor.ty.num_elements().unwrap_or(u64::MAX);
        if count <= INLINE_LIMIT as u64 {
            let ty = tensor.ty.clone();
            return DenseAttr::new(tensor.ty, bytes)
                .map(|d| (Attribute::Dense(d), ty))
                .ok_or(TensorError::Payload);
        }
        let name = resource_key(hint, &self.resource_names);
        self.resource_names.insert(name.clone());
        let alignment = tensor.ty.elem.byte_size() as u32;
        self.module.resources.insert(
            name.clone(),
            Resource {
                alignment,
                bytes,
                origin: tensor.origin,
            },
        );
        let attr = Attribute::DenseResource {
            name,
            ty: tensor.ty.clone(),
        };
        Ok((attr, tensor.ty))
    }

    fn import_initializers(&mut self) -> Result<(), OnnxError> {
        for t in &self.graph.initializer {
            let site = || Site::Tensor(t.name().to_string());
            if t.name().is_empty() || self.values.contains_key(t.name()) {
                return Err(OnnxError::at(site(), Cause::InitializerName));
            }
            let (value, ty) = self
                .tensor_attr(t, t.name())
                .map_err(|e| OnnxError::at(site(), e))?;
            let v = self.add_constant(value, ty, Location::name(t.name()));
            self.values.insert(t.name(), v);
        }
        Ok(())
    }

    fn add_constant(&mut self, value: Attribute, ty: TensorType, loc: Location) -> Value {
        let op = self.module.build_at_end(
            self.entry,
            OpSpec::new("onnx.Constant")
                .results([Type::Tensor(ty)])
                .attr("value", value.clone())
                .loc(loc),
        );
        let v = self.module.result(op, 0);
        self.sym.record_constant(&self.module, v, &value);
        self.constants.insert(v, value);
        v
    }

    fn convert_attrs(&mut self, node: &NodeProto) -> Result<AttrDict, Cause> {
        let hint = node
            .output
            .first()
            .map_or_else(|| node.name().to_string(), Clone::clone);
        let mut dict = AttrDict::new();
        for a in &node.attribute {
            let value =
                attrs::convert(a, &hint, &mut |t, h| self.tensor_attr(t, h).map(|(a, _)| a))?;
            if dict.insert(a.name().to_string(), value).is_some() {
                return Err(Cause::DuplicateAttr(a.name().to_string()));
            }
        }
        if node.op_type() == "Constant" {
            let value = attrs::constant_value(&dict)?;
            dict = AttrDict::from([("value".to_string(), value)]);
        }
        Ok(dict)
    }

    /// Operands of a node: trailing absent inputs dropped, inner ones `onnx.NoValue`.
    fn operands(&mut self, node: &'m NodeProto, loc: &Location) -> Result<Vec<Value>, Cause> {
        let used = node
            .input
            .iter()
            .rposition(|i| !i.is_empty())
            .map_or(0, |p| p + 1);
        node.input[..used]
            .iter()
            .map(|name| {
                if name.is_empty() {
                    let op = self.module.build_at_end(
                        self.entry,
                        OpSpec::new("onnx.NoValue")
                            .results([Type::None])
                            .loc(loc.clone()),
                    );
                    return Ok(self.module.result(op, 0));
                }
                self.values
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| Cause::UndefinedInput(name.clone()))
            })
            .collect()
    }

    fn import_node(&mut self, index: usize) -> Result<(), OnnxError> {
        let node: &'m NodeProto = &self.graph.node[index];
        let err = |cause: Cause| OnnxError::at(node_site(node, index), cause);
        let name = ir_op_name(node).ok_or_else(|| err(Cause::Domain))?;
        let def: &'static OpDef = self
            .registry
            .lookup(&name)
            .ok_or_else(|| err(Cause::UnsupportedOp))?;
        let loc = Location::name(node_name(node, index));
        let attrs = self.convert_attrs(node).map_err(err)?;
        let operands = self.operands(node, &loc).map_err(err)?;
        let n_results = node
            .output
            .iter()
            .rposition(|o| !o.is_empty())
            .map_or(0, |p| p + 1);
        check_arity(def, operands.len(), n_results).map_err(err)?;
        check_attrs(def, &attrs).map_err(err)?;
        let mut spec = OpSpec::new(name)
            .operands(operands.iter().copied())
            .results(vec![Type::None; n_results])
            .loc(loc);
        spec.attrs = attrs;
        let op = self.module.build_at_end(self.entry, spec);
        let types = self.result_types(op, def, node).map_err(err)?;
        for (i, ty) in types.into_iter().enumerate() {
            let v = self.module.result(op, i);
            self.module.values[v].ty = ty;
            let out = node.output[i].as_str();
            if !out.is_empty() {
                self.values.insert(out, v);
            }
        }
        if def.name == "onnx.Constant" {
            let value = self.module.ops[op].attrs["value"].clone();
            let v = self.module.result(op, 0);
            self.sym.record_constant(&self.module, v, &value);
            self.constants.insert(v, value);
        } else {
            self.sym.propagate(&self.module, op);
        }
        Ok(())
    }

    /// Inference hook, then symbolic refinement, then the model's declared shapes.
    fn result_types(&self, op: Op, def: &OpDef, node: &NodeProto) -> Result<Vec<Type>, Cause> {
        let consts: Vec<Option<Attribute>> = self.module.ops[op]
            .operands
            .iter()
            .map(|&v| {
                self.constants
                    .get(&v)
                    .cloned()
                    .or_else(|| self.sym.as_constant(&self.module, v))
            })
            .collect();
        let infer = def.infer.ok_or(Cause::NoInference)?;
        let mut types = infer(&self.module, op, &consts)?;
        if types.len() != self.module.ops[op].results.len() {
            return Err(Cause::ResultCount {
                got: types.len(),
                expected: self.module.ops[op].results.len(),
            });
        }
        if let Some(t) = self.sym.refine(&self.module, op, &types)? {
            if let Some(Type::Tensor(first)) = types.first() {
                types[0] = Type::Tensor(refine(first, &t)?);
            }
        }
        for (i, ty) in types.iter_mut().enumerate() {
            let out = node.output[i].as_str();
            if let (Some(vi), Type::Tensor(t)) = (self.declared.get(out), &*ty) {
                let declared = declared_type(vi, &self.opts.shape_bindings).map_err(|error| {
                    Cause::DeclaredType {
                        output: out.to_string(),
                        error,
                    }
                })?;
                if let Some(d) = declared {
                    let refined = refine(t, &d).map_err(|error| Cause::OutputMismatch {
                        output: out.to_string(),
                        error,
                    })?;
                    *ty = Type::Tensor(refined);
                }
            }
            if let Type::Tensor(t) = ty {
                check_size(t).map_err(|error| Cause::OutputSize {
                    output: out.to_string(),
                    error,
                })?;
            }
        }
        Ok(types)
    }

    fn import_outputs(&mut self) -> Result<(), OnnxError> {
        let mut results = Vec::new();
        let mut res_attrs = Vec::new();
        for vi in &self.graph.output {
            let site = || Site::Output(vi.name().to_string());
            let v = *self
                .values
                .get(vi.name())
                .ok_or_else(|| OnnxError::at(site(), Cause::OutputUndefined))?;
            results.push(v);
            res_attrs.push(name_dict(vi.name()));
        }
        let result_types: Vec<Type> = results
            .iter()
            .map(|&v| self.module.value_type(v).clone())
            .collect();
        let inputs: Vec<Type> = self.module.blocks[self.entry]
            .args
            .iter()
            .map(|&a| self.module.value_type(a).clone())
            .collect();
        self.module.build_at_end(
            self.entry,
            OpSpec::new(sofa_ir::module::RETURN_OP).operands(results),
        );
        let props = &mut self.module.ops[self.func].props;
        props.insert(
            "function_type".into(),
            Attribute::Type(Type::Function(sofa_ir::FunctionType {
                inputs,
                results: result_types,
            })),
        );
        props.insert("res_attrs".into(), Attribute::Array(res_attrs));
        Ok(())
    }

    /// Warnings for `--shape` names that match no named input dim.
    fn unused_bindings(&self) -> Vec<String> {
        self.opts
            .shape_bindings
            .keys()
            .filter(|k| !self.named_dims.contains(*k))
            .map(|k| format!("shape binding '{k}' matches no named dim of the graph inputs"))
            .collect()
    }
}

/// `{onnx.name = "<name>"}` for `arg_attrs` / `res_attrs`.
fn name_dict(name: &str) -> Attribute {
    Attribute::Dict(AttrDict::from([(
        "onnx.name".to_string(),
        Attribute::string(name),
    )]))
}

fn check_arity(def: &OpDef, operands: usize, results: usize) -> Result<(), Cause> {
    if !def.operands.accepts(operands) {
        return Err(Cause::Inputs {
            expected: def.operands,
            got: operands,
        });
    }
    if !def.results.accepts(results) {
        return Err(Cause::Outputs {
            expected: def.results,
            got: results,
        });
    }
    Ok(())
}

/// Attributes must be in the op's schema, of the declared kind, and required ones present
/// (the ONNX checker's rule; the IR verifier enforces the same later).
fn check_attrs(def: &OpDef, attrs: &AttrDict) -> Result<(), Cause> {
    for (name, value) in attrs {
        let Some(schema) = def.attrs.iter().find(|a| a.name == name) else {
            return Err(Cause::UnknownAttr(name.clone()));
        };
        if !schema.kind.accepts(value) {
            return Err(Cause::AttrKind {
                name: name.clone(),
                expected: schema.kind,
                got: value.kind_name(),
            });
        }
    }
    match def
        .attrs
        .iter()
        .find(|a| a.required && !attrs.contains_key(a.name))
    {
        Some(missing) => Err(Cause::MissingAttr(missing.name)),
        None => Ok(()),
    }
}
