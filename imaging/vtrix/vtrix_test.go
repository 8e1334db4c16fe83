package vtrix_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/imaging/vtrix"
)

const testKey = "test-key"

func newClient(srv *imagingtest.VtrixServer, key string) *vtrix.Client {
	return vtrix.New(key, vtrix.WithBaseURL(srv.URL), vtrix.WithRetryWait(time.Millisecond, 20*time.Millisecond))
}

func ptr[T any](v T) *T { return &v }

// canon re-encodes JSON with sorted keys and exact numbers.
func canon(t *testing.T, v any) string {
	t.Helper()
	if b, ok := v.([]byte); ok {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		v = x
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func kindOf(t *testing.T, err error) imaging.Kind {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	return imaging.KindOf(err)
}

func TestNameAndCapabilities(t *testing.T) {
	c := vtrix.New("k")
	if got := c.Name(); got != "vtrix" {
		t.Errorf("Name() = %q", got)
	}
	caps := c.Capabilities()
	if caps.DisplayName != "Vtrix" || !slices.Equal(caps.Models, []imaging.Model{imaging.ModelPro}) ||
		len(caps.AspectRatios) != 0 || caps.MinAspect != 9.0/21 || caps.MaxAspect != 21.0/9 ||
		caps.MaxImages != 4 || !caps.ImageURLs || !caps.ImageBytes || caps.MaxImageBytes != 20<<20 ||
		caps.Safety == nil || *caps.Safety != (imaging.Range{Min: 1, Max: 6}) || !caps.Seed || !caps.Upsampling ||
		caps.Callbacks || !caps.Progress || caps.PollDelay != 3*time.Second || caps.PollInterval != 3*time.Second ||
		caps.Concurrency != 10 {
		t.Errorf("Capabilities() = %+v", caps)
	}
	if !slices.Contains(caps.Formats, imaging.FormatPNG) || !slices.Contains(caps.Formats, imaging.FormatJPEG) || len(caps.Formats) != 2 {
		t.Errorf("Formats = %v", caps.Formats)
	}
	for _, ar := range []string{"21:9", "9:21", "1:1", "16:9", "7:5"} {
		if !caps.SupportsAspect(ar) {
			t.Errorf("SupportsAspect(%q) = false", ar)
		}
	}
	for _, ar := range []string{"22:9", "1:3", "3:1"} {
		if caps.SupportsAspect(ar) {
			t.Errorf("SupportsAspect(%q) = true", ar)
		}
	}
	err := caps.Check(&imaging.Request{Prompt: "x", Model: imaging.ModelMax}, false)
	if imaging.KindOf(err) != imaging.KindInvalid || !strings.Contains(err.Error(), "pro") {
		t.Errorf("Check(max) = %v, want KindInvalid naming pro", err)
	}
	if _, ok := any(c).(imaging.CallbackVendor); ok {
		t.Error("Client implements CallbackVendor; Vtrix has no callbacks")
	}
}

func TestSubmitWireBody(t *testing.T) {
	png, jpg := imagingtest.PNG(3), imagingtest.JPEG(4)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		req  imaging.Request
		want map[string]any
	}{
		{
			name: "text-to-image defaults",
			req:  imaging.Request{Prompt: "a red fox", AspectRatio: "1:1"},
			want: map[string]any{"prompt": "a red fox", "aspect_ratio": "1:1", "output_format": "png"},
		},
		{
			name: "text-to-image every option",
			req: imaging.Request{Prompt: "a red fox", AspectRatio: "21:9", Format: imaging.FormatJPEG,
				Seed: ptr(int64(9007199254740993)), PromptUpsampling: true, SafetyTolerance: ptr(6),
				CallbackURL: "https://bot.example/cb"},
			want: map[string]any{"prompt": "a red fox", "aspect_ratio": "21:9", "output_format": "jpeg",
				"seed": int64(9007199254740993), "prompt_upsampling": true, "safety_tolerance": 6},
		},
		{
			name: "negative seed, lowest safety",
			req:  imaging.Request{Prompt: "p", AspectRatio: "9:21", Seed: ptr(int64(-7)), SafetyTolerance: ptr(1)},
			want: map[string]any{"prompt": "p", "aspect_ratio": "9:21", "output_format": "png", "seed": -7, "safety_tolerance": 1},
		},
		{
			name: "edit with URL, no aspect",
			req:  imaging.Request{Prompt: "make it blue", Images: []imaging.Image{{URL: "https://img.example/a.png?x=1"}}},
			want: map[string]any{"prompt": "make it blue", "input_image": "https://img.example/a.png?x=1", "output_format": "png"},
		},
		{
			name: "edit with bytes",
			req: imaging.Request{Prompt: "make it blue", AspectRatio: "4:3", Format: imaging.FormatPNG,
				Images: []imaging.Image{{Data: png, ContentType: "image/png"}}},
			want: map[string]any{"prompt": "make it blue", "aspect_ratio": "4:3", "input_image": b64(png), "output_format": "png"},
		},
		{
			name: "four images mixed",
			req: imaging.Request{Prompt: "combine", Images: []imaging.Image{
				{URL: "https://img.example/1.png"},
				{Data: jpg, ContentType: "image/jpeg"},
				{URL: "http://img.example/3.webp"},
				{Data: png, ContentType: "image/png"},
			}},
			want: map[string]any{"prompt": "combine", "output_format": "png",
				"input_image": "https://img.example/1.png", "input_image_2": b64(jpg),
				"input_image_3": "http://img.example/3.webp", "input_image_4": b64(png)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewVtrix(t)
			id, err := newClient(srv, testKey).Submit(t.Context(), &tt.req)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if id != "task-vtrix-1" {
				t.Errorf("id = %q", id)
			}
			subs := srv.Submits()
			if len(subs) != 1 {
				t.Fatalf("%d submits, want 1", len(subs))
			}
			r := subs[0]
			if r.Method != http.MethodPost || r.Path != "/model/v1/generation" || r.Status != http.StatusOK {
				t.Errorf("request %s %s -> %d", r.Method, r.Path, r.Status)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q", got)
			}
			var top struct {
				Model string                       `json:"model"`
				Input []map[string]json.RawMessage `json:"input"`
			}
			if err := json.Unmarshal(r.Body, &top); err != nil {
				t.Fatal(err)
			}
			if m := r.JSON(); len(m) != 2 {
				t.Errorf("top-level keys = %v, want model and input", m)
			}
			if top.Model != "flux_kontext_pro" || len(top.Input) != 1 || len(top.Input[0]) != 1 {
				t.Fatalf("envelope = %s", r.Body)
			}
			if got, want := canon(t, []byte(top.Input[0]["params"])), canon(t, tt.want); got != want {
				t.Errorf("params =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestSubmitRefusesInvalid(t *testing.T) {
	srv := imagingtest.NewVtrix(t)
	c := newClient(srv, testKey)
	for name, req := range map[string]imaging.Request{
		"max model":   {Prompt: "x", Model: imaging.ModelMax},
		"five images": {Prompt: "x", Images: slices.Repeat([]imaging.Image{{URL: "https://a.example/i.png"}}, 5)},
		"safety 0":    {Prompt: "x", SafetyTolerance: ptr(0)},
		"aspect 1:3":  {Prompt: "x", AspectRatio: "1:3"},
	} {
		_, err := c.Submit(t.Context(), &req)
		if k := kindOf(t, err); k != imaging.KindInvalid {
			t.Errorf("%s: kind = %v (%v), want invalid", name, k, err)
		}
	}
	if n := len(srv.Submits()); n != 0 {
		t.Errorf("%d submits reached the server, want 0", n)
	}
}

func TestStatusLifecycle(t *testing.T) {
	img := imagingtest.PNG(9)
	srv := imagingtest.NewVtrix(t, imagingtest.WithPolls(2, 2), imagingtest.WithImage(img))
	c := newClient(srv, testKey)
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	if err != nil {
		t.Fatal(err)
	}
	wantStates := []imaging.State{imaging.StateQueued, imaging.StateQueued, imaging.StateRunning, imaging.StateRunning, imaging.StateSucceeded}
	wantProgress := []int{-1, -1, 33, 67, 100}
	var last *imaging.Status
	for i := range wantStates {
		st, err := c.Status(t.Context(), id)
		if err != nil {
			t.Fatalf("poll %d: %v", i+1, err)
		}
		if st.State != wantStates[i] || st.Progress != wantProgress[i] {
			t.Errorf("poll %d: state %v progress %d, want %v %d", i+1, st.State, st.Progress, wantStates[i], wantProgress[i])
		}
		last = st
	}
	if last.Err != nil || len(last.URLs) != 1 || last.Seed != nil {
		t.Fatalf("final = %+v", last)
	}
	if last.Cost == nil || *last.Cost != (imaging.Cost{Amount: 0.04, Unit: "USD"}) {
		t.Errorf("Cost = %v, want $0.04", last.Cost)
	}
	resp, err := http.Get(last.URLs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, img) || !strings.HasSuffix(last.URLs[0], ".png") {
		t.Errorf("downloaded %d bytes from %s, want the fake's image", len(got), last.URLs[0])
	}
	if srv.Polls() != 5 || srv.Downloads() != 1 {
		t.Errorf("polls %d downloads %d", srv.Polls(), srv.Downloads())
	}
	// The default output format on the wire is png; jpeg gets a .jpg result.
	id2, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", Format: imaging.FormatJPEG})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		last, err = c.Status(t.Context(), id2)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(last.URLs) != 1 || !strings.HasSuffix(last.URLs[0], ".jpg") {
		t.Errorf("jpeg URLs = %v", last.URLs)
	}
}

func TestStatusOutcomes(t *testing.T) {
	tests := []struct {
		outcome  imagingtest.Outcome
		state    imaging.State
		kind     imaging.Kind
		code     string
		msgWords string
	}{
		{imagingtest.FailSafety, imaging.StateFailed, imaging.KindSafety, "content_moderation", "moderation"},
		{imagingtest.FailImage, imaging.StateFailed, imaging.KindImageUnreachable, "2014002", "download"},
		{imagingtest.FailGeneric, imaging.StateFailed, imaging.KindUnknown, "", "Image generation failed"},
		{imagingtest.Never, imaging.StateRunning, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.state.String()+"/"+tt.kind.String(), func(t *testing.T) {
			srv := imagingtest.NewVtrix(t, imagingtest.WithPolls(0, 1), imagingtest.WithOutcome(tt.outcome))
			c := newClient(srv, testKey)
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p"})
			if err != nil {
				t.Fatal(err)
			}
			var st *imaging.Status
			for range 6 {
				if st, err = c.Status(t.Context(), id); err != nil {
					t.Fatal(err)
				}
			}
			if st.State != tt.state {
				t.Fatalf("state = %v, want %v", st.State, tt.state)
			}
			if tt.state == imaging.StateRunning {
				if st.Err != nil || st.Progress < 0 {
					t.Errorf("running status = %+v", st)
				}
				return
			}
			var e *imaging.Error
			if !errors.As(st.Err, &e) {
				t.Fatalf("Err = %v, want *imaging.Error", st.Err)
			}
			if e.Kind != tt.kind || e.Code != tt.code || e.Vendor != "Vtrix" || !strings.Contains(e.Message, tt.msgWords) {
				t.Errorf("Err = %+v", e)
			}
			if len(st.URLs) != 0 {
				t.Errorf("URLs on failure: %v", st.URLs)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		state    imaging.State
		progress int
		urls     []string
		cost     *imaging.Cost
		kind     imaging.Kind // of Status.Err, when failed
		errKind  imaging.Kind // of the returned error, when wantErr
		wantErr  bool
	}{
		{name: "pending", body: `{"id":"t","status":"pending"}`, state: imaging.StateQueued, progress: -1},
		{name: "in_queue", body: `{"id":"t","status":"in_queue","created_at":1700000000}`, state: imaging.StateQueued, progress: -1},
		{name: "processing", body: `{"id":"t","status":"processing"}`, state: imaging.StateRunning, progress: -1},
		{name: "in_progress with progress", body: `{"id":"t","status":"in_progress","progress":0.5}`, state: imaging.StateRunning, progress: 50},
		{name: "progress clamped", body: `{"id":"t","status":"in_progress","progress":7}`, state: imaging.StateRunning, progress: 100},
		{name: "unknown status is running", body: `{"id":"t","status":"warming_up"}`, state: imaging.StateRunning, progress: -1},
		{name: "upper case status", body: `{"id":"t","status":"COMPLETED","output":[{"content":[{"type":"image","url":"https://cdn/x.png"}]}]}`,
			state: imaging.StateSucceeded, progress: 100, urls: []string{"https://cdn/x.png"}},
		{name: "completed, every url, usage", body: `{"id":"t","created_at":1,"status":"completed","model":"flux_kontext_pro",
			"output":[{"content":[{"type":"image","url":"https://cdn/a.png"},{"type":"video_url","url":"https://cdn/b.png"}]},{"content":[{"type":"image","url":""},{"type":"x","url":"https://cdn/c.png"}]}],
			"usage":{"cost":"0.0400","discount":0.01,"quantity":1,"unit_price":"0.04"},"metadata":{}}`,
			state: imaging.StateSucceeded, progress: 100, urls: []string{"https://cdn/a.png", "https://cdn/b.png", "https://cdn/c.png"},
			cost: &imaging.Cost{Amount: 0.04, Unit: "USD"}},
		{name: "unparsable cost ignored", body: `{"id":"t","status":"completed","output":[{"content":[{"url":"https://cdn/a.png"}]}],"usage":{"cost":"n/a"}}`,
			state: imaging.StateSucceeded, progress: 100, urls: []string{"https://cdn/a.png"}},
		{name: "completed without url", body: `{"id":"t","status":"completed","output":[]}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindUnknown},
		{name: "failed, string error", body: `{"id":"t","status":"failed","error":"NSFW content detected"}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindSafety},
		{name: "failed, object error", body: `{"id":"t","status":"failed","error":{"code":"content_policy_violation","message":"blocked"}}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindSafety},
		{name: "failed, numeric code, error_message", body: `{"id":"t","status":"failed","error":{"code":2014001,"error_message":"could not decode input image"}}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindImageUnreachable},
		{name: "failed, Veo-style code", body: `{"id":"t","status":"failed","error":{"code":"002014001","message":"Video generation failed"}}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindUnknown},
		{name: "failed, no error", body: `{"id":"t","status":"failed"}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindUnknown},
		{name: "failed, null error", body: `{"id":"t","status":"failed","error":null}`, state: imaging.StateFailed, progress: -1, kind: imaging.KindUnknown},
		{name: "envelope in a 200", body: `{"status":{"code":401,"message":"Unauthorized","error_code":40101},"data":null}`, wantErr: true, errKind: imaging.KindUnauthorized},
		{name: "envelope credits in a 200", body: `{"status":{"code":200,"message":"Insufficient credits","error_code":40201},"data":null}`, wantErr: true, errKind: imaging.KindCredits},
		{name: "envelope success wraps task", body: `{"status":{"code":200,"message":"ok"},"data":{"id":"t","status":"in_progress","progress":0.25}}`,
			state: imaging.StateRunning, progress: 25},
		{name: "no status", body: `{"id":"t"}`, wantErr: true, errKind: imaging.KindUnavailable},
		{name: "not JSON", body: `<html>`, wantErr: true, errKind: imaging.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := vtrix.ParseStatus([]byte(tt.body))
			if tt.wantErr {
				if k := kindOf(t, err); k != tt.errKind {
					t.Errorf("kind = %v (%v), want %v", k, err, tt.errKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.state || st.Progress != tt.progress || !slices.Equal(st.URLs, tt.urls) {
				t.Errorf("got state %v progress %d urls %v", st.State, st.Progress, st.URLs)
			}
			if (st.Cost == nil) != (tt.cost == nil) || (st.Cost != nil && *st.Cost != *tt.cost) {
				t.Errorf("cost = %v, want %v", st.Cost, tt.cost)
			}
			if tt.state == imaging.StateFailed {
				if k := imaging.KindOf(st.Err); k != tt.kind {
					t.Errorf("Err kind = %v (%v), want %v", k, st.Err, tt.kind)
				}
			} else if st.Err != nil {
				t.Errorf("Err = %v", st.Err)
			}
		})
	}
}

func TestParseSubmit(t *testing.T) {
	id, err := vtrix.ParseSubmit([]byte(`{"id":"task-legacy","status":"in_progress","model":"legacy_image"}`))
	if err != nil || id != "task-legacy" {
		t.Errorf("ParseSubmit = %q, %v", id, err)
	}
	for body, want := range map[string]imaging.Kind{
		`{"id":"","status":"failed","error":"prompt flagged by moderation"}`: imaging.KindSafety,
		`{"status":"failed","error":{"code":"x","message":"boom"}}`:          imaging.KindUnknown,
		`{}`: imaging.KindUnavailable,
		`{"status":{"code":403,"message":"Insufficient balance"},"data":null}`: imaging.KindCredits,
	} {
		if _, err := vtrix.ParseSubmit([]byte(body)); imaging.KindOf(err) != want {
			t.Errorf("ParseSubmit(%s) = %v, want %v", body, err, want)
		}
	}
}

func TestHTTPErrorShapes(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   imaging.Kind
		code   string
		msg    string
	}{
		{"401 envelope", 401, `{"status":{"code":401,"message":"Unauthorized","error_code":40101},"data":null}`, imaging.KindUnauthorized, "40101", "Unauthorized"},
		{"402 envelope (SeaCloud fixture)", 402, `{"status":{"code":402,"message":"Insufficient credits","error_code":40201},"data":null}`, imaging.KindCredits, "40201", "Insufficient credits"},
		{"402 bare", 402, ` `, imaging.KindCredits, "", ""},
		{"403 balance envelope", 403, `{"status":{"code":403,"message":"Insufficient balance","error_code":40301},"data":null}`, imaging.KindCredits, "40301", "Insufficient balance"},
		{"403 permission message", 403, `{"message":"Permission denied"}`, imaging.KindUnauthorized, "", "Permission denied"},
		{"403 error string credit", 403, `{"error":"not enough credit"}`, imaging.KindCredits, "", "not enough credit"},
		{"403 error_code 40203", 403, `{"error_code":40203,"message":"account frozen"}`, imaging.KindCredits, "40203", "account frozen"},
		{"400 top-level error_code 40208", 400, `{"error_code":"40208","message":"quota"}`, imaging.KindCredits, "40208", "quota"},
		{"400 error object", 400, `{"error":{"code":"invalid_param","message":"aspect_ratio is invalid"}}`, imaging.KindInvalid, "invalid_param", "Vtrix rejected the request: aspect_ratio is invalid."},
		{"400 safety message", 400, `{"message":"prompt rejected by content moderation"}`, imaging.KindSafety, "", "prompt rejected by content moderation"},
		{"400 image error_message", 400, `{"error":{"code":1001,"error_message":"failed to download input_image"}}`, imaging.KindImageUnreachable, "1001", "failed to download input_image"},
		{"404 envelope", 404, `{"status":{"code":404,"message":"Not Found","error_code":40401},"data":null}`, imaging.KindNotFound, "40401", "Not Found"},
		{"500 message", 500, `{"message":"internal error"}`, imaging.KindUnavailable, "", "internal error"},
		{"502 html", 502, `<html>bad gateway</html>`, imaging.KindUnavailable, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewVtrix(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: tt.status, Body: tt.body}))
			_, err := newClient(srv, testKey).Submit(t.Context(), &imaging.Request{Prompt: "p"})
			var e *imaging.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *imaging.Error", err)
			}
			if e.Kind != tt.kind || e.HTTPStatus != tt.status || e.Code != tt.code || e.Message != tt.msg || e.Vendor != "Vtrix" {
				t.Errorf("err = %+v", e)
			}
			if n := len(srv.Submits()); n != 1 {
				t.Errorf("%d submits, want 1 (not retried)", n)
			}
			// The classifier alone agrees.
			if got := vtrix.Classify(tt.status, []byte(tt.body), nil).Kind; got != tt.kind {
				t.Errorf("Classify kind = %v", got)
			}
		})
	}
}

func TestSubmit200Envelope(t *testing.T) {
	srv := imagingtest.NewVtrix(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: 200,
		Body: `{"status":{"code":402,"message":"Insufficient credits","error_code":40201},"data":null}`}))
	_, err := newClient(srv, testKey).Submit(t.Context(), &imaging.Request{Prompt: "p"})
	if k := kindOf(t, err); k != imaging.KindCredits {
		t.Errorf("kind = %v (%v), want credits", k, err)
	}
}

func TestSubmitRetries(t *testing.T) {
	tests := []struct {
		name    string
		fault   imagingtest.Fault
		submits int
		ok      bool
	}{
		{"429 with Retry-After is retried", imagingtest.Fault{Status: 429, RetryAfter: "1"}, 2, true},
		{"500 is not retried", imagingtest.Fault{Status: 500}, 1, false},
		{"503 is not retried", imagingtest.Fault{Status: 503}, 1, false},
		{"drop after write is not retried", imagingtest.Fault{Drop: true}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewVtrix(t, imagingtest.WithSubmitFaults(tt.fault))
			id, err := newClient(srv, testKey).Submit(t.Context(), &imaging.Request{Prompt: "p"})
			if tt.ok {
				if err != nil || id == "" {
					t.Fatalf("Submit = %q, %v", id, err)
				}
			} else if k := kindOf(t, err); k != imaging.KindUnavailable {
				t.Errorf("kind = %v (%v), want unavailable", k, err)
			}
			if n := len(srv.Submits()); n != tt.submits {
				t.Errorf("%d submits, want %d", n, tt.submits)
			}
		})
	}
}

func TestStatusRetries(t *testing.T) {
	srv := imagingtest.NewVtrix(t, imagingtest.WithStatusFaults(
		imagingtest.Fault{Status: 503},
		imagingtest.Fault{Status: 429, RetryAfter: "1"},
		imagingtest.Fault{Drop: true},
		imagingtest.Fault{Status: 500, Body: `{"message":"oops"}`},
	))
	c := newClient(srv, testKey)
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.State != imaging.StateQueued {
		t.Errorf("state = %v", st.State)
	}
	if n := srv.Polls(); n < 5 {
		t.Errorf("%d polls, want at least 5", n)
	}
}

func TestStatusErrors(t *testing.T) {
	srv := imagingtest.NewVtrix(t)
	c := newClient(srv, testKey)
	if _, err := c.Status(t.Context(), "task-nope"); kindOf(t, err) != imaging.KindNotFound {
		t.Errorf("unknown task: %v, want not found", err)
	}
	if _, err := c.Status(t.Context(), ""); kindOf(t, err) != imaging.KindNotFound {
		t.Errorf("empty id: %v, want not found", err)
	}
	srv429 := imagingtest.NewVtrix(t, imagingtest.WithStatusFaults(slices.Repeat([]imagingtest.Fault{{Status: 429, RetryAfter: "1"}}, 5)...))
	_, err := newClient(srv429, testKey).Status(t.Context(), "task-vtrix-1")
	var e *imaging.Error
	if !errors.As(err, &e) || e.Kind != imaging.KindRateLimited || e.RetryAfter != time.Second {
		t.Errorf("persistent 429: %v, want rate limited with RetryAfter 1s", err)
	}
	if n := srv429.Polls(); n != 5 {
		t.Errorf("%d polls, want 5 attempts", n)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := imagingtest.NewVtrix(t)
	const wrong = "sk-wrong-secret-key"
	c := newClient(srv, wrong)
	_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p"})
	if k := kindOf(t, err); k != imaging.KindUnauthorized {
		t.Errorf("Submit kind = %v (%v)", k, err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error leaks the key: %v", err)
	}
	_, err = c.Status(t.Context(), "task-vtrix-1")
	if k := kindOf(t, err); k != imaging.KindUnauthorized {
		t.Errorf("Status kind = %v (%v)", k, err)
	}
	if n := len(srv.Submits()); n != 1 {
		t.Errorf("%d submits, want 1", n)
	}
}

// TestFakeIsStrict checks that the fake refuses what the documents forbid,
// with the documented envelope.
func TestFakeIsStrict(t *testing.T) {
	srv := imagingtest.NewVtrix(t)
	good := `{"prompt":"p"}`
	wrap := func(params string) string { return `{"model":"flux_kontext_pro","input":[{"params":` + params + `}]}` }
	tests := []struct {
		name, method, path, ctype, auth, body string
		status                                int
	}{
		{"accepted", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(good), 200},
		{"null seed is documented", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","seed":null}`), 200},
		{"no auth", "POST", "/model/v1/generation", "application/json", "", wrap(good), 401},
		{"wrong key", "POST", "/model/v1/generation", "application/json", "Bearer nope", wrap(good), 401},
		{"wrong content type", "POST", "/model/v1/generation", "text/plain", "Bearer test-key", wrap(good), 400},
		{"wrong method", "PUT", "/model/v1/generation", "application/json", "Bearer test-key", wrap(good), 405},
		{"unknown model", "POST", "/model/v1/generation", "application/json", "Bearer test-key", `{"model":"flux_kontext_max","input":[{"params":{"prompt":"p"}}]}`, 400},
		{"unknown top-level field", "POST", "/model/v1/generation", "application/json", "Bearer test-key", `{"model":"flux_kontext_pro","callback_url":"https://x","input":[{"params":{"prompt":"p"}}]}`, 400},
		{"flat body", "POST", "/model/v1/generation", "application/json", "Bearer test-key", `{"model":"flux_kontext_pro","prompt":"p"}`, 400},
		{"missing prompt", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"seed":1}`), 400},
		{"unknown param", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","input_image_5":"https://a/b.png"}`), 400},
		{"jpg spelling", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","output_format":"jpg"}`), 400},
		{"safety 0", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","safety_tolerance":0}`), 400},
		{"aspect too wide", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","aspect_ratio":"3:1"}`), 400},
		{"fractional seed", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","seed":1.5}`), 400},
		{"null upsampling", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","prompt_upsampling":null}`), 400},
		{"data URI", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","input_image":"data:image/png;base64,` + base64.StdEncoding.EncodeToString(imagingtest.PNG(1)) + `"}`), 400},
		{"base64 not an image", "POST", "/model/v1/generation", "application/json", "Bearer test-key", wrap(`{"prompt":"p","input_image":"aGVsbG8="}`), 400},
		{"unknown task", "GET", "/model/v1/generation/task/nope", "", "Bearer test-key", "", 404},
		{"status wrong method", "POST", "/model/v1/generation/task/task-vtrix-1", "", "Bearer test-key", "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.status != 200 {
				var env struct {
					Status struct {
						Code      int    `json:"code"`
						Message   string `json:"message"`
						ErrorCode int    `json:"error_code"`
					} `json:"status"`
				}
				if err := json.Unmarshal(b, &env); err != nil || env.Status.Code != tt.status || env.Status.Message == "" {
					t.Errorf("error body %s is not the envelope", b)
				}
			}
		})
	}
}

func FuzzStatusParse(f *testing.F) {
	for _, s := range []string{
		`{"id":"task-legacy","status":"in_progress","model":"legacy_image"}`,
		`{"id":"t","created_at":1700000000,"status":"in_progress","model":"flux_kontext_pro","progress":0.42}`,
		`{"id":"t","status":"completed","output":[{"content":[{"type":"image","url":"https://cdn.vtrix.ai/outputs/t/output.png"}]}],"usage":{"cost":"0.04","discount":0},"metadata":{}}`,
		`{"id":"t","status":"failed","error":{"code":"002014001","message":"Video generation failed"}}`,
		`{"id":"t","status":"failed","error":{"code":123,"error_message":"x"}}`,
		`{"id":"t","status":"failed","error":"plain"}`,
		`{"status":{"code":402,"message":"Insufficient credits","error_code":40201},"data":null}`,
		`{"status":{"code":200},"data":{"id":"t","status":"pending"}}`,
		`{"task_id":"task_abc001","status":"completed","model":"spark_dance_v2_0","created_at":"2026-04-10T14:32:05Z","output":[{"content":[{"type":"video_url","url":"https://cdn.vtrix.ai/outputs/task_abc001/output.mp4"}]}]}`,
		``, `null`, `[]`, `{"status":1e999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := vtrix.ParseStatus(body)
		if err == nil {
			if st == nil || st.Progress < -1 || st.Progress > 100 {
				t.Fatalf("ParseStatus = %+v", st)
			}
			if st.State == imaging.StateFailed && st.Err == nil {
				t.Fatal("failed without Err")
			}
		}
		_, _ = vtrix.ParseSubmit(body)
		for _, code := range []int{200, 400, 401, 402, 403, 404, 429, 500} {
			if e := vtrix.Classify(code, body, nil); e == nil {
				t.Fatal("Classify returned nil")
			}
		}
	})
}
