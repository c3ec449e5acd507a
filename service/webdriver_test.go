package service

// A small W3C WebDriver client (https://www.w3.org/TR/webdriver2/) over net/http, driving Debian's
// chromedriver and headless Chromium; no browser is downloaded and no module is needed.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	chromiumPath     = "/usr/bin/chromium"
	chromedriverPath = "/usr/bin/chromedriver"
	// webElementKey is the W3C key of an element reference.
	webElementKey = "element-6066-11e4-a52e-4f735466cecf"
)

// webdriverError is an error answer of the WebDriver protocol ("no such alert", ...).
type webdriverError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *webdriverError) Error() string { return e.Code + ": " + e.Message }

// wd is one WebDriver session.
type wd struct {
	t       *testing.T
	base    string // http://127.0.0.1:port/session/<id>
	dir     string // artifacts folder
	console []string
}

// artifactsDir is where screenshots and the driver's log go: $BINDER_PROJECTS_ARTIFACTS, or
// testdata/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("BINDER_PROJECTS_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	dir = filepath.Join(dir, t.Name())
	// Only this run's screenshots.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowser starts chromedriver and a headless Chromium session. Missing binaries fail the test
// (CI installs them with make deps); they are never skipped.
func startBrowser(t *testing.T) *wd {
	t.Helper()
	for _, p := range []string{chromiumPath, chromedriverPath} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run `make deps` (hack/install-deps.sh installs Debian's chromium and chromium-driver); the browser test needs them: %v", p, err)
		}
	}
	dir := artifactsDir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(chromedriverPath, "--port="+strconv.Itoa(port), "--log-path="+filepath.Join(dir, "chromedriver.log"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", chromedriverPath, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	root := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var status struct {
			Ready bool `json:"ready"`
		}
		if err := wdRequest(http.MethodGet, root+"/status", nil, &status); err == nil && status.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not become ready on port %d", port)
		}
		time.Sleep(100 * time.Millisecond)
	}

	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--window-size=1280,900", "--user-data-dir=" + t.TempDir(),
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		// Leave any unexpected alert open, so that a script injected into the page is seen.
		"unhandledPromptBehavior": "ignore",
		"goog:chromeOptions":      map[string]any{"binary": chromiumPath, "args": args},
	}}}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	if err := wdRequest(http.MethodPost, root+"/session", caps, &session); err != nil {
		t.Fatalf("starting Chromium through chromedriver: %v", err)
	}
	b := &wd{t: t, base: root + "/session/" + session.SessionID, dir: dir}
	t.Cleanup(func() { wdRequest(http.MethodDelete, b.base, nil, nil) })
	return b
}

// wdRequest sends one WebDriver command and decodes its "value" into out.
func wdRequest(method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e webdriverError
		if json.Unmarshal(envelope.Value, &e) == nil && e.Code != "" {
			return &e
		}
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(envelope.Value, out)
	}
	return nil
}

func (b *wd) cmd(method, path string, in, out any) {
	b.t.Helper()
	if err := wdRequest(method, b.base+path, in, out); err != nil {
		b.t.Fatalf("WebDriver %s %s: %v", method, path, err)
	}
}

func (b *wd) navigate(url string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

func (b *wd) currentURL() string {
	b.t.Helper()
	var u string
	b.cmd(http.MethodGet, "/url", nil, &u)
	return u
}

// window is the handle of the current window (tab).
func (b *wd) window() string {
	b.t.Helper()
	var h string
	b.cmd(http.MethodGet, "/window", nil, &h)
	return h
}

// newTab opens a tab and returns its handle; the current window stays the same.
func (b *wd) newTab() string {
	b.t.Helper()
	var w struct {
		Handle string `json:"handle"`
	}
	b.cmd(http.MethodPost, "/window/new", map[string]string{"type": "tab"}, &w)
	return w.Handle
}

// switchTo makes the window (tab) with handle the current one.
func (b *wd) switchTo(handle string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/window", map[string]string{"handle": handle}, nil)
}

// enterFrame makes the frame the CSS selector finds the current browsing context; leaveFrames goes back
// to the top.
func (b *wd) enterFrame(css string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/frame", map[string]any{"id": map[string]string{webElementKey: b.find(css)}}, nil)
}

func (b *wd) leaveFrames() {
	b.t.Helper()
	b.cmd(http.MethodPost, "/frame", map[string]any{"id": nil}, nil)
}

// find returns the element the CSS selector finds (failing the test if none).
func (b *wd) find(css string) string {
	b.t.Helper()
	var el map[string]string
	if err := wdRequest(http.MethodPost, b.base+"/element", map[string]string{"using": "css selector", "value": css}, &el); err != nil {
		b.t.Fatalf("finding %s: %v", css, err)
	}
	return el[webElementKey]
}

func (b *wd) click(css string) {
	b.t.Helper()
	b.cmd(http.MethodPost, "/element/"+b.find(css)+"/click", map[string]any{}, nil)
}

func (b *wd) typeInto(css, text string) {
	b.t.Helper()
	el := b.find(css)
	b.cmd(http.MethodPost, "/element/"+el+"/clear", map[string]any{}, nil)
	b.cmd(http.MethodPost, "/element/"+el+"/value", map[string]string{"text": text}, nil)
}

func (b *wd) text(css string) string {
	b.t.Helper()
	var s string
	b.cmd(http.MethodGet, "/element/"+b.find(css)+"/text", nil, &s)
	return s
}

// js runs a script (its body: "return ...") in the page and decodes the result into out.
func (b *wd) js(out any, script string, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.cmd(http.MethodPost, "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// waitFor polls the script until it returns true.
func (b *wd) waitFor(what, script string, args ...any) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ok bool
		if args == nil {
			args = []any{}
		}
		err := wdRequest(http.MethodPost, b.base+"/execute/sync", map[string]any{"script": script, "args": args}, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("timeout")
			b.t.Fatalf("timed out waiting for %s (last error: %v; at %s)", what, err, b.currentURL())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alertText is the text of the open alert or confirmation, or "" when none is open.
func (b *wd) alertText() string {
	b.t.Helper()
	var s string
	err := wdRequest(http.MethodGet, b.base+"/alert/text", nil, &s)
	var we *webdriverError
	if errors.As(err, &we) && we.Code == "no such alert" {
		return ""
	}
	if err != nil {
		b.t.Fatalf("reading the alert: %v", err)
	}
	return s
}

func (b *wd) acceptAlert() {
	b.t.Helper()
	b.cmd(http.MethodPost, "/alert/accept", map[string]any{}, nil)
}
func (b *wd) dismissAlert() {
	b.t.Helper()
	b.cmd(http.MethodPost, "/alert/dismiss", map[string]any{}, nil)
}

// screenshot saves a PNG of the viewport as <artifacts>/<name>.png and returns its path.
func (b *wd) screenshot(name string) string {
	b.t.Helper()
	var data string
	if err := wdRequest(http.MethodGet, b.base+"/screenshot", nil, &data); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Errorf("screenshot %s is not a PNG: %v", name, err)
		return ""
	}
	path := filepath.Join(b.dir, strings.ReplaceAll(name, " ", "-")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Error(err)
	}
	return path
}

// screenshotPage saves a PNG of the whole page, not only the viewport, as <artifacts>/<name>.png: the
// window is made as tall as the page for the screenshot, then given its size back.
func (b *wd) screenshotPage(name string) string {
	b.t.Helper()
	type rect struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	}
	var was rect
	b.cmd(http.MethodGet, "/window/rect", nil, &was)
	var page struct {
		Height int `json:"height"`
		Chrome int `json:"chrome"`
	}
	b.js(&page, `return {height: document.documentElement.scrollHeight, chrome: window.outerHeight - window.innerHeight}`)
	b.cmd(http.MethodPost, "/window/rect", rect{Width: was.Width, Height: page.Height + page.Chrome}, nil)
	defer b.cmd(http.MethodPost, "/window/rect", was, nil)
	return b.screenshot(name)
}
