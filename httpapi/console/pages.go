package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// pageData is what every template gets; each page fills its own part.
type pageData struct {
	Title    string
	Nav      string
	NodeID   string
	CSRF     string
	LoggedIn bool
	Flash    *flash
	Error    string
	Message  string
	Now      time.Time

	Next  string // login
	Ready bool   // up

	Cluster *clusterPage
	Storage *StorageView
	Buckets *BucketsView
	Confirm *confirmPage
}

type confirmPage struct {
	Action, Label, Node, Question string
}

// clusterPage is a ClusterView with what the template derives: each node's lag and the chart.
type clusterPage struct {
	ClusterView
	Rows  []nodeRow
	Chart chart
}

type nodeRow struct {
	NodeRow
	Leader bool
	Lag    uint64
	LagOK  bool // the lag is known (the node answered and a commit index is known)
	This   bool
}

func newClusterPage(v ClusterView) *clusterPage {
	p := &clusterPage{ClusterView: v, Chart: newChart(v.Latency)}
	for _, n := range v.Nodes {
		r := nodeRow{NodeRow: n, Leader: n.ID == v.LeaderID && v.LeaderID != "", This: n.ID == v.ThisNode}
		if n.RaftState != "unknown" && n.RaftState != "" && v.CommitIndex > 0 {
			r.LagOK = true
			if v.CommitIndex > n.AppliedIndex {
				r.Lag = v.CommitIndex - n.AppliedIndex
			}
		}
		p.Rows = append(p.Rows, r)
	}
	return p
}

// The latency chart: an inline SVG drawn on the server, one polyline for p50 and one for
// p99 over the window, on a linear axis from 0 to the largest p99.
const (
	chartW, chartH = 600, 140
	chartPad       = 6
)

type chart struct {
	W, H       int
	P50, P99   string // polyline points
	Dots       []dot  // one per interval with commits, on each line
	Max        time.Duration
	Span       time.Duration
	Commits    uint64
	LastP50    time.Duration
	LastP99    time.Duration
	HasSamples bool
}

func newChart(pts []LatencyPoint) chart {
	c := chart{W: chartW, H: chartH}
	if len(pts) == 0 {
		return c
	}
	if len(pts) > 1 {
		c.Span = pts[len(pts)-1].Start.Sub(pts[0].Start) + pts[1].Start.Sub(pts[0].Start)
	}
	for _, p := range pts {
		c.Commits += p.Count
		c.Max = max(c.Max, p.P99)
		if p.Count > 0 {
			c.LastP50, c.LastP99 = p.P50, p.P99
		}
	}
	if c.Max == 0 {
		return c
	}
	c.HasSamples = true
	var p50, p99 strings.Builder
	step := float64(chartW-2*chartPad) / float64(max(len(pts)-1, 1))
	y := func(d time.Duration) float64 {
		return float64(chartH-chartPad) - float64(d)/float64(c.Max)*float64(chartH-2*chartPad)
	}
	for i, p := range pts {
		if p.Count == 0 {
			continue
		}
		x := float64(chartPad) + float64(i)*step
		fmt.Fprintf(&p50, "%.1f,%.1f ", x, y(p.P50))
		fmt.Fprintf(&p99, "%.1f,%.1f ", x, y(p.P99))
		c.Dots = append(c.Dots, dot{X: x, Y: y(p.P50), Class: "p50"}, dot{X: x, Y: y(p.P99), Class: "p99"})
	}
	c.P50, c.P99 = strings.TrimSpace(p50.String()), strings.TrimSpace(p99.String())
	return c
}

// dot marks one interval's value (a lone interval draws no line).
type dot struct {
	X, Y  float64
	Class string
}

type page struct{ t *template.Template }

var funcs = template.FuncMap{
	"bytes":    humanBytes,
	"ms":       func(d time.Duration) string { return fmtDuration(d) },
	"eta":      fmtETA,
	"ago":      fmtAgo,
	"contact":  fmtContact,
	"pct":      func(done, total uint64) uint64 { return done * 100 / max(total, 1) },
	"unit":     fmtUnit,
	"stamp":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"nonempty": func(s, dflt string) string { return cmpOr(s, dflt) },
	"actbtn":   newActBtn,
}

// actBtn is a button that opens an action's confirmation page.
type actBtn struct{ Action, Node, Label string }

func newActBtn(action, node string) actBtn {
	label := actions[action].Label
	if action == "transfer" {
		label = "Make leader"
	}
	return actBtn{Action: action, Node: node, Label: label}
}

func cmpOr(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

func parsePages() (map[string]*page, error) {
	out := map[string]*page{}
	for _, name := range []string{"up", "login", "cluster", "storage", "buckets", "confirm", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = &page{t: t}
	}
	return out, nil
}

// render writes a page whole: a template error becomes a 500 before anything is sent.
func (h *Handler) render(w http.ResponseWriter, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := h.pages[name].t.Execute(&buf, d); err != nil {
		http.Error(w, "console: rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtAgo(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return fmtDuration(d.Round(time.Second)) + " ago"
}

func fmtETA(d time.Duration) string {
	if d < 0 {
		return "unknown"
	}
	return fmtDuration(d.Round(time.Second))
}

func fmtContact(ms int64) string {
	switch {
	case ms < 0:
		return "never"
	case ms == 0:
		return "now"
	}
	return fmtDuration(time.Duration(ms) * time.Millisecond)
}

func fmtUnit(n uint64, unit string) string {
	if unit == "bytes" {
		return humanBytes(n)
	}
	return fmt.Sprintf("%d %s", n, unit)
}
