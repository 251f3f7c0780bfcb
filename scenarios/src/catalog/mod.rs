//! The scenarios themselves, one module per topic of the seed documents.

mod classics;
mod condition;
mod event;
mod locks;
mod processes;
mod queue;
mod semaphore;
mod shared_data;
mod threads;

use crate::Scenario;

pub(crate) static SCENARIOS: &[Scenario] = &[
    threads::RETURN_VALUES,
    shared_data::COUNTER,
    shared_data::LIST_APPEND,
    shared_data::CHECK_THEN_ACT,
    locks::LOCK_ORDER,
    locks::LOCK_REENTRY,
    locks::EARLY_RETURN,
    semaphore::SEMAPHORE_POOL,
    event::EVENT_CONSUMERS,
    event::EVENT_PULSE,
    condition::CONDITION_BUFFER,
    condition::NOTIFY_WRONG_KIND,
    condition::LOST_NOTIFY,
    queue::QUEUE_TASK_DONE,
    queue::POISON_PILLS,
    threads::DAEMON,
    threads::JOIN_TIMEOUT,
    threads::THREAD_LOCAL,
    processes::MP_READER,
    processes::MP_LOCK,
    processes::FORK,
    classics::PHILOSOPHERS_SCENARIO,
    classics::BARRIER_PARTIES,
    classics::TIMER_CANCEL,
];
