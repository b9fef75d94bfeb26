//! The SOFA execution model without data, in one place: the event loop that replays an
//! instruction sequence on the engines' in-order queues and counting semaphores ([`mod@replay`]),
//! and the statistical model of the data-dependent counts ([`model`]: distinct keys of a RASS
//! list and the GATHER/KVGEN/VEC.ROPE that read it).
//!
//! A [`Replayer`] feeds the event loop a stream in pieces (each ending where a lowered segment
//! ends), so a program need not be whole in memory; [`spans`] keeps per-region figures without
//! a record per instruction.
//!
//! The simulator drives [`replay()`] with an executor that computes on data (functional mode)
//! or takes its counts from [`ListModel`] (timing-only mode); the compiler's cost model
//! replays the segments it emits with [`ListModel`] too. So a predicted cycle and a simulated
//! one come from the same rules and the same formulas ([`super::cost`]).

pub mod model;
pub mod replay;
pub mod spans;

pub use model::{expected_distinct, ListModel};
pub use replay::{
    engine_slot, replay, replay_recording, EngineStats, Executor, Recording, ReplayError, Replayer,
    Slot, Timeline, ENGINES,
};
pub use spans::{Cuts, PerInterval, SpanStats, Spans};
