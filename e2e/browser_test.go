package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive a real Chromium as a person does: clicks and
// typing, one tab per device. Only a browser applies what Go HTTP clients
// ignore (Content-Security-Policy, form validation, script), so only these
// tests see a page that does not work for a person.
//
// MCFED_CHROMIUM names the browser binary (default: chromium,
// chromium-browser or google-chrome on PATH). MCFED_REQUIRE_BROWSER=1 (CI)
// makes a missing browser a failure instead of a skip. MCFED_SCREENSHOTS=dir
// keeps a screenshot of every step in dir, also when the test passes; a
// failed test writes them anyway, under os.TempDir() unless the variable says
// where, and logs the directory.

// Bounds of the browser's waits: a page on loopback loads in milliseconds,
// but a 2-core CI machine runs the race-instrumented tests of other packages
// beside these.
const (
	browserStart = 60 * time.Second // Chromium started and its first tab open
	stepTimeout  = 30 * time.Second // one step: a page shown, an element ready
	shotTimeout  = 10 * time.Second // a screenshot after a failure
)

// chromiumPath finds the browser to drive, or "" if there is none.
func chromiumPath() string {
	if p := os.Getenv("MCFED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startChromium starts a headless Chromium for the test, with a fresh
// profile, and returns its root context: each tab is a child of it. It skips
// the test when no browser is installed, unless MCFED_REQUIRE_BROWSER is set.
// extra are flags of the test's own (a proxy).
func startChromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	bin := chromiumPath()
	if bin == "" {
		msg := "no Chromium found (chromium, chromium-browser or google-chrome on PATH, or MCFED_CHROMIUM): " +
			"the browser tests need one (Debian: apt-get install chromium)"
		if os.Getenv("MCFED_REQUIRE_BROWSER") != "" {
			t.Fatal(msg + "; MCFED_REQUIRE_BROWSER is set")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "chromium.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		// Root in a container has no user namespaces for the sandbox.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1024, 768),
		// No connection anywhere but to the pages under test: a closed
		// network refuses the browser's own traffic, and its errors would
		// show in the log.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// One renderer process for every site: the walks cross sites at
		// each redirect (the SP on 127.0.0.1, the gateways on localhost),
		// and each crossing would start a renderer on a busy 2-core
		// machine. (Tried against steps that waited on a page that had
		// loaded long before; whereNow reports such a page if it recurs.)
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,site-per-process,IsolateOrigins"), // the first two are chromedp's defaults
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx = context.WithValue(ctx, chromiumLogKey{}, logPath)
	// Cleanups run last-in first-out: the browser is gone before its
	// profile directory is removed.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		out.Close()
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }() // starts the browser and its first tab
	select {
	case err = <-started:
	case <-time.After(browserStart):
		err = fmt.Errorf("not started within %s", browserStart)
	}
	if err != nil {
		t.Fatalf("starting %s: %v\n%s", bin, err, logTail(logPath))
	}
	return ctx
}

// chromiumLogKey keys the path of the browser's own output in the
// browser's context: a failed walk shows its end.
type chromiumLogKey struct{}

// walk is one person's walk through the pages in the browser: their devices
// (tabs), what the browser reported on the way, and a screenshot of each
// step. When the test ends, any console error, CSP violation or uncaught
// exception fails it, and the screenshots are written if it failed or
// MCFED_SCREENSHOTS is set.
type walk struct {
	t       *testing.T
	browser context.Context

	mu       sync.Mutex
	problems []string      // what the browser reported, "device: text"
	reported int           // problems already in a failure message
	trouble  chan struct{} // closed at the first problem
	once     sync.Once
	shots    []shot
	devices  []*device
	allowed  []allowedStatus // answers the walk expects to be errors
	expected []string        // problems the test expects (expect)
}

// allowedStatus is an error status a page is meant to answer with, so
// that the browser's "Failed to load resource" for it is no problem.
type allowedStatus struct {
	url    string
	status int
}

// allowStatus tells the walk that a page at url answers status on purpose
// (a form that refuses what the person typed with 400): the browser logs
// that load as a failed resource, which is then not a problem.
func (w *walk) allowStatus(url string, status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.allowed = append(w.allowed, allowedStatus{url: url, status: status})
}

type shot struct {
	name string
	png  []byte
}

func newWalk(t *testing.T, browser context.Context) *walk {
	w := &walk{t: t, browser: browser, trouble: make(chan struct{})}
	t.Cleanup(w.end)
	return w
}

// device is a tab in a browser context of its own: a person's laptop or
// phone, each with its own cookies.
type device struct {
	w      *walk
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// device opens a new device. Its browser's console is watched from before
// the first page loads.
func (w *walk) device(name string, setup ...chromedp.Action[chromedp.Void]) *device {
	w.t.Helper()
	ctx, cancel := chromedp.NewContext(w.browser, chromedp.WithNewBrowserContext(),
		chromedp.WithListener(func(ev any) { w.watch(name, ev) }))
	return w.open(name, ctx, cancel, setup...)
}

// open opens the tab of ctx for a device and runs setup in it.
func (w *walk) open(name string, ctx context.Context, cancel context.CancelFunc, setup ...chromedp.Action[chromedp.Void]) *device {
	w.t.Helper()
	d := &device{w: w, name: name, ctx: ctx, cancel: cancel}
	w.devices = append(w.devices, d)
	// The first Do binds the tab to ctx itself, not to a step's deadline.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx, setup...) }()
	select {
	case err := <-opened:
		if err != nil {
			w.t.Fatalf("opening the %s's tab: %v", name, err)
		}
	case <-time.After(stepTimeout):
		w.t.Fatalf("opening the %s's tab: not open within %s", name, stepTimeout)
	}
	return d
}

// tab opens another tab of the device, in its browser context: the phone's
// browser opening a link in a tab of its own.
func (d *device) tab(name string) *device {
	d.w.t.Helper()
	ctx, cancel := chromedp.NewContext(d.ctx, chromedp.WithListener(func(ev any) { d.w.watch(name, ev) }))
	return d.w.open(name, ctx, cancel)
}

// phoneScreen is the viewport of a common phone.
var phoneScreen = chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)

// watch records what the browser reports as an error on a device: a call of
// console.error or console.assert, an uncaught exception, and the browser's
// own log entries at level error, which include CSP violations, invalid
// form patterns and failed loads. It runs in the tab's event loop: it must
// return at once.
func (w *walk) watch(device string, ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		args := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		problem = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "uncaught exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
		if d.URL != "" {
			problem += " (" + d.URL + ")"
		}
	case *inspector.EventTargetCrashed:
		problem = "the page's renderer process crashed"
	case *inspector.EventDetached:
		problem = "DevTools was detached from the page: " + ev.Reason
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError || w.isAllowed(ev.Entry) {
			return
		}
		problem = fmt.Sprintf("%s error: %s", ev.Entry.Source, ev.Entry.Text)
		if ev.Entry.URL != "" {
			problem += " (" + ev.Entry.URL + ")"
		}
	default:
		return
	}
	w.mu.Lock()
	for _, e := range w.expected {
		if strings.Contains(problem, e) {
			w.mu.Unlock()
			return
		}
	}
	w.problems = append(w.problems, device+": "+problem)
	w.mu.Unlock()
	w.once.Do(func() { close(w.trouble) })
}

// isAllowed: the entry is the failed load of a page the walk expects to
// answer with that error status.
func (w *walk) isAllowed(e *log.Entry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.allowed {
		if e.Source == log.EntrySourceNetwork && e.URL == a.url &&
			strings.Contains(e.Text, fmt.Sprintf("status of %d ", a.status)) {
			return true
		}
	}
	return false
}

// expect declares that the browser will report a problem containing text
// and that this is what the test expects, not a failure: another party's
// page answering with an error status the test provokes, say.
func (w *walk) expect(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expected = append(w.expected, text)
}

// newProblems returns what the browser reported since the last call.
func (w *walk) newProblems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems[w.reported:]
	w.reported = len(w.problems)
	return p
}

// step runs a step of the walk on the device, as a person does it (open a
// page, type, press a button, wait for what must appear), then takes a
// screenshot of the device. The step fails the test if it does not complete
// within stepTimeout, or as soon as the browser reports a problem.
func (d *device) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	d.w.t.Helper()
	err := d.run(func(ctx context.Context) error { return chromedp.Do(ctx, actions...) })
	d.shoot(name)
	d.check(name, err)
}

// read reads what a device shows: the text of an element, the address.
func read[T any](d *device, what string, a chromedp.Action[T]) T {
	d.w.t.Helper()
	var v T
	err := d.run(func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, a)
		return err
	})
	d.check("reading "+what, err)
	return v
}

// run runs f with a step's deadline, cut short when the browser reports a
// problem: a blocked form submission leaves the page where it is, and the
// console says why long before the wait for the next page would end.
func (d *device) run(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	go func() {
		select {
		case <-d.w.trouble:
			cancel()
		case <-ctx.Done():
		}
	}()
	return f(ctx)
}

func (d *device) check(step string, err error) {
	d.w.t.Helper()
	if p := d.w.newProblems(); len(p) > 0 {
		d.w.t.Fatalf("%s: %s: the browser reported:\n  %s", d.name, step, strings.Join(p, "\n  "))
	}
	if err != nil {
		d.w.t.Fatalf("%s: %s: %v (%s)", d.name, step, err, d.whereNow())
	}
}

// whereNow says, for a failed step, where the page is and whether it has
// loaded, read by script in the page (not through the DevTools DOM
// domain, whose view of the page is what a stuck step may lack).
func (d *device) whereNow() string {
	ctx, cancel := context.WithTimeout(d.ctx, shotTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.readyState + ": " + (document.body ? document.body.innerText.slice(0, 120) : "no body")`))
	if err != nil {
		return "the page's script does not answer: " + err.Error()
	}
	return "the page by script: " + strings.Join(strings.Fields(s), " ")
}

// shoot keeps a screenshot of the whole page the device shows.
func (d *device) shoot(step string) {
	ctx, cancel := context.WithTimeout(d.ctx, shotTimeout)
	defer cancel()
	// A page that is still loading (a failed step left it mid-way) has no
	// surface to capture yet.
	err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
	var png []byte
	if err == nil {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		d.w.t.Logf("no screenshot of %s: %s: %v", d.name, step, err)
		return
	}
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	d.w.shots = append(d.w.shots, shot{name: fmt.Sprintf("%02d-%s-%s.png", len(d.w.shots)+1, d.name, slug(step)), png: png})
}

// end fails the test for problems reported after its last step, writes the
// screenshots, and closes the devices.
func (w *walk) end() {
	if p := w.newProblems(); len(p) > 0 {
		w.t.Errorf("the browser reported:\n  %s", strings.Join(p, "\n  "))
	}
	if w.t.Failed() {
		for _, d := range w.devices {
			d.shoot("at failure")
		}
		if path, ok := w.browser.Value(chromiumLogKey{}).(string); ok {
			w.t.Logf("the end of the browser's own output (%s):\n%s", path, logTail(path))
		}
	}
	w.writeShots()
	// A device's own tabs close before the browser context they live in.
	for i := len(w.devices) - 1; i >= 0; i-- {
		w.devices[i].cancel()
	}
}

func (w *walk) writeShots() {
	base := os.Getenv("MCFED_SCREENSHOTS")
	if base == "" && !w.t.Failed() || len(w.shots) == 0 {
		return
	}
	if base == "" {
		base = filepath.Join(os.TempDir(), "mcfed-screenshots")
	}
	dir := filepath.Join(base, slug(w.t.Name()))
	// The test's own directory: screenshots of an earlier run go.
	if err := os.RemoveAll(dir); err != nil {
		w.t.Logf("screenshots: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Logf("screenshots: %v", err)
		return
	}
	for _, s := range w.shots {
		if err := os.WriteFile(filepath.Join(dir, s.name), s.png, 0o644); err != nil {
			w.t.Logf("screenshots: %v", err)
			return
		}
	}
	w.t.Logf("screenshots of each step: %s", dir)
}

// slug makes a file name of a step or test name.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, s)
}
