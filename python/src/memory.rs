//! Each simulated process sees its own copy of the program's global variables.
//!
//! A `multiprocessing.Process` is a green thread of the same interpreter, but a real child
//! process gets a copy of its parent's memory when it starts (fork) and never sees the parent's
//! later changes, nor the parent its changes: a global `counter` a child increments stays 0 in
//! the parent. Here every green thread belongs to a memory *space* (the program's is 0; a
//! process started with a snapshot gets a new one, and the threads it starts inherit it). The
//! program's global namespace (one dict, which every frame of the program reads its globals
//! through) holds the bindings of the space loaded now; when a thread of another space resumes,
//! the loaded space's bindings are saved and the resuming thread's space's bindings loaded, so
//! each process reads and writes its own globals. The snapshot is taken by the Python side at
//! `start()` (a deep copy of the globals and arguments, racelab's objects shared: see
//! `_multiprocessing.fork_copy`). Programs without processes never swap anything.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use racelab_sim::rt;

/// The spaces of the current run.
#[derive(Default)]
struct Spaces {
    /// The program's global namespace, once a process has started.
    namespace: Option<Py<PyDict>>,
    /// The bindings of every space but the loaded one, by space; the loaded one's are in the
    /// namespace itself.
    saved: Vec<Option<Py<PyDict>>>,
    /// The space of each green thread, by thread id (0 when absent).
    space_of: Vec<usize>,
    /// The space whose bindings the namespace holds.
    loaded: usize,
}

thread_local! {
    static SPACES: RefCell<Spaces> = RefCell::new(Spaces::default());
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(restore_spaces, m)?)?;
    Ok(())
}

/// A new run: the namespace left by the last one gets the program's own bindings back, and
/// every thread is in space 0.
pub(crate) fn reset(py: Python<'_>) {
    load(py, 0);
    // Dropped outside the borrow: the other spaces' objects may run finalizers.
    let old = SPACES.with(|s| std::mem::take(&mut *s.borrow_mut()));
    drop(old);
}

/// Gives the program's namespace its own (space 0) bindings back, as after a check.
#[pyfunction]
fn restore_spaces(py: Python<'_>) {
    reset(py);
}

/// A thread started by `parent` lives in `parent`'s space.
pub(crate) fn inherit(parent: u32, child: u32) {
    SPACES.with(|s| {
        let mut s = s.borrow_mut();
        if s.namespace.is_none() {
            return;
        }
        let space = s.space_of.get(parent as usize).copied().unwrap_or(0);
        set_space(&mut s, child, space);
    });
}

fn set_space(s: &mut Spaces, thread: u32, space: usize) {
    let i = thread as usize;
    if s.space_of.len() <= i {
        s.space_of.resize(i + 1, 0);
    }
    s.space_of[i] = space;
}

/// The current thread starts a process of its own: a new space with `snapshot`'s bindings for
/// `namespace`, loaded now.
/// Only one namespace per run is kept apart (the module the first process's target was defined
/// in, the program's own in practice): a process whose target lives in another module shares its
/// parent's memory, as every process did before, rather than have one module's globals loaded
/// into another's.
pub(crate) fn start_space(py: Python<'_>, parent: u32, namespace: Py<PyDict>, snapshot: Py<PyDict>) {
    let me = rt::current().as_u32();
    let space = SPACES.with(|s| {
        let mut s = s.borrow_mut();
        match &s.namespace {
            None => {
                s.namespace = Some(namespace);
                s.saved = vec![None];
            }
            Some(kept) if kept.is(&namespace) => {}
            Some(_) => {
                let space = s.space_of.get(parent as usize).copied().unwrap_or(0);
                set_space(&mut s, me, space);
                return None;
            }
        }
        s.saved.push(Some(snapshot));
        let space = s.saved.len() - 1;
        set_space(&mut s, me, space);
        Some(space)
    });
    match space {
        Some(space) => load(py, space),
        None => enter(py),
    }
}

/// Loads the current thread's space, if another is loaded (after a switch, at a thread's start).
pub(crate) fn enter(py: Python<'_>) {
    let wanted = SPACES.with(|s| {
        let s = s.borrow();
        s.namespace.as_ref()?;
        let space = s.space_of.get(rt::current().as_u32() as usize).copied().unwrap_or(0);
        (space != s.loaded).then_some(space)
    });
    if let Some(space) = wanted {
        load(py, space);
    }
}

/// Saves the loaded space's bindings and loads `space`'s into the namespace.
fn load(py: Python<'_>, space: usize) {
    SPACES.with(|s| {
        let mut s = s.borrow_mut();
        let Some(namespace) = s.namespace.as_ref().map(|n| n.bind(py).clone()) else { return };
        if s.loaded == space {
            return;
        }
        let loaded = s.loaded;
        assert!(
            s.saved[loaded].is_none() && s.saved[space].is_some(),
            "racelab invariant: the loaded memory space is the one the namespace holds"
        );
        let Some(incoming) = s.saved[space].take() else { return };
        // Plain dict operations: they run no Python code (no object loses its last reference:
        // `outgoing` keeps what `clear` drops, the namespace what `incoming` held) and cannot
        // fail, so nothing re-enters this table while it is borrowed.
        let outgoing = namespace.copy().expect("racelab: copying the program's globals");
        namespace.clear();
        namespace.update(incoming.bind(py).as_mapping()).expect("racelab: loading a process's globals");
        s.saved[loaded] = Some(outgoing.unbind());
        s.loaded = space;
    });
}
