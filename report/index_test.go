package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIndexesHoldEveryTableAndFigure(t *testing.T) {
	dir, files := writeReport(t, studyFixture(t), Options{Plots: true})
	readme := readFile(t, filepath.Join(dir, "README.md"))
	index := readFile(t, filepath.Join(dir, "index.html"))
	written := map[string]bool{}
	pngs := 0
	for _, f := range files {
		base := filepath.Base(f)
		written[base] = true
		if filepath.Dir(f) != dir {
			t.Errorf("%s written outside %s", f, dir)
		}
		if base != "README.md" && !strings.Contains(readme, "("+base+")") {
			t.Errorf("README.md does not link %s", base)
		}
		switch filepath.Ext(base) {
		case ".png":
			pngs++
		case ".md":
			if base != "README.md" && !strings.Contains(index, `href="`+base+`"`) {
				t.Errorf("index.html does not link %s", base)
			}
		}
	}
	for _, want := range []string{"summary.md", "summary.csv", "summary.tex", "grid-eurosat.md", "zeroshot.md", "factors.md",
		"factor-levels.md", "ablation.md", "ablation-mean.md", "transfer.md", "all-classes.md", "loss_eurosat.tex", "index.html"} {
		if !written[want] {
			t.Errorf("%s not written", want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !written[e.Name()] {
			t.Errorf("stray file %s in the report directory", e.Name())
		}
	}
	// Self-contained: every figure's PNG is in the page itself.
	if n := strings.Count(index, `<img src="data:image/png;base64,`); n != pngs || pngs == 0 {
		t.Errorf("index.html embeds %d images, %d figures drawn", n, pngs)
	}
	for _, title := range []string{"Best configuration per dataset", "Grid search: EuroSAT", "Main effects",
		"Ablations: mean over datasets", "Transfer: source to targets", "Zero-shot CLIP"} {
		if !strings.Contains(index, title) {
			t.Errorf("index.html lacks %q", title)
		}
	}
	if !strings.Contains(readme, "| [EuroSAT](grid-eurosat.md) | n_ctx=2 | 2 | 89.00 ± 1.41 |") {
		t.Errorf("README.md does not show the summary table:\n%s", readme)
	}
	if !strings.Contains(readme, "Jobs: 39 (35 done, 1 pending, 3 failed).") {
		t.Errorf("README.md job counts:\n%s", readme[:min(len(readme), 400)])
	}
}

// index.html opened by a real browser: headless Chromium through
// chromedriver (WebDriver), every image of the page decoded.
func TestIndexHTMLLoadsInChromium(t *testing.T) {
	chromium, driver := findChromium(t)
	dir, _ := writeReport(t, studyFixture(t), Options{Plots: true})
	index, err := filepath.Abs(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	wd := startWebDriver(t, driver)
	session := wd.newSession(t, chromium)
	defer wd.call(t, http.MethodDelete, "/session/"+session, nil)
	wd.call(t, http.MethodPost, "/session/"+session+"/url", map[string]any{"url": "file://" + index})
	var images []struct {
		Src    string `json:"src"`
		Loaded bool   `json:"loaded"`
		Width  int    `json:"width"`
	}
	script := `return Array.from(document.images).map(i => ({src: i.src.slice(0, 40), loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth}));`
	wd.decode(t, wd.call(t, http.MethodPost, "/session/"+session+"/execute/sync", map[string]any{"script": script, "args": []any{}}), &images)
	if len(images) != 10 {
		t.Errorf("%d images on the page, want the 10 figures", len(images))
	}
	for _, img := range images {
		if !img.Loaded || img.Width < 300 {
			t.Errorf("image %s… did not load (width %d)", img.Src, img.Width)
		}
	}
	var tables int
	wd.decode(t, wd.call(t, http.MethodPost, "/session/"+session+"/execute/sync",
		map[string]any{"script": "return document.querySelectorAll('table').length;", "args": []any{}}), &tables)
	if tables < 10 {
		t.Errorf("%d tables on the page", tables)
	}
}

// findChromium returns Debian's chromium and chromedriver, skipping the
// test when they are missing (CI installs them: .ci/run), failing under
// CI=true.
func findChromium(t *testing.T) (chromium, driver string) {
	t.Helper()
	chromium, err1 := exec.LookPath("chromium")
	driver, err2 := exec.LookPath("chromedriver")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium and chromedriver are needed (apt-get install chromium chromium-driver): %v %v", err1, err2)
		}
		t.Skip("chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
	}
	return chromium, driver
}

type webDriver struct {
	base   string
	client *http.Client
}

// startWebDriver runs chromedriver on a free port until the test ends.
func startWebDriver(t *testing.T, driver string) *webDriver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	wd := &webDriver{base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 60 * time.Second}}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := wd.client.Get(wd.base + "/status"); err == nil {
			resp.Body.Close()
			return wd
		}
		if time.Now().After(deadline) {
			t.Fatal("chromedriver did not answer within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newSession starts headless Chromium as the brief for this machine says:
// as root without the sandbox, no GPU, nothing reaching the network, a
// fresh profile.
func (wd *webDriver) newSession(t *testing.T, chromium string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome", "goog:chromeOptions": map[string]any{"binary": chromium, "args": args}}}}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	wd.decode(t, wd.call(t, http.MethodPost, "/session", caps), &s)
	if s.SessionID == "" {
		t.Fatal("chromedriver gave no session")
	}
	return s.SessionID
}

// call sends a WebDriver command and returns its "value".
func (wd *webDriver) call(t *testing.T, method, path string, body any) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		json.NewEncoder(&buf).Encode(body)
	}
	req, err := http.NewRequest(method, wd.base+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, out.Value)
	}
	return out.Value
}

func (wd *webDriver) decode(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("WebDriver answer %s: %v", raw, err)
	}
}
