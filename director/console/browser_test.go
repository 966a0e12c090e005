package console_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/meridian-traffic/meridian/api/client/clienttest"
)

var saveScreenshots = flag.Bool("screenshots", false, "save the browser test's screenshots under testdata/screenshots")

// chromium finds the browser, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MERIDIAN_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no Chromium: /usr/bin/chromium is absent (apt-get install chromium, or set MERIDIAN_CHROMIUM)")
	return ""
}

// TestBrowser drives the console in headless Chromium against a real
// director: log in, see every node, drain one (and the selection engine
// stop choosing it), upload a broken site file and see the problem at
// its line, apply and roll back, see a node turn down live, sync, log out.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	exe := chromium(t)
	e := startEnv(t, 3)
	base := e.d.URL

	shots := t.TempDir()
	if *saveScreenshots {
		shots = filepath.Join("testdata", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("headless", true),
		chromedp.WindowSize(1200, 860),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()

	// Every script error and every policy violation (an inline script or
	// style the CSP blocked) fails the test.
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.Text, "/events") {
				problems = append(problems, "console: "+ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	type step = chromedp.Action[chromedp.Void]
	run := func(what string, steps ...step) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// get reads a value; the page's live updates swap parts of it, so a
	// read that races a swap (its element gone) is tried again, boundedly.
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		var err error
		for range 10 {
			var v string
			if v, err = chromedp.Run(ctx, a); err == nil {
				return v
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: %v", what, err)
		return ""
	}
	shot := func(name string) step {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	textOf := func(sel string) string { t.Helper(); return get("text of "+sel, chromedp.Text(css(sel))) }
	location := func() string { t.Helper(); return get("location", chromedp.Location()) }
	var loc, text string

	// Log in: the console redirects to the form and back.
	run("open", chromedp.Navigate(base+"/nodes"), chromedp.WaitVisible(css("#token")))
	if loc = location(); !strings.HasPrefix(loc, base+"/login") {
		t.Fatalf("before login at %s", loc)
	}
	run("login page", shot("login"))
	run("log in",
		chromedp.SendKeys(css("#token"), clienttest.Token),
		chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css("table.nodes")))
	if loc = location(); loc != base+"/nodes" {
		t.Errorf("after login at %s, want /nodes", loc)
	}

	// Every node is listed, up, with its heartbeat.
	for _, n := range e.nodes {
		text = textOf("#node-" + n)
		if !strings.Contains(text, n) || !strings.Contains(text, "up") || !strings.Contains(text, "accepting") {
			t.Errorf("row of %s: %q", n, text)
		}
	}
	// Sorting by the node column, the other way; filtering by region.
	run("sort", chromedp.Click(css(`th[aria-sort="ascending"] a`)), chromedp.WaitVisible(css(`th[aria-sort="descending"]`)))
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(css("table.nodes tbody tr"), "id"))
	if err != nil || attr.Value != "node-n3" {
		t.Errorf("first row sorted by name descending: %q %v", attr.Value, err)
	}
	run("filter", chromedp.Navigate(base+"/nodes?region=us-east"))
	if text = textOf("#nodes-summary"); !strings.Contains(text, "of 1 ") {
		t.Errorf("filtered by region us-east: %q", text)
	}

	// Drain n1, confirmed with a reason.
	run("drain",
		chromedp.Navigate(base+"/nodes"),
		chromedp.Click(css("#drain-n1")),
		chromedp.WaitVisible(css("#reason")),
		shot("confirm"),
		chromedp.SendKeys(css("#reason"), "kernel upgrade"),
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css("#node-n1 .state.drained")))
	if text = textOf("p.flash"); !strings.Contains(text, "Drain n1: done") {
		t.Errorf("flash after drain: %q", text)
	}
	run("nodes", shot("nodes"))
	// The selection engine no longer chooses n1.
	for i := range 6 {
		run("explain", chromedp.Navigate(fmt.Sprintf("%s/explain?ip=198.51.100.%d", base, 10+i)))
		if text = textOf("#chosen"); strings.Contains(text, "n1") || !strings.Contains(text, "Chosen: n") {
			t.Errorf("explain after draining n1: %q", text)
		}
	}
	run("explain", shot("explain"))

	// A broken site file, uploaded: the problem is shown at its line and
	// nothing is applied.
	lines := strings.Split(e.site, "\n")
	bad := -1
	for i, l := range lines {
		if strings.Contains(l, "ipv4: 192.0.2.12") {
			lines[i] = strings.Replace(l, "192.0.2.12", "300.0.2.12", 1)
			bad = i + 1
		}
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	run("upload broken",
		chromedp.Navigate(base+"/config"),
		chromedp.SetUploadFiles(css("#file"), []string{broken}),
		chromedp.Click(css("#apply")),
		chromedp.WaitVisible(css("#listing")),
		chromedp.ScrollIntoView(css(fmt.Sprintf("#line-%d", bad))),
		shot("config-problem"))
	if text = textOf(fmt.Sprintf("#line-%d", bad)); !strings.Contains(text, "300.0.2.12") || !strings.Contains(text, fmt.Sprintf("line %d", bad)) {
		t.Errorf("line %d of the broken file: %q", bad, text)
	}
	if text = textOf("p.error"); !strings.Contains(text, "broken.yaml") || !strings.Contains(text, "nothing was applied") {
		t.Errorf("error of the broken file: %q", text)
	}
	if h, err := e.admin.History(context.Background()); err != nil || len(h) != 1 {
		t.Fatalf("config history after the broken file: %d versions, %v", len(h), err)
	}

	// A good change, pasted and applied; then roll back to version 1.
	changed := strings.Replace(e.site, "region: us-east", "region: ap-south", 1)
	run("apply",
		chromedp.Navigate(base+"/config"),
		chromedp.SetValue(css("#text"), changed),
		chromedp.SetValue(css("#name"), "changed.yaml"),
		chromedp.Click(css("#apply")),
		chromedp.WaitVisible(css("p.flash")))
	if text = textOf("p.flash"); !strings.Contains(text, "as config version 2") {
		t.Fatalf("apply: %q", text)
	}
	run("history", chromedp.Click(css("#version-1 summary")), chromedp.WaitVisible(css("#rollback-1")),
		chromedp.ScrollIntoView(css("#h-history")), shot("config"))
	run("rollback",
		chromedp.Click(css("#rollback-1")),
		chromedp.WaitVisible(css("#reason")),
		chromedp.SendKeys(css("#reason"), "undo the region change"),
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css("p.flash")))
	if text = textOf("p.flash"); !strings.Contains(text, "Rolled back to config version 1: now config version 3") {
		t.Errorf("rollback: %q", text)
	}
	if cur, err := e.admin.GetConfig(context.Background()); err != nil || string(cur) != e.site {
		t.Errorf("site file after the rollback is not version 1's (%v)", err)
	}

	// A node whose health endpoint closes turns down on the open page,
	// without a reload, within a second of the director knowing.
	run("nodes before", chromedp.Navigate(base+"/nodes"), chromedp.WaitVisible(css("#node-n3 .health.up")),
		chromedp.Evaluate[chromedp.Void](`window.stillHere = true; undefined`))
	known := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if st, err := e.admin.Status(ctx); err == nil && st.Nodes[2].Health == "down" {
				known <- time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.health[2].close()
	run("n3 down", chromedp.WaitVisible(css("#node-n3 .health.down"), chromedp.RetryInterval(20*time.Millisecond)))
	seen := time.Now()
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillHere === true`)); err != nil || !still {
		t.Errorf("the page reloaded to show n3 down (%v)", err)
	}
	select {
	case at := <-known:
		lag := seen.Sub(at)
		t.Logf("n3 down on the page %s after the director knew", lag.Round(time.Millisecond))
		if lag > time.Second {
			t.Errorf("n3 down on the page %s after the director knew, want within 1s", lag)
		}
	case <-time.After(5 * time.Second):
		t.Error("the director never reported n3 down")
	}
	run("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#overview")), shot("overview"))
	text = strings.Join(strings.Fields(textOf("#overview")), " ")
	for _, want := range []string{"m1", "m2", "answers", "1 down", "1 drained", "con"} {
		if !strings.Contains(text, want) {
			t.Errorf("overview lacks %q: %s", want, text)
		}
	}

	// Sync now, clients, audit.
	run("sync", chromedp.Navigate(base+"/sync"), chromedp.Click(css("#sync-now")), chromedp.WaitVisible(css("#report")), shot("sync"))
	if text = textOf("#report"); !strings.Contains(text, "finished") {
		t.Errorf("sync now report: %q", text)
	}
	run("clients", chromedp.Navigate(base+"/clients"), chromedp.WaitVisible(css("#h-nodes")), shot("clients"))
	if text = textOf("#clients-live"); !strings.Contains(text, "/customer") {
		t.Errorf("clients: %q", text)
	}
	run("audit", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(css("#audit-live")), shot("audit"))

	// A phone-sized window.
	run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/nodes"), chromedp.WaitVisible(css("table.nodes")), shot("nodes-phone"),
		chromedp.EmulateViewport(1200, 860))

	// Keyboard: the skip link is the first stop.
	run("keyboard", chromedp.Navigate(base+"/"), chromedp.KeyEvent("\t"))
	if text = get("focus", chromedp.Evaluate[string](`document.activeElement.className`)); text != "skip" {
		t.Errorf("first tab stop: %q, want the skip link", text)
	}

	// Log out: every page leads to the login form.
	run("logout", chromedp.Click(css("header form button")), chromedp.WaitVisible(css("#token")))
	if loc = location(); loc != base+"/login" {
		t.Errorf("after logout at %s", loc)
	}
	for _, p := range consolePages {
		run("after logout "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(css("#token")))
		if loc = location(); !strings.HasPrefix(loc, base+"/login") {
			t.Errorf("%s after logout at %s", p, loc)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}
