package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/web"
)

var _ jobs.Observer = (*web.Metrics)(nil)

func TestMetricsZeroValue(t *testing.T) {
	var m web.Metrics
	p := scrape(t, &m)
	for _, name := range []string{
		"fluxbot_jobs_total", "fluxbot_jobs_submitted_total", "fluxbot_refusals_total",
		"fluxbot_status_polls_total", "fluxbot_cost_total", "fluxbot_callbacks_total",
		"fluxbot_vendor_latency_seconds",
	} {
		f := p.families[name]
		if f == nil {
			t.Errorf("family %s missing", name)
			continue
		}
		if len(f.samples) != 0 {
			t.Errorf("%s has samples on a zero Metrics: %v", name, f.samples)
		}
	}
	if p.families["fluxbot_vendor_latency_seconds"].typ != "histogram" {
		t.Errorf("latency type = %q", p.families["fluxbot_vendor_latency_seconds"].typ)
	}
	if p.families["fluxbot_queue_length"] != nil || p.families["fluxbot_jobs_in_flight"] != nil {
		t.Error("gauges rendered without QueueLen/InFlight funcs")
	}
}

func TestMetricsSamples(t *testing.T) {
	queue, inflight := 4, 2
	m := &web.Metrics{QueueLen: func() int { return queue }, InFlight: func() int { return inflight }}
	m.Submitted("poyo")
	m.Submitted("poyo")
	m.Submitted("toapis")
	m.Finished("poyo", "succeeded", 12*time.Second, 5, &imaging.Cost{Amount: 2, Unit: "credits"})
	m.Finished("poyo", "succeeded", 70*time.Second, 10, &imaging.Cost{Amount: 4, Unit: "credits"})
	m.Finished("poyo", "safety", 0, 0, nil)
	m.Finished("toapis", "succeeded", 5*time.Second, 2, &imaging.Cost{Amount: 0.04, Unit: "USD"})  // exactly on the le="5" bound
	m.Finished("toapis", "succeeded", 20*time.Minute, 3, &imaging.Cost{Amount: 0.08, Unit: "USD"}) // beyond every bucket
	m.Finished("apixo", "timeout", 0, 7, nil)
	m.Refused("rate")
	m.Refused("rate")
	m.Refused("rate")
	m.Refused("quota")
	m.Callback("poyo", "accepted")
	m.Callback("poyo", "accepted")
	m.Callback("apixo", "bad_token")

	p := scrape(t, m)
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"fluxbot_jobs_total", L("vendor", "poyo", "outcome", "succeeded"), 2},
		{"fluxbot_jobs_total", L("vendor", "poyo", "outcome", "safety"), 1},
		{"fluxbot_jobs_total", L("vendor", "toapis", "outcome", "succeeded"), 2},
		{"fluxbot_jobs_total", L("vendor", "apixo", "outcome", "timeout"), 1},
		{"fluxbot_jobs_submitted_total", L("vendor", "poyo"), 2},
		{"fluxbot_jobs_submitted_total", L("vendor", "toapis"), 1},
		{"fluxbot_refusals_total", L("reason", "rate"), 3},
		{"fluxbot_refusals_total", L("reason", "quota"), 1},
		{"fluxbot_status_polls_total", L("vendor", "poyo"), 15},
		{"fluxbot_status_polls_total", L("vendor", "toapis"), 5},
		{"fluxbot_status_polls_total", L("vendor", "apixo"), 7},
		{"fluxbot_cost_total", L("vendor", "poyo", "unit", "credits"), 6},
		{"fluxbot_cost_total", L("vendor", "toapis", "unit", "USD"), 0.12},
		{"fluxbot_callbacks_total", L("vendor", "poyo", "result", "accepted"), 2},
		{"fluxbot_callbacks_total", L("vendor", "apixo", "result", "bad_token"), 1},
		{"fluxbot_vendor_latency_seconds_count", L("vendor", "poyo"), 2},
		{"fluxbot_vendor_latency_seconds_sum", L("vendor", "poyo"), 82},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "10"), 0},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "20"), 1},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "60"), 1},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "90"), 2},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "600"), 2},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "poyo", "le", "+Inf"), 2},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "toapis", "le", "5"), 1},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "toapis", "le", "600"), 1},
		{"fluxbot_vendor_latency_seconds_bucket", L("vendor", "toapis", "le", "+Inf"), 2},
		{"fluxbot_vendor_latency_seconds_count", L("vendor", "toapis"), 2},
		{"fluxbot_queue_length", L(), 4},
		{"fluxbot_jobs_in_flight", L(), 2},
	}
	for _, w := range want {
		got, ok := p.value(w.name, w.labels)
		if !ok {
			t.Errorf("missing %s%v", w.name, w.labels)
			continue
		}
		if diff := got - w.v; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	// A job with no elapsed time is not observed in the histogram.
	if _, ok := p.value("fluxbot_vendor_latency_seconds_count", L("vendor", "apixo")); ok {
		t.Error("apixo latency observed for a job with elapsed 0")
	}
	for name, typ := range map[string]string{
		"fluxbot_jobs_total": "counter", "fluxbot_refusals_total": "counter", "fluxbot_cost_total": "counter",
		"fluxbot_queue_length": "gauge", "fluxbot_jobs_in_flight": "gauge", "fluxbot_vendor_latency_seconds": "histogram",
	} {
		if f := p.families[name]; f == nil || f.typ != typ {
			t.Errorf("%s: TYPE %v, want %s", name, f, typ)
		}
	}
	// The gauges are read at scrape time.
	queue, inflight = 9, 0
	p = scrape(t, m)
	if v, _ := p.value("fluxbot_queue_length", L()); v != 9 {
		t.Errorf("queue length after change = %v, want 9", v)
	}
	if v, ok := p.value("fluxbot_jobs_in_flight", L()); !ok || v != 0 {
		t.Errorf("in flight after change = %v, %v", v, ok)
	}
}

// Label values that need escaping in the exposition format still parse
// back to what was counted.
func TestMetricsLabelEscaping(t *testing.T) {
	m := &web.Metrics{}
	odd := []string{`quo"te`, `back\slash`, "new\nline", "ünïcödé"}
	for _, r := range odd {
		m.Refused(r)
	}
	p := scrape(t, m)
	for _, r := range odd {
		if v, ok := p.value("fluxbot_refusals_total", L("reason", r)); !ok || v != 1 {
			t.Errorf("reason %q: %v %v", r, v, ok)
		}
	}
}

func TestMetricsServeHTTP(t *testing.T) {
	m := &web.Metrics{}
	m.Refused("rate")
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	p, err := parseProm(rec.Body.String())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.value("fluxbot_refusals_total", L("reason", "rate")); v != 1 {
		t.Errorf("refusals = %v", v)
	}
}

// Run with -race: every observer method and scrapes at once.
func TestMetricsConcurrent(t *testing.T) {
	const workers, each = 32, 200
	m := &web.Metrics{QueueLen: func() int { return 1 }, InFlight: func() int { return 1 }}
	vendors := []string{"poyo", "toapis", "apixo"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			v := vendors[w%len(vendors)]
			for i := range each {
				m.Finished(v, "succeeded", time.Duration(i%700)*time.Second+time.Millisecond, 1, &imaging.Cost{Amount: 1, Unit: "credits"})
				m.Submitted(v)
				m.Refused("rate")
				m.Callback(v, "accepted")
			}
		})
	}
	stop := make(chan struct{})
	var sc sync.WaitGroup
	sc.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var b bytes.Buffer
			m.Write(&b)
			if _, err := parseProm(b.String()); err != nil {
				t.Errorf("scrape during writes: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	sc.Wait()

	p := scrape(t, m)
	var jobsTotal, polls, cost, count float64
	for _, v := range vendors {
		n := float64(0)
		for w := range workers {
			if vendors[w%len(vendors)] == v {
				n += each
			}
		}
		got, _ := p.value("fluxbot_jobs_total", L("vendor", v, "outcome", "succeeded"))
		if got != n {
			t.Errorf("%s jobs = %v, want %v", v, got, n)
		}
		jobsTotal += got
		x, _ := p.value("fluxbot_status_polls_total", L("vendor", v))
		polls += x
		x, _ = p.value("fluxbot_cost_total", L("vendor", v, "unit", "credits"))
		cost += x
		x, _ = p.value("fluxbot_vendor_latency_seconds_count", L("vendor", v))
		count += x
		if c, _ := p.value("fluxbot_callbacks_total", L("vendor", v, "result", "accepted")); c != n {
			t.Errorf("%s callbacks = %v, want %v", v, c, n)
		}
	}
	total := float64(workers * each)
	for name, got := range map[string]float64{"jobs": jobsTotal, "polls": polls, "cost": cost, "latency count": count} {
		if got != total {
			t.Errorf("%s = %v, want %v", name, got, total)
		}
	}
	if r, _ := p.value("fluxbot_refusals_total", L("reason", "rate")); r != total {
		t.Errorf("refusals = %v, want %v", r, total)
	}
}

func ExampleMetrics_Write() {
	m := &web.Metrics{}
	m.Refused("rate")
	var b bytes.Buffer
	m.Write(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "fluxbot_refusals_total") {
			fmt.Println(line)
		}
	}
	// Output: fluxbot_refusals_total{reason="rate"} 1
}
