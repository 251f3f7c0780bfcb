//! Queues (seed 004's `Queue(10)` producer/consumer with task_done).

use racelab_primitives::Queue;
use racelab_std::thread;

use crate::{as_is, Expected, Scenario, Variant};

const ITEMS: u32 = 3;

fn task_done(call_it: bool) {
    let queue = Queue::named("queue", 10);
    thread::Builder::new()
        .name("consumer".into())
        .daemon(true)
        .spawn(move || loop {
            let _num: u32 = queue.get();
            if call_it {
                queue.task_done();
            }
        })
        .unwrap();
    let producer = thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            for num in 0..ITEMS {
                queue.put(num);
            }
        })
        .unwrap();
    producer.join().unwrap();
    queue.join(); // waits until every item is marked done
}

pub(crate) const QUEUE_TASK_DONE: Scenario = Scenario {
    id: "queue-task-done",
    title: "Queue(10) producer/consumer, and join() without task_done()",
    source: "seed 004, the Queue(10) ProducerThread/ConsumerThread with task_done; classic bug Q-1",
    python: r#"queue = Queue(10)
def consumer():                  # a daemon thread
    while True:
        num = queue.get()
        queue.task_done()        # no-task-done: this line is missing, and queue.join() never returns
def producer():
    for num in range(3):
        queue.put(num)
p = Thread(target=producer, name='producer'); p.start()
p.join()
queue.join()"#,
    story: "`join()` waits until every item put has been marked done with `task_done()`. A consumer that \
            gets items but never calls `task_done()` leaves the count up forever, and `join()` hangs even \
            though the queue is empty.",
    variants: &[
        Variant {
            name: "no-task-done",
            summary: "the consumer never calls task_done()",
            expected: Expected::Bug("deadlock"),
            program: || task_done(false),
            configure: as_is,
        },
        Variant {
            name: "seed",
            summary: "get(), then task_done(), as in the seed",
            expected: Expected::Pass,
            program: || task_done(true),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};

/// A job or the poison pill, shown in traces as Python shows them (`0`, `None`), since the
/// scenario is told as Python (`jobs.put(job)`, `jobs.put(None)`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Job(Option<u32>);

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("None"),
        }
    }
}

fn poison_pills(pills: usize) {
    let queue = Queue::named("jobs", 0);
    let workers: Vec<_> = (1..=2)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || loop {
                    let job: Job = queue.get();
                    if job.0.is_none() {
                        return; // the poison pill
                    }
                })
                .unwrap()
        })
        .collect();
    for job in 0..2 {
        queue.put(Job(Some(job)));
    }
    for _ in 0..pills {
        queue.put(Job(None));
    }
    for w in workers {
        w.join().unwrap();
    }
}

pub(crate) const POISON_PILLS: Scenario = Scenario {
    id: "poison-pills",
    title: "one poison pill for two workers",
    source: "classic bug Q-5",
    python: r#"jobs = Queue()
def worker():                     # worker-1 and worker-2
    while True:
        job = jobs.get()
        if job is None: return
workers = [Thread(target=worker, name=f'worker-{i}') for i in (1, 2)]
for w in workers: w.start()
for job in range(2): jobs.put(job)
jobs.put(None)                    # one-pill: one pill for two workers (pill-each: a second jobs.put(None))
for w in workers: w.join()        # hangs on the worker that never got a pill"#,
    story: "Each worker stops at the first pill it takes, so each needs its own: with one pill for two \
            workers, the second worker waits on an empty queue forever and joining it hangs.",
    variants: &[
        Variant {
            name: "one-pill",
            summary: "one None for two workers",
            expected: Expected::Bug("deadlock"),
            program: || poison_pills(1),
            configure: as_is,
        },
        Variant {
            name: "pill-each",
            summary: "one None per worker",
            expected: Expected::Pass,
            program: || poison_pills(2),
            configure: as_is,
        },
    ],
    default_config: crate::portfolio,
};
