//! The scenarios themselves, one module per topic of the seed documents.

mod condition;
mod locks;
mod shared_data;

use crate::Scenario;

pub(crate) static SCENARIOS: &[Scenario] =
    &[shared_data::COUNTER, locks::LOCK_ORDER, condition::CONDITION_BUFFER];
