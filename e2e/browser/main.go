// Command browser drives a real headless Chromium through the console of a running cluster,
// as an operator would with a mouse: it loads the console, is sent to the login form, types
// the admin token and clicks "Log in", checks that every node ID and the leader appear on the
// cluster page, clicks "Transfer leadership" and then the confirmation button, and waits
// until the page shows another leader. It saves a screenshot (PNG) of the final page.
//
// It speaks the Chrome DevTools Protocol over the page's WebSocket (golang.org/x/net/websocket)
// and uses only Runtime.evaluate, Page.navigate, Emulation.setDeviceMetricsOverride and
// Page.captureScreenshot: the clicks are DOM clicks in the page, so the browser submits the
// forms itself, with its cookie, its CSRF field and its SameSite rules. scripts/e2e-console.sh
// runs it in `make e2e`.
//
//	go run ./e2e/browser -console http://127.0.0.1:9002 -token $TOKEN -nodes node-1,node-2,node-3 -shot console.png
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/websocket"
)

func main() {
	chromium := flag.String("chromium", "chromium", "the Chromium binary")
	base := flag.String("console", "", "the console's base URL (http://host:port)")
	token := flag.String("token", os.Getenv("NEBULAIO_ADMIN_TOKEN"), "the admin token (default $NEBULAIO_ADMIN_TOKEN)")
	nodes := flag.String("nodes", "", "comma-separated node IDs the cluster page must list")
	shot := flag.String("shot", "console.png", "where to save the screenshot (PNG)")
	timeout := flag.Duration("timeout", 2*time.Minute, "the whole run's deadline")
	flag.Parse()
	if *base == "" || *token == "" || *nodes == "" {
		fmt.Fprintln(os.Stderr, "browser: -console, -token and -nodes are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *chromium, strings.TrimRight(*base, "/"), *token, strings.Split(*nodes, ","), *shot); err != nil {
		fmt.Fprintln(os.Stderr, "browser: FAIL:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("   browser: "+format+"\n", args...) }

func run(ctx context.Context, chromium, base, token string, nodes []string, shot string) (err error) {
	b, err := launch(ctx, chromium)
	if err != nil {
		return err
	}
	defer b.close()
	p := b.page
	defer func() {
		if err == nil {
			return
		}
		// What the browser showed when it failed, beside where the screenshot would be.
		fail := strings.TrimSuffix(shot, ".png") + "-failed.png"
		if png, serr := p.screenshot(); serr == nil && os.WriteFile(fail, png, 0o644) == nil {
			step("screenshot of the failure: %s", fail)
		}
	}()
	if _, err := p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1100, "height": 760, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		return err
	}

	if err := p.navigate(ctx, base+"/up"); err != nil {
		return err
	}
	if txt, err := p.text("#up-status"); err != nil || !strings.Contains(txt, "up") {
		return fmt.Errorf("public /up page: %q, %v", txt, err)
	}
	step("/up answers without a session: %q", "NebulaIO is up")

	if err := p.navigate(ctx, base+"/cluster"); err != nil {
		return err
	}
	if path, _ := p.evalString("location.pathname"); path != "/login" {
		return fmt.Errorf("/cluster without a session went to %q, want the login form", path)
	}
	step("/cluster without a session shows the login form")

	if _, err := p.eval(fmt.Sprintf(`document.getElementById("token").value = %q`, token)); err != nil {
		return err
	}
	if err := p.clickAndWait(ctx, "#login"); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	if path, _ := p.evalString("location.pathname"); path != "/cluster" {
		body, _ := p.text("main")
		return fmt.Errorf("after logging in the browser is on %q: %s", path, body)
	}
	step("logged in with the admin token")

	// The cluster page lists every node and marks the leader (a fresh cluster may still be
	// settling: reload until it does).
	var leader string
	err = p.until(ctx, "every node and the leader on the cluster page", func() error {
		if err := p.navigate(ctx, base+"/cluster"); err != nil {
			return err
		}
		for _, id := range nodes {
			if ok, _ := p.evalBool(fmt.Sprintf(`document.getElementById(%q) !== null`, "node-"+id)); !ok {
				return fmt.Errorf("no row for %s", id)
			}
		}
		leader, _ = p.text("#leader")
		marked, _ := p.evalString(`(document.querySelector("tr[data-leader=true]") || {}).dataset?.node || ""`)
		if leader == "" || leader == "none" || marked != leader {
			return fmt.Errorf("leader %q, row marked %q", leader, marked)
		}
		return nil
	})
	if err != nil {
		return err
	}
	step("the cluster page lists %s; the leader is %s", strings.Join(nodes, ", "), leader)

	if err := p.clickAndWait(ctx, "#transfer-leadership"); err != nil {
		return fmt.Errorf("click Transfer leadership: %w", err)
	}
	q, _ := p.text("#question")
	step("confirmation page: %q", q)
	if err := p.clickAndWait(ctx, "#confirm"); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	flash, _ := p.text("#flash")
	class, _ := p.evalString(`(document.getElementById("flash") || {}).className || ""`)
	step("result: %q", flash)
	if !strings.Contains(class, "ok") {
		return fmt.Errorf("transfer leadership did not succeed: %q", flash)
	}
	var now string
	err = p.until(ctx, "another leader on the cluster page", func() error {
		if err := p.navigate(ctx, base+"/cluster"); err != nil {
			return err
		}
		now, _ = p.text("#leader")
		if now == "" || now == "none" || now == leader {
			return fmt.Errorf("leader %q", now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	step("the leader changed: %s -> %s", leader, now)
	// The screenshot: the cluster page with the new leader marked and the change in the events.
	png, err := p.screenshot()
	if err != nil {
		return err
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		return err
	}
	step("screenshot saved: %s (%d bytes)", shot, len(png))
	return nil
}

// browser is a Chromium process and the WebSocket of its first page.
type browser struct {
	cmd  *exec.Cmd
	dir  string
	page *page
}

var devtoolsRe = regexp.MustCompile(`DevTools listening on (ws://[^\s]+)`)

func launch(ctx context.Context, chromium string) (*browser, error) {
	dir, err := os.MkdirTemp("", "nebulaio-browser-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--user-data-dir="+dir,
		"--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", chromium, err)
	}
	b := &browser{cmd: cmd, dir: dir}
	found := make(chan string, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			} else if log.Len() < 4096 {
				log.WriteString(sc.Text() + "\n")
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(30 * time.Second):
		b.close()
		return nil, fmt.Errorf("chromium printed no DevTools address within 30 s")
	}
	// The page targets are listed on the same host's HTTP endpoint.
	host := strings.TrimPrefix(wsURL, "ws://")
	host = host[:strings.Index(host, "/")]
	var pageWS string
	for deadline := time.Now().Add(15 * time.Second); pageWS == "" && time.Now().Before(deadline); {
		pageWS, err = pageTarget(host)
		if pageWS == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if pageWS == "" {
		b.close()
		return nil, fmt.Errorf("no page target in chromium: %v", err)
	}
	ws, err := websocket.Dial(pageWS, "", "http://"+host)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("devtools websocket: %w", err)
	}
	b.page = &page{ws: ws}
	return b, nil
}

func pageTarget(host string) (string, error) {
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", err
	}
	for _, t := range targets {
		if t.Type == "page" && t.WS != "" {
			return t.WS, nil
		}
	}
	return "", errors.New("no page yet")
}

func (b *browser) close() {
	if b.page != nil {
		b.page.ws.Close()
	}
	if b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	}
	_ = os.RemoveAll(b.dir)
}

// page sends DevTools commands to one page, one at a time.
type page struct {
	ws   *websocket.Conn
	next int
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// call sends one command and returns its result, skipping the events that arrive meanwhile.
func (p *page) call(method string, params any) (json.RawMessage, error) {
	p.next++
	id := p.next
	if err := websocket.JSON.Send(p.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	_ = p.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *cdpError       `json:"error"`
		}
		if err := websocket.JSON.Receive(p.ws, &msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: chromium closed the connection", method)
			}
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if msg.ID != id {
			continue
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, msg.Error.Message, msg.Error.Code)
		}
		return msg.Result, nil
	}
}

// eval runs a JavaScript expression in the page and returns its value.
func (p *page) eval(expr string) (json.RawMessage, error) {
	raw, err := p.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	if r.Exception != nil {
		return nil, fmt.Errorf("script %q: %s", expr, r.Exception.Text)
	}
	return r.Result.Value, nil
}

func (p *page) evalString(expr string) (string, error) {
	v, err := p.eval(expr)
	if err != nil {
		return "", err
	}
	var s string
	err = json.Unmarshal(v, &s)
	return s, err
}

func (p *page) evalBool(expr string) (bool, error) {
	v, err := p.eval(expr)
	if err != nil {
		return false, err
	}
	var b bool
	err = json.Unmarshal(v, &b)
	return b, err
}

// text is the trimmed text of the first element matching selector ("" when none).
func (p *page) text(selector string) (string, error) {
	return p.evalString(fmt.Sprintf(`((document.querySelector(%q) || {}).textContent || "").trim()`, selector))
}

// loaded waits until the document that replaced the marked one has loaded: a click or a
// navigation gives a new document, which lacks the marker the old one carried.
func (p *page) loaded(ctx context.Context) error {
	return p.until(ctx, "the next page to load", func() error {
		ok, err := p.evalBool(`window.__nebulaioOld !== true && document.readyState === "complete"`)
		if err != nil {
			return err // the old document is going away
		}
		if !ok {
			return errors.New("still loading")
		}
		return nil
	})
}

func (p *page) mark() error {
	_, err := p.eval(`window.__nebulaioOld = true`)
	return err
}

func (p *page) navigate(ctx context.Context, url string) error {
	if err := p.mark(); err != nil {
		return err
	}
	if _, err := p.call("Page.navigate", map[string]any{"url": url}); err != nil {
		return err
	}
	return p.loaded(ctx)
}

// clickAndWait clicks the element (a submit button: the browser posts its form) and waits for
// the page the browser lands on.
func (p *page) clickAndWait(ctx context.Context, selector string) error {
	if err := p.mark(); err != nil {
		return err
	}
	ok, err := p.evalBool(fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el || el.disabled) return false; el.click(); return true })()`, selector))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no enabled %s on the page", selector)
	}
	return p.loaded(ctx)
}

// until retries f every 200 ms until it succeeds or ctx ends.
func (p *page) until(ctx context.Context, what string, f func() error) error {
	var err error
	for {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *page) screenshot() ([]byte, error) {
	raw, err := p.call("Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}
