//! Pass trait, registry, pipelines, manager and instrumentation. (being written)
