//! The HTML timeline (`--html`), rendered by a real headless browser (Debian's chromium): the
//! lanes, the lock spans and waits, the wake-up arrows and the failure marker are in the
//! rendered DOM, and pressing the arrow keys (through the page's own `#keys=` hook, which
//! dispatches key events to its listener) moves the cursor and changes the state shown.
//!
//! `.ci/run` installs chromium from the distribution when it is missing; where no browser can
//! be found (`RACELAB_CHROMIUM`, `chromium`, `chromium-browser`) the browser part prints why and
//! stops, after checking the page's text.

use std::path::{Path, PathBuf};
use std::process::Command;

fn racelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_racelab")).args(args).output().expect("racelab runs")
}

fn browser() -> Option<PathBuf> {
    // A browser named by RACELAB_CHROMIUM is the only one tried (a missing one skips the browser
    // part, which is how that path is exercised).
    if let Some(p) = std::env::var_os("RACELAB_CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// The DOM after the page's script ran, with `keys` pressed.
fn rendered(chromium: &Path, page: &Path, keys: &str, profile: &Path) -> String {
    let url = format!("file://{}#keys={keys}", page.display());
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element `<div id="{id}" ...>` and its `data-index`.
fn panel(dom: &str, id: &str) -> (String, String) {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("#{id} in the DOM"));
    let rest = &dom[start..];
    let index =
        rest.split("data-index=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
    let body = rest.split_once('>').map(|(_, b)| b).unwrap_or("");
    (body.split("</div>").next().unwrap_or("").to_string(), index)
}

struct Case {
    args: &'static [&'static str],
    threads: usize,
    /// The run holds locks (spans to draw).
    locks: bool,
    /// A line of the shared state at the last event (the lock state at a deadlock, the data).
    state_line: &'static str,
    /// The Python line highlighted at the failing event, when the page can place it.
    failing_line: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        args: &["check", "condition-buffer/if"],
        threads: 4,
        locks: true,
        state_line: "queue: []",
        failing_line: Some("condition.wait()"),
    },
    Case {
        args: &["replay", "notify-one/notify", "--schedule", "v1 spurious-wakeups=0 t0 t2 t3 t1 #ccc9474c"],
        threads: 4,
        locks: true,
        state_line: "condition: waiting: producer, consumer-2",
        failing_line: Some("while items == 0: condition.wait()"),
    },
    Case {
        args: &["replay", "event-consumers/seed", "--schedule", "v1 t0 t1 t2 t3*7 t0*2 t1*5 #2b90eca6"],
        threads: 4,
        locks: false,
        state_line: "l: [0]",
        failing_line: None,
    },
];

#[test]
fn the_timeline_renders_lanes_arrows_the_failure_and_steps_with_the_keyboard() {
    let dir = std::env::temp_dir().join(format!("racelab-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let chromium = browser();
    if chromium.is_none() {
        eprintln!("no chromium found (install it: apt-get install chromium): checking the page's text only");
    }
    for (n, case) in CASES.iter().enumerate() {
        let page = dir.join(format!("timeline-{n}.html"));
        let mut args: Vec<&str> = case.args.to_vec();
        let path = page.to_string_lossy().into_owned();
        args.extend(["--html", &path]);
        let out = racelab(&args);
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let html = std::fs::read_to_string(&page).expect("the page is written");
        // Self-contained: nothing fetched from anywhere.
        for outside in ["http://", "https://", "src=", "<link", "@import"] {
            let uses = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!uses.contains(outside), "{}: the page refers outside itself ({outside})", case.args[1]);
        }
        let Some(chromium) = &chromium else { continue };
        let profile = dir.join(format!("profile-{n}"));
        let start = rendered(chromium, &page, "", &profile);
        assert_eq!(start.matches("class=\"lane\"").count(), case.threads, "{}: lanes", case.args[1]);
        assert!(start.contains("class=\"arrow wake\""), "{}: wake-up arrows", case.args[1]);
        if case.locks {
            assert!(start.contains("class=\"span hold"), "{}: lock-holding spans", case.args[1]);
        }
        assert!(start.contains("class=\"span wait"), "{}: waits", case.args[1]);
        assert!(start.contains("id=\"failure-marker\""), "{}: the failure marker", case.args[1]);
        assert!(start.contains("class=\"event failing"), "{}: the failing event", case.args[1]);
        assert!(start.contains("id=\"narration\"") && start.contains("class=\"deciding"), "narration beside");
        let (state0, index0) = panel(&start, "state");
        assert_eq!(index0, "0", "the cursor starts at the first event");
        // Step to the end one key at a time; somewhere the state shows the data changing.
        let events = start.matches("class=\"event").count();
        let right = vec!["ArrowRight"; events + 3].join(",");
        let end = rendered(chromium, &page, &right, &profile);
        let (state_end, index_end) = panel(&end, "state");
        assert_eq!(index_end, (events - 1).to_string(), "{}: stepping stops at the last event", case.args[1]);
        assert_ne!(state0, state_end, "{}: stepping changes the state shown", case.args[1]);
        let back = rendered(chromium, &page, &format!("{right},ArrowLeft"), &profile);
        assert_eq!(panel(&back, "state").1, (events - 2).to_string(), "left steps back");
        // The source beside it, the acting thread's line highlighted somewhere along the run.
        assert!(start.contains("id=\"source\""), "{}: the source is shown", case.args[1]);
        let failing_at = start
            .split("class=\"event failing")
            .nth(1)
            .and_then(|r| r.split("data-index=\"").nth(1))
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse::<usize>().ok())
            .expect("the failing event's index");
        let at_failure = rendered(chromium, &page, &vec!["ArrowRight"; failing_at].join(","), &profile);
        assert_eq!(panel(&at_failure, "state").1, failing_at.to_string());
        if let Some(line) = case.failing_line {
            let highlighted = at_failure
                .split("class=\"src current-line\"")
                .nth(1)
                .and_then(|r| r.split_once('>'))
                .and_then(|(_, r)| r.split("</span>").next())
                .unwrap_or_else(|| panic!("{}: no Python line highlighted at the failure", case.args[1]));
            assert!(highlighted.contains(line), "{}: highlighted `{highlighted}`", case.args[1]);
        }
        assert!(
            state_end.lines().any(|l| l == case.state_line),
            "{}: the last step shows `{}`: {state_end}",
            case.args[1],
            case.state_line
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn html_needs_one_run_to_draw() {
    let out = racelab(&["check", "condition-buffer", "--html", "/tmp/never.html"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("racelab: --html draws one run"));
    // A pass keeps its exit code (0) and says on stderr that no page was written.
    let page = std::env::temp_dir().join(format!("racelab-never-{}.html", std::process::id()));
    let out = racelab(&["check", "condition-buffer/while", "--html", page.to_str().expect("a UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no bug"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("passed: there is no failure for --html to draw"));
    assert!(!page.exists(), "no page for a pass");
    // Refused before the check runs (it used to find the bug, then exit 2 for the page).
    let out = racelab(&["check", "condition-buffer/if", "--html", "/nonexistent-dir/x.html"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(
        "racelab: --html /nonexistent-dir/x.html: the directory /nonexistent-dir does not exist"
    ));
    // A directory where no file can be made (root ignores permission bits; /proc refuses all).
    let out = racelab(&["check", "condition-buffer/if", "--html", "/proc/x.html"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("racelab: --html /proc/x.html: cannot write it: "), "{err}");
    assert!(!std::path::Path::new("/proc/x.html").exists());
}
