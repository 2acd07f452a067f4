//! The load a simulated VM reports (`SIM_LOAD`): the shapes are
//! `flotilla_policy::LoadShape`, shared with `flotilla policy simulate`.

pub use flotilla_policy::LoadShape;
