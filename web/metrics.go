// Package web is the bot's own HTTP surface: health, Prometheus metrics,
// vendor callbacks and hosted reference images. Slack's HTTP-mode endpoints
// are mounted beside these by the binary.
package web

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
)

// latencyBuckets are the upper bounds, in seconds, of the vendor latency
// histogram.
var latencyBuckets = []float64{5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600}

// Metrics counts what the pipeline does and renders it in the Prometheus
// text exposition format. It implements jobs.Observer. The zero value is
// ready; it is safe for concurrent use.
type Metrics struct {
	mu        sync.Mutex
	jobs      map[[2]string]uint64 // vendor, outcome
	submitted map[string]uint64
	refusals  map[string]uint64
	cost      map[[2]string]float64 // vendor, unit
	latency   map[string]*histogram
	polls     map[string]uint64
	callbacks map[[2]string]uint64 // vendor, result
	// QueueLen, when set, reports the jobs waiting for a vendor slot.
	QueueLen func() int
	// InFlight, when set, reports the jobs not yet finished.
	InFlight func() int
}

type histogram struct {
	counts []uint64
	sum    float64
	n      uint64
}

// Submitted implements jobs.Observer.
func (m *Metrics) Submitted(vendor string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.submitted == nil {
		m.submitted = map[string]uint64{}
	}
	m.submitted[vendor]++
}

// Finished implements jobs.Observer.
func (m *Metrics) Finished(vendor, outcome string, elapsed time.Duration, polls int, cost *imaging.Cost) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs == nil {
		m.jobs, m.cost, m.latency, m.polls = map[[2]string]uint64{}, map[[2]string]float64{}, map[string]*histogram{}, map[string]uint64{}
	}
	m.jobs[[2]string{vendor, outcome}]++
	m.polls[vendor] += uint64(polls)
	if cost != nil {
		m.cost[[2]string{vendor, cost.Unit}] += cost.Amount
	}
	if elapsed > 0 {
		h := m.latency[vendor]
		if h == nil {
			h = &histogram{counts: make([]uint64, len(latencyBuckets))}
			m.latency[vendor] = h
		}
		s := elapsed.Seconds()
		for i, b := range latencyBuckets {
			if s <= b {
				h.counts[i]++
			}
		}
		h.sum += s
		h.n++
	}
}

// Refused implements jobs.Observer.
func (m *Metrics) Refused(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refusals == nil {
		m.refusals = map[string]uint64{}
	}
	m.refusals[reason]++
}

// Callback counts a vendor callback by result (accepted, idle, test,
// bad_token, rejected, mismatch, unknown_job, too_large, store_error).
func (m *Metrics) Callback(vendor, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.callbacks == nil {
		m.callbacks = map[[2]string]uint64{}
	}
	m.callbacks[[2]string{vendor, result}]++
}

// ServeHTTP writes the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.Write(w)
}

// Write writes the metrics in the Prometheus text format.
func (m *Metrics) Write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	head := func(name, typ, help string) { fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }

	head("fluxbot_jobs_total", "counter", "Jobs finished, by vendor and outcome (succeeded or the failure kind).")
	for _, k := range sortedKeys(m.jobs) {
		fmt.Fprintf(w, "fluxbot_jobs_total{vendor=\"%s\",outcome=\"%s\"} %d\n", esc(k[0]), esc(k[1]), m.jobs[k])
	}
	head("fluxbot_jobs_submitted_total", "counter", "Jobs the vendor accepted.")
	for _, k := range slices.Sorted(maps.Keys(m.submitted)) {
		fmt.Fprintf(w, "fluxbot_jobs_submitted_total{vendor=\"%s\"} %d\n", esc(k), m.submitted[k])
	}
	head("fluxbot_refusals_total", "counter", "Requests refused before any vendor call, by reason.")
	for _, k := range slices.Sorted(maps.Keys(m.refusals)) {
		fmt.Fprintf(w, "fluxbot_refusals_total{reason=\"%s\"} %d\n", esc(k), m.refusals[k])
	}
	head("fluxbot_status_polls_total", "counter", "Vendor status polls made by finished jobs.")
	for _, k := range slices.Sorted(maps.Keys(m.polls)) {
		fmt.Fprintf(w, "fluxbot_status_polls_total{vendor=\"%s\"} %d\n", esc(k), m.polls[k])
	}
	head("fluxbot_cost_total", "counter", "Cost the vendors reported, by unit (USD or credits).")
	for _, k := range sortedKeys(m.cost) {
		fmt.Fprintf(w, "fluxbot_cost_total{vendor=\"%s\",unit=\"%s\"} %s\n", esc(k[0]), esc(k[1]), strconv.FormatFloat(m.cost[k], 'f', -1, 64))
	}
	head("fluxbot_callbacks_total", "counter", "Vendor callbacks received, by result.")
	for _, k := range sortedKeys(m.callbacks) {
		fmt.Fprintf(w, "fluxbot_callbacks_total{vendor=\"%s\",result=\"%s\"} %d\n", esc(k[0]), esc(k[1]), m.callbacks[k])
	}
	head("fluxbot_vendor_latency_seconds", "histogram", "Time from the vendor accepting a job to the image in hand.")
	for _, v := range slices.Sorted(maps.Keys(m.latency)) {
		h := m.latency[v]
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "fluxbot_vendor_latency_seconds_bucket{vendor=\"%s\",le=\"%s\"} %d\n", esc(v), strconv.FormatFloat(b, 'f', -1, 64), h.counts[i])
		}
		fmt.Fprintf(w, "fluxbot_vendor_latency_seconds_bucket{vendor=\"%s\",le=\"+Inf\"} %d\n", esc(v), h.n)
		fmt.Fprintf(w, "fluxbot_vendor_latency_seconds_sum{vendor=\"%s\"} %s\n", esc(v), strconv.FormatFloat(h.sum, 'f', -1, 64))
		fmt.Fprintf(w, "fluxbot_vendor_latency_seconds_count{vendor=\"%s\"} %d\n", esc(v), h.n)
	}
	if m.QueueLen != nil {
		head("fluxbot_queue_length", "gauge", "Jobs waiting for a vendor slot.")
		fmt.Fprintf(w, "fluxbot_queue_length %d\n", m.QueueLen())
	}
	if m.InFlight != nil {
		head("fluxbot_jobs_in_flight", "gauge", "Jobs accepted and not yet finished.")
		fmt.Fprintf(w, "fluxbot_jobs_in_flight %d\n", m.InFlight())
	}
}

func sortedKeys[V any](m map[[2]string]V) [][2]string {
	return slices.SortedFunc(maps.Keys(m), func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	})
}

// esc escapes a label value for the Prometheus text format, which allows
// only \\, \" and \n as escapes.
func esc(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
