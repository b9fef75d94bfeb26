//! SSA name scopes: which `%name` means which value, and forward references.
//!
//! Every region opens a scope. Lookups walk outwards and stop after the scope of an
//! `IsolatedFromAbove` op's region (a function cannot see the module's values). A name may not be
//! redefined while visible. A use of a name that is not (yet) defined is a forward reference: the
//! operand slot gets a placeholder and is patched when the definition appears in the same scope.
//! When a region ends, its unresolved references move to the enclosing scope (a nested region may
//! use a value defined later around it); at an isolated boundary they are errors, reported at the
//! first use.

use std::collections::HashMap;

use super::error::{PError, PResult};
use super::parser::Parser;
use crate::entity::EntityRef;
use crate::module::{Op, Value};
use crate::types::Type;

/// The values a name stands for: `count` consecutive values from `first` (results of one op, or
/// one block argument).
#[derive(Copy, Clone, Debug)]
pub(super) struct Def {
    pub first: Value,
    pub count: u32,
}

/// Uses of `%name#index` before its definition.
#[derive(Debug)]
struct Forward {
    index: u32,
    ty: Type,
    /// Position of the first use.
    pos: usize,
    slots: Vec<(Op, usize)>,
}

#[derive(Default)]
pub(super) struct Scope<'s> {
    defs: HashMap<&'s str, Def>,
    forwards: HashMap<&'s str, Vec<Forward>>,
    isolated: bool,
}

/// A value use as written: `%name` or `%name#index`.
#[derive(Copy, Clone, Debug)]
pub(super) struct ValueUse<'s> {
    pub name: &'s str,
    pub index: u32,
    pub pos: usize,
}

/// Stands in an operand slot until a forward reference is resolved; never survives a successful
/// parse.
fn placeholder() -> Value {
    Value::new(u32::MAX as usize)
}

fn spelled(name: &str, index: u32) -> String {
    if index == 0 {
        name.to_string()
    } else {
        format!("{name}#{index}")
    }
}

impl<'s> Parser<'s> {
    pub fn push_scope(&mut self, isolated: bool) {
        self.scopes.push(Scope {
            isolated,
            ..Scope::default()
        });
    }

    /// Close the innermost scope, handing unresolved forward references outwards.
    pub fn pop_scope(&mut self) -> PResult<()> {
        let Some(scope) = self.scopes.pop() else {
            return Ok(());
        };
        if scope.forwards.is_empty() {
            return Ok(());
        }
        let can_defer = !scope.isolated && !self.scopes.is_empty();
        if !can_defer {
            let (name, first) = scope
                .forwards
                .iter()
                .flat_map(|(name, fs)| fs.iter().map(move |f| (*name, f)))
                .min_by_key(|(_, f)| f.pos)
                .expect("forwards is not empty");
            return Err(PError::new(
                first.pos,
                format!("use of undefined value '{}'", spelled(name, first.index)),
            ));
        }
        let mut forwards: Vec<(&'s str, Forward)> = scope
            .forwards
            .into_iter()
            .flat_map(|(name, fs)| fs.into_iter().map(move |f| (name, f)))
            .collect();
        forwards.sort_by_key(|(_, f)| f.pos);
        for (name, f) in forwards {
            let parent = self.scopes.last_mut().expect("checked non-empty");
            let entry = forward_entry(parent, name, f.index, &f.ty, f.pos)?;
            entry.slots.extend(f.slots);
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<Def> {
        for scope in self.scopes.iter().rev() {
            if let Some(&d) = scope.defs.get(name) {
                return Some(d);
            }
            if scope.isolated {
                break;
            }
        }
        None
    }

    /// The value for operand `slot` of `op`, which the signature says has type `ty`.
    pub fn resolve_use(
        &mut self,
        op: Op,
        slot: usize,
        u: ValueUse<'s>,
        ty: &Type,
    ) -> PResult<Value> {
        let Some(def) = self.lookup(u.name) else {
            let scope = self.scopes.last_mut().expect("a scope is open");
            forward_entry(scope, u.name, u.index, ty, u.pos)?
                .slots
                .push((op, slot));
            return Ok(placeholder());
        };
        if u.index >= def.count {
            return Err(PError::new(
                u.pos,
                format!(
                    "'{}' refers to result #{} but '{}' has {} result(s)",
                    spelled(u.name, u.index),
                    u.index,
                    u.name,
                    def.count
                ),
            ));
        }
        let v = Value::new(def.first.index() + u.index as usize);
        let have = &self.m.values[v].ty;
        if have != ty {
            return Err(PError::new(
                u.pos,
                format!(
                    "'{}' has type {} but is used as {}",
                    spelled(u.name, u.index),
                    super::print_type(have),
                    super::print_type(ty)
                ),
            ));
        }
        Ok(v)
    }

    /// Define `name` in the innermost scope and patch earlier uses of it.
    pub fn define(&mut self, name: &'s str, pos: usize, def: Def) -> PResult<()> {
        if self.lookup(name).is_some() {
            return Err(PError::new(pos, format!("redefinition of value '{name}'")));
        }
        let scope = self.scopes.last_mut().expect("a scope is open");
        scope.defs.insert(name, def);
        let Some(forwards) = scope.forwards.remove(name) else {
            return Ok(());
        };
        for f in forwards {
            if f.index >= def.count {
                return Err(PError::new(
                    f.pos,
                    format!(
                        "'{}' refers to result #{} but '{name}' has {} result(s)",
                        spelled(name, f.index),
                        f.index,
                        def.count
                    ),
                ));
            }
            let v = Value::new(def.first.index() + f.index as usize);
            let have = &self.m.values[v].ty;
            if *have != f.ty {
                return Err(PError::new(
                    pos,
                    format!(
                        "'{}' is defined with type {} but was used before as {}",
                        spelled(name, f.index),
                        super::print_type(have),
                        super::print_type(&f.ty)
                    ),
                ));
            }
            for (op, slot) in f.slots {
                self.m.ops[op].operands[slot] = v;
            }
        }
        Ok(())
    }
}

/// The forward-reference record of `name#index` in `scope`, created if new; a use with a type
/// different from earlier uses is an error at `pos`.
fn forward_entry<'a, 's>(
    scope: &'a mut Scope<'s>,
    name: &'s str,
    index: u32,
    ty: &Type,
    pos: usize,
) -> PResult<&'a mut Forward> {
    let fs = scope.forwards.entry(name).or_default();
    let i = match fs.iter().position(|f| f.index == index) {
        Some(i) if fs[i].ty != *ty => {
            return Err(PError::new(
                pos,
                format!(
                    "'{}' is used as {} here but as {} before",
                    spelled(name, index),
                    super::print_type(ty),
                    super::print_type(&fs[i].ty)
                ),
            ));
        }
        Some(i) => i,
        None => {
            fs.push(Forward {
                index,
                ty: ty.clone(),
                pos,
                slots: Vec::new(),
            });
            fs.len() - 1
        }
    };
    let f = &mut fs[i];
    f.pos = f.pos.min(pos);
    Ok(f)
}
