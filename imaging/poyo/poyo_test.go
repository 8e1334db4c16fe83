package poyo_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/imaging/poyo"
)

const testKey = "test-key"

func newClient(srv *imagingtest.PoYoServer, key string, opts ...poyo.Option) *poyo.Client {
	base := []poyo.Option{
		poyo.WithBaseURL(srv.URL),
		poyo.WithHTTPClient(srv.Client()),
		poyo.WithRetryWait(time.Millisecond, 5*time.Millisecond),
	}
	return poyo.New(key, append(base, opts...)...)
}

func TestCapabilities(t *testing.T) {
	c := poyo.New(testKey)
	if got, want := c.Name(), "poyo"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	caps := c.Capabilities()
	want := imaging.Capabilities{
		DisplayName:    "PoYo",
		Models:         []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:   []string{"1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "9:21"},
		Formats:        []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:      1,
		ImageURLs:      true,
		ImageBytes:     true,
		MaxPromptRunes: 2000,
		Callbacks:      true,
		Progress:       true,
		PollDelay:      3 * time.Second,
		PollInterval:   3 * time.Second,
		Concurrency:    10,
	}
	if !reflect.DeepEqual(caps, want) {
		t.Errorf("Capabilities() =\n%+v\nwant\n%+v", caps, want)
	}
	seed := int64(1)
	tol := 2
	for _, req := range []*imaging.Request{
		{Prompt: "x", AspectRatio: "16:21"},
		{Prompt: "x", Seed: &seed},
		{Prompt: "x", PromptUpsampling: true},
		{Prompt: "x", SafetyTolerance: &tol},
		{Prompt: strings.Repeat("é", 2001)},
		{Prompt: "x", Images: []imaging.Image{{URL: "https://a/1.png"}, {URL: "https://a/2.png"}}},
	} {
		if err := caps.Check(req, false); imaging.KindOf(err) != imaging.KindInvalid {
			t.Errorf("Check(%+v) = %v, want KindInvalid", req, err)
		}
	}
	if err := caps.Check(&imaging.Request{Prompt: strings.Repeat("é", 2000), AspectRatio: "9:21"}, false); err != nil {
		t.Errorf("Check(2000 runes, 9:21) = %v", err)
	}
}

func TestSubmitWireBody(t *testing.T) {
	const imgURL = "https://example.com/reference.jpg"
	png := imagingtest.PNG(3)
	jpg := imagingtest.JPEG(4)
	tests := []struct {
		name string
		req  imaging.Request
		// want is the body; "$upload" stands for the uploaded file's URL.
		want map[string]any
		// upload is the image bytes expected at /api/common/upload/base64.
		upload     []byte
		uploadMIME string
	}{
		{
			name: "text-to-image defaults",
			req:  imaging.Request{Prompt: "a cat", AspectRatio: "1:1"},
			want: map[string]any{"model": "flux-kontext-pro",
				"input": map[string]any{"prompt": "a cat", "size": "1:1", "output_format": "png"}},
		},
		{
			name: "max jpeg 16:9 with callback",
			req: imaging.Request{Prompt: "a dog", Model: imaging.ModelMax, AspectRatio: "16:9",
				Format: imaging.FormatJPEG, CallbackURL: "https://bot.example/cb/poyo?t=abc"},
			want: map[string]any{"model": "flux-kontext-max", "callback_url": "https://bot.example/cb/poyo?t=abc",
				"input": map[string]any{"prompt": "a dog", "size": "16:9", "output_format": "jpg"}},
		},
		{
			name: "pro edit by URL, no ratio",
			req:  imaging.Request{Prompt: "make it blue", Images: []imaging.Image{{URL: imgURL}}},
			want: map[string]any{"model": "flux-kontext-pro-edit",
				"input": map[string]any{"prompt": "make it blue", "image_urls": []any{imgURL}, "output_format": "png"}},
		},
		{
			name: "max edit by URL 9:21 jpeg",
			req: imaging.Request{Prompt: "p", Model: imaging.ModelMax, AspectRatio: "9:21", Format: imaging.FormatJPEG,
				Images: []imaging.Image{{URL: imgURL}}},
			want: map[string]any{"model": "flux-kontext-max-edit",
				"input": map[string]any{"prompt": "p", "image_urls": []any{imgURL}, "size": "9:21", "output_format": "jpg"}},
		},
		{
			name: "edit by PNG bytes",
			req:  imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: png, ContentType: "image/png"}}},
			want: map[string]any{"model": "flux-kontext-pro-edit",
				"input": map[string]any{"prompt": "p", "image_urls": []any{"$upload"}, "output_format": "png"}},
			upload: png, uploadMIME: "image/png",
		},
		{
			name: "edit by JPEG bytes without content type",
			req: imaging.Request{Prompt: "p", AspectRatio: "4:3", CallbackURL: "https://bot.example/cb",
				Images: []imaging.Image{{Data: jpg}}},
			want: map[string]any{"model": "flux-kontext-pro-edit", "callback_url": "https://bot.example/cb",
				"input": map[string]any{"prompt": "p", "image_urls": []any{"$upload"}, "size": "4:3", "output_format": "png"}},
			upload: jpg, uploadMIME: "image/jpeg",
		},
		{
			name: "edit by JPEG bytes mislabelled as PNG",
			req:  imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: jpg, ContentType: "image/png"}}},
			want: map[string]any{"model": "flux-kontext-pro-edit",
				"input": map[string]any{"prompt": "p", "image_urls": []any{"$upload"}, "output_format": "png"}},
			upload: jpg, uploadMIME: "image/jpeg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewPoYo(t)
			c := newClient(srv, testKey)
			id, err := c.Submit(t.Context(), &tt.req)
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			if !strings.HasPrefix(id, "task-unified-") {
				t.Errorf("Submit() = %q, want a task-unified- id", id)
			}
			uploads := srv.Uploads()
			if tt.upload == nil {
				if len(uploads) != 0 {
					t.Errorf("uploads = %d, want 0", len(uploads))
				}
			} else {
				if len(uploads) != 1 {
					t.Fatalf("uploads = %d, want 1", len(uploads))
				}
				u := uploads[0]
				checkJSONRequest(t, u, "/api/common/upload/base64")
				body := u.JSON()
				if len(body) != 1 {
					t.Errorf("upload body keys = %v, want only base64_data", body)
				}
				b64, _ := body["base64_data"].(string)
				prefix := "data:" + tt.uploadMIME + ";base64,"
				if !strings.HasPrefix(b64, prefix) {
					t.Fatalf("base64_data = %.40q…, want prefix %q", b64, prefix)
				}
				if got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(b64, prefix)); err != nil || !bytes.Equal(got, tt.upload) {
					t.Errorf("base64_data does not decode to the image (err %v)", err)
				}
			}
			subs := srv.Submits()
			if len(subs) != 1 {
				t.Fatalf("submits = %d, want 1", len(subs))
			}
			checkJSONRequest(t, subs[0], "/api/generate/submit")
			got := subs[0].JSON()
			want := tt.want
			if tt.upload != nil {
				in, _ := got["input"].(map[string]any)
				urls, _ := in["image_urls"].([]any)
				if len(urls) != 1 {
					t.Fatalf("image_urls = %v, want 1 URL", in["image_urls"])
				}
				u, _ := urls[0].(string)
				if !bytes.Equal(fetch(t, srv, u), tt.upload) {
					t.Errorf("image_urls[0] %q does not serve the uploaded bytes", u)
				}
				want = replaceUpload(want, u)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("submit body =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func replaceUpload(m map[string]any, u string) map[string]any {
	b, _ := json.Marshal(m)
	b = bytes.ReplaceAll(b, []byte(`"$upload"`), []byte(strconv.Quote(u)))
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func checkJSONRequest(t *testing.T, r imagingtest.Recorded, path string) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != path {
		t.Errorf("request = %s %s, want POST %s", r.Method, r.Path, path)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+testKey; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if r.Status != http.StatusOK {
		t.Errorf("fake answered %d to %s: %s", r.Status, path, r.Body)
	}
}

func fetch(t *testing.T, srv *imagingtest.PoYoServer, u string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", u, resp.StatusCode)
	}
	return b
}

func TestSubmitUnsupportedImageType(t *testing.T) {
	srv := imagingtest.NewPoYo(t)
	c := newClient(srv, testKey)
	req := &imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), ContentType: "image/svg+xml"}}}
	_, err := c.Submit(t.Context(), req)
	if imaging.KindOf(err) != imaging.KindInvalid {
		t.Errorf("Submit(svg) error = %v, want KindInvalid", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestStatusStates(t *testing.T) {
	img := imagingtest.JPEG(7)
	tests := []struct {
		name    string
		outcome imagingtest.Outcome
		model   imaging.Model
		// final is the state after the queued and running polls.
		final   imaging.State
		kind    imaging.Kind
		credits float64
	}{
		{name: "pro succeeds", outcome: imagingtest.Succeed, final: imaging.StateSucceeded, credits: 2},
		{name: "max succeeds", outcome: imagingtest.Succeed, model: imaging.ModelMax, final: imaging.StateSucceeded, credits: 4},
		{name: "content policy", outcome: imagingtest.FailSafety, final: imaging.StateFailed, kind: imaging.KindSafety},
		{name: "image fetch", outcome: imagingtest.FailImage, final: imaging.StateFailed, kind: imaging.KindImageUnreachable},
		{name: "generic failure", outcome: imagingtest.FailGeneric, final: imaging.StateFailed, kind: imaging.KindUnknown},
		{name: "never ends", outcome: imagingtest.Never, final: imaging.StateRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewPoYo(t, imagingtest.WithOutcome(tt.outcome), imagingtest.WithPolls(1, 2), imagingtest.WithImage(img))
			c := newClient(srv, testKey)
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", Model: tt.model, AspectRatio: "1:1"})
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				state    imaging.State
				progress int
			}{{imaging.StateQueued, 0}, {imaging.StateRunning, 45}, {imaging.StateRunning, 45}}
			for i, want := range steps {
				st, err := c.Status(t.Context(), id)
				if err != nil {
					t.Fatalf("poll %d: %v", i+1, err)
				}
				if st.State != want.state || st.Progress != want.progress || st.Err != nil || st.URLs != nil {
					t.Errorf("poll %d = %+v, want %v %d%%", i+1, st, want.state, want.progress)
				}
			}
			st, err := c.Status(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.final {
				t.Fatalf("final state = %v, want %v", st.State, tt.final)
			}
			switch tt.final {
			case imaging.StateSucceeded:
				if st.Progress != 100 || len(st.URLs) != 1 || st.Err != nil {
					t.Fatalf("final = %+v", st)
				}
				if want := (imaging.Cost{Amount: tt.credits, Unit: "credits"}); st.Cost == nil || *st.Cost != want {
					t.Errorf("Cost = %v, want %v", st.Cost, want)
				}
				if !bytes.Equal(fetch(t, srv, st.URLs[0]), img) {
					t.Errorf("result URL does not serve the image")
				}
				if srv.Downloads() != 1 {
					t.Errorf("Downloads() = %d, want 1", srv.Downloads())
				}
			case imaging.StateFailed:
				e, ok := errors.AsType[*imaging.Error](st.Err)
				if !ok || e.Kind != tt.kind || e.Vendor != "PoYo" || e.Message == "" {
					t.Errorf("Err = %#v, want kind %v from PoYo with a message", st.Err, tt.kind)
				}
				if st.Cost != nil || st.URLs != nil {
					t.Errorf("failed status has cost %v urls %v", st.Cost, st.URLs)
				}
			}
			if got, want := srv.Polls(), 4; got != want {
				t.Errorf("Polls() = %d, want %d", got, want)
			}
		})
	}
}

// Verbatim examples from the docs (vendors.md §1.3, §1.4).
const (
	docNotStarted = `{"code":200,"data":{"task_id":"task-unified-1757165031-uyujaw3d","status":"not_started","credits_amount":2,"files":[],"created_time":"2025-11-12T10:30:00","progress":0,"error_message":null}}`
	docRunning    = `{"code":200,"data":{"task_id":"task-unified-1757165031-uyujaw3d","status":"running","credits_amount":2,"files":[],"created_time":"2025-11-12T10:30:00","progress":45,"error_message":null}}`
	docFinished   = `{"code":200,"data":{"task_id":"task-unified-1757165031-uyujaw3d","status":"finished","credits_amount":2,"files":[{"file_url":"https://storage.poyo.ai/generated/image-abc123.jpg","file_type":"image"}],"created_time":"2025-11-12T10:30:00","progress":100,"error_message":null}}`
	docFailed     = `{"code":200,"data":{"task_id":"task-unified-1757165031-uyujaw3d","status":"failed","credits_amount":0,"files":[],"created_time":"2025-11-12T10:30:00","progress":0,"error_message":"The prompt violates our content policy"}}`
	docCallbackOK = `{"task_id":"task-unified-1757165031-uyujaw3d","status":"finished","files":[{"file_url":"https://storage.poyo.ai/generated/image-abc123.jpg","file_type":"image"}],"created_time":"2025-11-12T10:30:00","error_message":null}`
	docCallbackKO = `{"task_id":"task-unified-1757165031-uyujaw3d","status":"failed","files":[],"created_time":"2025-11-12T10:30:00","error_message":"The prompt violates our content policy"}`
	docStatus404  = `{"detail":"Task not found"}`
	docGenError   = `{"code":400,"error":{"message":"Invalid parameter: size","type":"invalid_request_error"}}`
)

func TestParseStatusBodies(t *testing.T) {
	credits := func(a float64) *imaging.Cost { return &imaging.Cost{Amount: a, Unit: "credits"} }
	tests := []struct {
		name string
		body string
		want *imaging.Status
		// kind is the task's failure kind (State failed) or, when wantErr,
		// the error's kind.
		kind    imaging.Kind
		wantErr bool
	}{
		{name: "doc not_started", body: docNotStarted, want: &imaging.Status{State: imaging.StateQueued, Progress: 0}},
		{name: "doc running", body: docRunning, want: &imaging.Status{State: imaging.StateRunning, Progress: 45}},
		{name: "doc finished", body: docFinished, want: &imaging.Status{State: imaging.StateSucceeded, Progress: 100,
			URLs: []string{"https://storage.poyo.ai/generated/image-abc123.jpg"}, Cost: credits(2)}},
		{name: "doc failed", body: docFailed, want: &imaging.Status{State: imaging.StateFailed, Progress: 0}, kind: imaging.KindSafety},
		{name: "finished takes images only", body: `{"code":200,"data":{"status":"finished","credits_amount":3,"files":[{"file_url":"https://x/v.mp4","file_type":"video"},{"file_url":"https://x/i.png","file_type":"image"}],"progress":100}}`,
			want: &imaging.Status{State: imaging.StateSucceeded, Progress: 100, URLs: []string{"https://x/i.png"}, Cost: credits(3)}},
		{name: "finished without credits", body: `{"code":200,"data":{"status":"finished","files":[{"file_url":"https://x/i.png","file_type":"image"}]}}`,
			want: &imaging.Status{State: imaging.StateSucceeded, Progress: 100, URLs: []string{"https://x/i.png"}}},
		{name: "finished without image", body: `{"code":200,"data":{"status":"finished","files":[{"file_url":"https://x/v.mp4","file_type":"video"}]}}`,
			want: &imaging.Status{State: imaging.StateFailed, Progress: 100}, kind: imaging.KindUnknown},
		{name: "no progress reported", body: `{"code":200,"data":{"status":"running"}}`, want: &imaging.Status{State: imaging.StateRunning, Progress: -1}},
		{name: "progress clamped", body: `{"code":200,"data":{"status":"running","progress":250}}`, want: &imaging.Status{State: imaging.StateRunning, Progress: 100}},
		{name: "unknown status is running", body: `{"code":200,"data":{"status":"paused","progress":10}}`, want: &imaging.Status{State: imaging.StateRunning, Progress: 10}},
		{name: "failed with null message", body: `{"code":200,"data":{"status":"failed","error_message":null}}`,
			want: &imaging.Status{State: imaging.StateFailed, Progress: -1}, kind: imaging.KindUnknown},
		{name: "body code 404 in a 200", body: `{"code":404,"error":{"message":"Task not found","type":"resource_not_found_error"}}`, wantErr: true, kind: imaging.KindNotFound},
		{name: "body code 429 in a 200", body: `{"code":429,"error":{"message":"Rate limit exceeded. Please try again later.","type":"rate_limit_error"}}`, wantErr: true, kind: imaging.KindRateLimited},
		{name: "detail in a 200", body: docStatus404, wantErr: true, kind: imaging.KindUnknown},
		{name: "no data", body: `{"code":200}`, wantErr: true, kind: imaging.KindUnavailable},
		{name: "no status", body: `{"code":200,"data":{"task_id":"x"}}`, wantErr: true, kind: imaging.KindUnavailable},
		{name: "not JSON", body: `<html>`, wantErr: true, kind: imaging.KindUnavailable},
		{name: "wrong types", body: `{"code":200,"data":{"status":"running","progress":"45"}}`, wantErr: true, kind: imaging.KindUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := poyo.ParseStatus([]byte(tt.body))
			if tt.wantErr {
				if err == nil || imaging.KindOf(err) != tt.kind {
					t.Fatalf("ParseStatus() = %+v, %v; want a %v error", st, err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStatus() error = %v", err)
			}
			if st.State == imaging.StateFailed {
				e, ok := errors.AsType[*imaging.Error](st.Err)
				if !ok || e.Kind != tt.kind || e.Vendor != "PoYo" {
					t.Errorf("Err = %#v, want kind %v", st.Err, tt.kind)
				}
				st.Err = nil
			}
			if !reflect.DeepEqual(st, tt.want) {
				t.Errorf("ParseStatus() =\n%+v\nwant\n%+v", st, tt.want)
			}
		})
	}
}

func TestFailureMessageKinds(t *testing.T) {
	tests := []struct {
		msg  string
		want imaging.Kind
	}{
		{"The prompt violates our content policy", imaging.KindSafety},
		{"Content moderation rejected the input image", imaging.KindSafety},
		{"NSFW content detected", imaging.KindSafety},
		{"Request blocked by the safety system", imaging.KindSafety},
		{"Failed to download the input image from image_urls[0]", imaging.KindImageUnreachable},
		{"Image URL is not accessible", imaging.KindImageUnreachable},
		{"Could not fetch image", imaging.KindImageUnreachable},
		{"Invalid image format", imaging.KindImageUnreachable},
		{"Generation failed, please try again", imaging.KindUnknown},
		{"", imaging.KindUnknown},
	}
	for _, tt := range tests {
		body, _ := json.Marshal(map[string]any{"code": 200, "data": map[string]any{"status": "failed", "error_message": tt.msg}})
		st, err := poyo.ParseStatus(body)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := errors.AsType[*imaging.Error](st.Err)
		if e == nil || e.Kind != tt.want || e.Message != tt.msg {
			t.Errorf("error_message %q => %#v, want kind %v", tt.msg, st.Err, tt.want)
		}
	}
}

func genErr(code int, typ, msg string) string {
	b, _ := json.Marshal(map[string]any{"code": code, "error": map[string]string{"message": msg, "type": typ}})
	return string(b)
}

// repeat returns n copies of f, enough to exhaust the client's retries.
func repeat(f imagingtest.Fault, n int) []imagingtest.Fault {
	out := make([]imagingtest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func TestSubmitErrors(t *testing.T) {
	tests := []struct {
		name   string
		faults []imagingtest.Fault
		kind   imaging.Kind
		code   string
		msg    string
		http   int
	}{
		{"400 invalid_request_error", []imagingtest.Fault{{Status: 400, Body: genErr(400, "invalid_request_error", "Invalid parameter: size")}}, imaging.KindInvalid, "invalid_request_error", "Invalid parameter: size", 400},
		{"400 validation_error", []imagingtest.Fault{{Status: 400, Body: genErr(400, "validation_error", "prompt is required")}}, imaging.KindInvalid, "validation_error", "prompt is required", 400},
		{"400 content_moderation_error", []imagingtest.Fault{{Status: 400, Body: genErr(400, "content_moderation_error", "Prompt flagged")}}, imaging.KindSafety, "content_moderation_error", "Prompt flagged", 400},
		{"400 content_too_long_error", []imagingtest.Fault{{Status: 400, Body: genErr(400, "content_too_long_error", "Prompt too long")}}, imaging.KindInvalid, "content_too_long_error", "Prompt too long", 400},
		{"400 file_format_error", []imagingtest.Fault{{Status: 400, Body: genErr(400, "file_format_error", "Unsupported image format")}}, imaging.KindImageUnreachable, "file_format_error", "Unsupported image format", 400},
		{"401 authentication_error", []imagingtest.Fault{{Status: 401}}, imaging.KindUnauthorized, "authentication_error", "Unauthorized - Invalid API key", 401},
		{"402 insufficient_credits_error", []imagingtest.Fault{{Status: 402}}, imaging.KindCredits, "insufficient_credits_error", "Insufficient credits", 402},
		{"403 permission_denied_error", []imagingtest.Fault{{Status: 403}}, imaging.KindUnauthorized, "permission_denied_error", "Permission denied", 403},
		{"404 resource_not_found_error", []imagingtest.Fault{{Status: 404}}, imaging.KindNotFound, "resource_not_found_error", "Task not found", 404},
		{"408 timeout_error", []imagingtest.Fault{{Status: 408}}, imaging.KindTimeout, "timeout_error", "timed out", 408},
		{"429 rate_limit_error", repeat(imagingtest.Fault{Status: 429, RetryAfter: "1"}, 5), imaging.KindRateLimited, "rate_limit_error", "Rate limit exceeded", 429},
		{"500 internal_error", []imagingtest.Fault{{Status: 500}}, imaging.KindUnavailable, "internal_error", "Internal", 500},
		{"502 upstream_error", []imagingtest.Fault{{Status: 502}}, imaging.KindUnavailable, "upstream_error", "Upstream service unavailable", 502},
		{"503 service_error", []imagingtest.Fault{{Status: 503}}, imaging.KindUnavailable, "service_error", "The server is busy", 503},
		{"200 carrying code 402", []imagingtest.Fault{{Status: 200, Body: genErr(402, "insufficient_credits_error", "Insufficient credits to complete this request")}}, imaging.KindCredits, "insufficient_credits_error", "Insufficient credits", 200},
		{"200 carrying content_moderation_error", []imagingtest.Fault{{Status: 200, Body: genErr(400, "content_moderation_error", "Prompt flagged")}}, imaging.KindSafety, "content_moderation_error", "Prompt flagged", 200},
		{"400 carrying code 402", []imagingtest.Fault{{Status: 400, Body: `{"code":402,"error":{"message":"Insufficient credits","type":"unknown_type"}}`}}, imaging.KindCredits, "unknown_type", "Insufficient credits", 400},
		{"502 HTML body", []imagingtest.Fault{{Status: 502, Body: "<html>bad gateway</html>"}}, imaging.KindUnavailable, "", "", 502},
		{"200 without task_id", []imagingtest.Fault{{Status: 200, Body: `{"code":200,"data":{"status":"not_started"}}`}}, imaging.KindUnavailable, "", "task_id", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewPoYo(t, imagingtest.WithSubmitFaults(tt.faults...))
			c := newClient(srv, testKey)
			_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
			checkError(t, err, tt.kind, tt.http, tt.code, tt.msg)
			if tt.kind == imaging.KindRateLimited && imaging.RetryAfterOf(err) != time.Second {
				t.Errorf("RetryAfterOf() = %v, want 1s", imaging.RetryAfterOf(err))
			}
		})
	}
}

func checkError(t *testing.T, err error, kind imaging.Kind, status int, code, msg string) {
	t.Helper()
	e, ok := errors.AsType[*imaging.Error](err)
	if !ok {
		t.Fatalf("error = %v, want *imaging.Error", err)
	}
	if e.Kind != kind || e.Vendor != "PoYo" || e.HTTPStatus != status || e.Code != code || !strings.Contains(e.Message, msg) {
		t.Errorf("error = %#v\nwant kind %v, HTTP %d, code %q, message containing %q", e, kind, status, code, msg)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error %q contains the API key", err)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name   string
		faults []imagingtest.Fault
		kind   imaging.Kind
		msg    string
		http   int
	}{
		{"401 detail", []imagingtest.Fault{{Status: 401}}, imaging.KindUnauthorized, "Not authenticated", 401},
		{"403 another user", []imagingtest.Fault{{Status: 403}}, imaging.KindUnauthorized, "Task belongs to another user", 403},
		{"404 detail", []imagingtest.Fault{{Status: 404}}, imaging.KindNotFound, "Task not found", 404},
		{"500 after retries", repeat(imagingtest.Fault{Status: 500}, 5), imaging.KindUnavailable, "Internal Server Error", 500},
		{"502 after retries", repeat(imagingtest.Fault{Status: 502}, 5), imaging.KindUnavailable, "Bad Gateway", 502},
		{"429 after retries", repeat(imagingtest.Fault{Status: 429, RetryAfter: "1"}, 5), imaging.KindRateLimited, "Rate limit exceeded", 429},
		{"generation-style 404", []imagingtest.Fault{{Status: 404, Body: genErr(404, "resource_not_found_error", "Task not found")}}, imaging.KindNotFound, "Task not found", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewPoYo(t, imagingtest.WithStatusFaults(tt.faults...))
			c := newClient(srv, testKey)
			_, err := c.Status(t.Context(), "task-unified-1-1")
			code := ""
			if strings.HasPrefix(tt.name, "generation") {
				code = "resource_not_found_error"
			}
			checkError(t, err, tt.kind, tt.http, code, tt.msg)
			if got := srv.Polls(); got != len(tt.faults) {
				t.Errorf("Polls() = %d, want %d", got, len(tt.faults))
			}
		})
	}
}

func TestStatusUnknownTask(t *testing.T) {
	srv := imagingtest.NewPoYo(t)
	c := newClient(srv, testKey)
	_, err := c.Status(t.Context(), "task-unified-0-404")
	checkError(t, err, imaging.KindNotFound, 404, "", "Task not found")
	if _, err := c.Status(t.Context(), ""); imaging.KindOf(err) != imaging.KindNotFound {
		t.Errorf("Status(\"\") = %v, want KindNotFound", err)
	}
}

func TestUploadErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault imagingtest.Fault
		kind  imaging.Kind
		msg   string
		http  int
	}{
		{"400 invalid base64", imagingtest.Fault{Status: 400, Body: `{"detail":"Invalid Base64 encoding"}`}, imaging.KindImageUnreachable, "Invalid Base64 encoding", 400},
		{"400 unsupported type", imagingtest.Fault{Status: 400, Body: `{"detail":"Unsupported file type: image/svg+xml"}`}, imaging.KindImageUnreachable, "Unsupported file type", 400},
		{"401 not authenticated", imagingtest.Fault{Status: 401}, imaging.KindUnauthorized, "Not authenticated", 401},
		{"422 detail list", imagingtest.Fault{Status: 422, Body: `{"detail":[{"loc":["body","file"],"msg":"field required","type":"value_error.missing"}]}`}, imaging.KindInvalid, "body.file: field required", 422},
		{"200 success false", imagingtest.Fault{Status: 200, Body: `{"success":false,"code":400,"msg":"Invalid file data","data":null}`}, imaging.KindImageUnreachable, "Invalid file data", 200},
		{"200 without file_url", imagingtest.Fault{Status: 200, Body: `{"success":true,"code":200,"msg":"ok","data":{}}`}, imaging.KindUnavailable, "file_url", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := imagingtest.NewPoYo(t, imagingtest.WithUploadFaults(tt.fault))
			c := newClient(srv, testKey)
			_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: imagingtest.PNG(1), ContentType: "image/png"}}})
			checkError(t, err, tt.kind, tt.http, "", tt.msg)
			if n := len(srv.Submits()); n != 0 {
				t.Errorf("submits = %d after a failed upload, want 0", n)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	req := func() *imaging.Request { return &imaging.Request{Prompt: "p", AspectRatio: "1:1"} }
	t.Run("submit 429 with Retry-After is retried", func(t *testing.T) {
		srv := imagingtest.NewPoYo(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: 429, RetryAfter: "1"}))
		c := newClient(srv, testKey)
		if _, err := c.Submit(t.Context(), req()); err != nil {
			t.Fatalf("Submit() error = %v", err)
		}
		if n := len(srv.Submits()); n != 2 {
			t.Errorf("submits = %d, want 2", n)
		}
	})
	for _, st := range []int{500, 502, 503} {
		t.Run("submit "+strconv.Itoa(st)+" is not retried", func(t *testing.T) {
			srv := imagingtest.NewPoYo(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: st}))
			c := newClient(srv, testKey)
			_, err := c.Submit(t.Context(), req())
			if imaging.KindOf(err) != imaging.KindUnavailable {
				t.Errorf("Submit() error = %v, want KindUnavailable", err)
			}
			if n := len(srv.Submits()); n != 1 {
				t.Errorf("submits = %d, want 1", n)
			}
		})
	}
	t.Run("submit dropped after write is not retried", func(t *testing.T) {
		srv := imagingtest.NewPoYo(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Drop: true}))
		c := newClient(srv, testKey)
		_, err := c.Submit(t.Context(), req())
		if imaging.KindOf(err) != imaging.KindUnavailable {
			t.Errorf("Submit() error = %v, want KindUnavailable", err)
		}
		if n := len(srv.Submits()); n != 1 {
			t.Errorf("submits = %d, want 1", n)
		}
	})
	t.Run("status retried on 5xx, 429 and drop", func(t *testing.T) {
		srv := imagingtest.NewPoYo(t, imagingtest.WithStatusFaults(
			imagingtest.Fault{Status: 500}, imagingtest.Fault{Status: 429, RetryAfter: "1"},
			imagingtest.Fault{Drop: true}, imagingtest.Fault{Status: 502}))
		c := newClient(srv, testKey)
		id, err := c.Submit(t.Context(), req())
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(t.Context(), id)
		if err != nil {
			t.Fatalf("Status() error = %v", err)
		}
		if st.State != imaging.StateQueued {
			t.Errorf("State = %v, want queued", st.State)
		}
		if n := srv.Polls(); n != 5 {
			t.Errorf("Polls() = %d, want 5", n)
		}
	})
	t.Run("upload retried on 429 and 500", func(t *testing.T) {
		srv := imagingtest.NewPoYo(t, imagingtest.WithUploadFaults(
			imagingtest.Fault{Status: 429, RetryAfter: "1"}, imagingtest.Fault{Status: 500}))
		c := newClient(srv, testKey)
		_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: imagingtest.PNG(2)}}})
		if err != nil {
			t.Fatalf("Submit() error = %v", err)
		}
		if n := len(srv.Uploads()); n != 3 {
			t.Errorf("uploads = %d, want 3", n)
		}
		if n := len(srv.Submits()); n != 1 {
			t.Errorf("submits = %d, want 1", n)
		}
	})
}

func TestUnauthorized(t *testing.T) {
	const badKey = "wrong-secret-key"
	srv := imagingtest.NewPoYo(t)
	c := newClient(srv, badKey)
	_, submitErr := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	_, statusErr := c.Status(t.Context(), "task-unified-1-1")
	_, uploadErr := c.Submit(t.Context(), &imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: imagingtest.PNG(1)}}})
	checks := []struct {
		name string
		err  error
	}{{"submit", submitErr}, {"status", statusErr}, {"upload", uploadErr}}
	for _, ch := range checks {
		if imaging.KindOf(ch.err) != imaging.KindUnauthorized {
			t.Errorf("%s error = %v, want KindUnauthorized", ch.name, ch.err)
		}
		if ch.err != nil && strings.Contains(ch.err.Error(), badKey) {
			t.Errorf("%s error %q contains the API key", ch.name, ch.err)
		}
	}
	if got, want := srv.Requests()[0].Header.Get("Authorization"), "Bearer "+badKey; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
}

func TestCallback(t *testing.T) {
	srv := imagingtest.NewPoYo(t, imagingtest.WithPolls(0, 0))
	c := newClient(srv, testKey)
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1", CallbackURL: "https://bot.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	h, body := srv.CallbackRequest(id)

	var cb map[string]any
	if err := json.Unmarshal(body, &cb); err != nil {
		t.Fatalf("callback body %s: %v", body, err)
	}
	for _, k := range []string{"task_id", "status", "files", "created_time", "error_message"} {
		if _, ok := cb[k]; !ok {
			t.Errorf("callback body lacks %q: %s", k, body)
		}
	}
	if _, ok := cb["data"]; ok {
		t.Errorf("callback body is wrapped: %s", body)
	}

	secret := srv.WebhookSecret()
	signed := poyo.New(testKey, poyo.WithWebhookSecret(secret))
	now := time.Now()
	ts := h.Get("X-Webhook-Timestamp")
	sig := func(taskID, ts string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(taskID + "." + ts))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	with := func(mod func(http.Header)) http.Header {
		hh := h.Clone()
		mod(hh)
		return hh
	}
	tests := []struct {
		name    string
		client  *poyo.Client
		h       http.Header
		body    string
		now     time.Time
		want    string
		wantErr error
	}{
		{name: "valid signature", client: signed, h: h, body: string(body), now: now, want: id},
		{name: "within skew", client: signed, h: h, body: string(body), now: now.Add(299 * time.Second), want: id},
		{name: "stale timestamp", client: signed, h: h, body: string(body), now: now.Add(301 * time.Second), wantErr: poyo.ErrStaleCallback},
		{name: "future timestamp", client: signed, h: h, body: string(body), now: now.Add(-301 * time.Second), wantErr: poyo.ErrStaleCallback},
		{name: "missing timestamp", client: signed, h: with(func(hh http.Header) { hh.Del("X-Webhook-Timestamp") }), body: string(body), now: now, wantErr: poyo.ErrStaleCallback},
		{name: "bad signature", client: signed, h: with(func(hh http.Header) { hh.Set("X-Webhook-Signature", sig(id, ts+"0")) }), body: string(body), now: now, wantErr: poyo.ErrBadSignature},
		{name: "signature not base64", client: signed, h: with(func(hh http.Header) { hh.Set("X-Webhook-Signature", "%%%") }), body: string(body), now: now, wantErr: poyo.ErrBadSignature},
		{name: "missing signature", client: signed, h: with(func(hh http.Header) { hh.Del("X-Webhook-Signature") }), body: string(body), now: now, wantErr: poyo.ErrBadSignature},
		{name: "signature of another task", client: signed, h: h, body: strings.ReplaceAll(string(body), id, "task-unified-1-999"), now: now, wantErr: poyo.ErrBadSignature},
		{name: "wrong secret", client: poyo.New(testKey, poyo.WithWebhookSecret("other")), h: h, body: string(body), now: now, wantErr: poyo.ErrBadSignature},
		{name: "unsigned accepted without secret", client: c, h: http.Header{}, body: docCallbackOK, now: now, want: "task-unified-1757165031-uyujaw3d"},
		{name: "failed callback without secret", client: c, h: http.Header{}, body: docCallbackKO, now: now, want: "task-unified-1757165031-uyujaw3d"},
		{name: "older wrapped shape", client: c, h: http.Header{}, body: docFinished, now: now, want: "task-unified-1757165031-uyujaw3d"},
		{name: "malformed body", client: c, h: http.Header{}, body: "not json", now: now, wantErr: errors.New("any")},
		{name: "no task id", client: c, h: http.Header{}, body: `{"status":"finished"}`, now: now, wantErr: errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.client.CallbackTaskID(tt.h, []byte(tt.body), tt.now)
			switch {
			case tt.wantErr == nil && (err != nil || got != tt.want):
				t.Errorf("CallbackTaskID() = %q, %v; want %q", got, err, tt.want)
			case tt.wantErr != nil && err == nil:
				t.Errorf("CallbackTaskID() = %q, want an error", got)
			case tt.wantErr != nil && tt.wantErr.Error() != "any" && !errors.Is(err, tt.wantErr):
				t.Errorf("CallbackTaskID() error = %v, want %v", err, tt.wantErr)
			}
		})
	}

	// The callback is only a hint: the task it names is confirmed by Status.
	st, err := c.Status(t.Context(), id)
	if err != nil || st.State != imaging.StateSucceeded {
		t.Errorf("Status() after callback = %+v, %v", st, err)
	}
}

// TestFakeRejects checks that the fake refuses what the documents forbid,
// with the documented status and error shape.
func TestFakeRejects(t *testing.T) {
	srv := imagingtest.NewPoYo(t)
	long := strings.Repeat("é", 2001)
	okInput := `"input":{"prompt":"p","size":"1:1","output_format":"png"}`
	tests := []struct {
		name, method, path, ctype, key, body string
		status                               int
		// shape is "gen" for {code,error{type}} with errType, "detail" for
		// {"detail"}.
		shape, errType string
	}{
		{"ok", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro",` + okInput + `}`, 200, "", ""},
		{"prompt of 2000 runes", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"` + strings.Repeat("é", 2000) + `"}}`, 200, "", ""},
		{"wrong method", "GET", "/api/generate/submit", "", testKey, "", 405, "detail", ""},
		{"no auth", "POST", "/api/generate/submit", "application/json", "", `{"model":"flux-kontext-pro",` + okInput + `}`, 401, "gen", "authentication_error"},
		{"wrong key", "POST", "/api/generate/submit", "application/json", "nope", `{"model":"flux-kontext-pro",` + okInput + `}`, 401, "gen", "authentication_error"},
		{"wrong content type", "POST", "/api/generate/submit", "text/plain", testKey, `{"model":"flux-kontext-pro",` + okInput + `}`, 400, "gen", "invalid_request_error"},
		{"unknown top-level field", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","seed":1,` + okInput + `}`, 400, "gen", "validation_error"},
		{"unknown input field", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"p","safety_tolerance":2}}`, 400, "gen", "validation_error"},
		{"null field", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","callback_url":null,` + okInput + `}`, 400, "gen", "validation_error"},
		{"unknown model", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-ultra",` + okInput + `}`, 400, "gen", "validation_error"},
		{"missing model", "POST", "/api/generate/submit", "application/json", testKey, `{` + okInput + `}`, 400, "gen", "validation_error"},
		{"missing input", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro"}`, 400, "gen", "validation_error"},
		{"missing prompt", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"size":"1:1"}}`, 400, "gen", "validation_error"},
		{"prompt too long", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"` + long + `"}}`, 400, "gen", "content_too_long_error"},
		{"size 16:21", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"p","size":"16:21"}}`, 400, "gen", "validation_error"},
		{"format jpeg", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"p","output_format":"jpeg"}}`, 400, "gen", "validation_error"},
		{"http callback", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","callback_url":"http://bot.example/cb",` + okInput + `}`, 400, "gen", "validation_error"},
		{"edit without image", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro-edit",` + okInput + `}`, 400, "gen", "validation_error"},
		{"edit with two images", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-max-edit","input":{"prompt":"p","image_urls":["https://a/1.png","https://a/2.png"]}}`, 400, "gen", "validation_error"},
		{"edit with no images", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-max-edit","input":{"prompt":"p","image_urls":[]}}`, 400, "gen", "validation_error"},
		{"edit with base64", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro-edit","input":{"prompt":"p","image_urls":["data:image/png;base64,iVBORw0KGgo="]}}`, 400, "gen", "validation_error"},
		{"image on text model", "POST", "/api/generate/submit", "application/json", testKey, `{"model":"flux-kontext-pro","input":{"prompt":"p","image_urls":["https://a/1.png"]}}`, 400, "gen", "validation_error"},
		{"unknown task", "GET", "/api/generate/status/task-nope", "", testKey, "", 404, "detail", ""},
		{"status no auth", "GET", "/api/generate/status/task-nope", "", "", "", 401, "detail", ""},
		{"status wrong method", "POST", "/api/generate/status/task-nope", "", testKey, "", 405, "detail", ""},
		{"upload missing field", "POST", "/api/common/upload/base64", "application/json", testKey, `{"file_name":"a.png"}`, 422, "detail", ""},
		{"upload unknown field", "POST", "/api/common/upload/base64", "application/json", testKey, `{"base64_data":"x","extra":1}`, 422, "detail", ""},
		{"upload svg", "POST", "/api/common/upload/base64", "application/json", testKey, `{"base64_data":"data:image/svg+xml;base64,PHN2Zy8+"}`, 400, "detail", ""},
		{"upload bad base64", "POST", "/api/common/upload/base64", "application/json", testKey, `{"base64_data":"data:image/png;base64,@@@"}`, 400, "detail", ""},
		{"upload bad data URL", "POST", "/api/common/upload/base64", "application/json", testKey, `{"base64_data":"data:image/png,abc"}`, 400, "detail", ""},
		{"upload not an image", "POST", "/api/common/upload/base64", "application/json", testKey, `{"base64_data":"aGVsbG8="}`, 400, "detail", ""},
		{"upload no auth", "POST", "/api/common/upload/base64", "application/json", "", `{"base64_data":"aGVsbG8="}`, 401, "detail", ""},
		{"unknown path", "GET", "/api/nope", "", testKey, "", 404, "detail", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawCall(t, srv, tt.method, tt.path, tt.ctype, tt.key, tt.body)
			if status != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", status, tt.status, body)
			}
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			switch tt.shape {
			case "gen":
				e, _ := m["error"].(map[string]any)
				if code, _ := m["code"].(float64); int(code) != tt.status || e == nil || e["type"] != tt.errType || e["message"] == "" {
					t.Errorf("body = %s, want {code:%d, error:{type:%s}}", body, tt.status, tt.errType)
				}
			case "detail":
				if _, ok := m["detail"]; !ok || len(m) != 1 {
					t.Errorf("body = %s, want {detail}", body)
				}
			}
		})
	}

	t.Run("upload rate limit", func(t *testing.T) {
		srv := imagingtest.NewPoYo(t)
		body := `{"base64_data":"` + base64.StdEncoding.EncodeToString(imagingtest.PNG(1)) + `"}`
		for i := range 11 {
			status, b := rawCall(t, srv, "POST", "/api/common/upload/base64", "application/json", testKey, body)
			if want := map[bool]int{true: 200, false: 429}[i < 10]; status != want {
				t.Fatalf("upload %d = %d %s, want %d", i+1, status, b, want)
			}
		}
	})
}

func rawCall(t *testing.T, srv *imagingtest.PoYoServer, method, path, ctype, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func FuzzStatusBody(f *testing.F) {
	for _, s := range []string{docNotStarted, docRunning, docFinished, docFailed, docCallbackOK, docCallbackKO,
		docStatus404, docGenError, `{"code":200,"data":null}`, `{"detail":[{"loc":["body","file"],"msg":"field required"}]}`} {
		f.Add([]byte(s))
	}
	plain := poyo.New(testKey)
	signed := poyo.New(testKey, poyo.WithWebhookSecret("s"))
	now := time.Unix(1783680000, 0)
	h := http.Header{}
	h.Set("X-Webhook-Timestamp", "1783680000")
	h.Set("X-Webhook-Signature", "c2lnbmF0dXJl")
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := poyo.ParseStatus(body)
		if err == nil {
			switch {
			case st == nil:
				t.Fatal("nil status without error")
			case st.Progress < -1 || st.Progress > 100:
				t.Errorf("Progress = %d", st.Progress)
			case st.State == imaging.StateSucceeded && len(st.URLs) == 0:
				t.Error("succeeded without URLs")
			case st.State == imaging.StateFailed && st.Err == nil:
				t.Error("failed without Err")
			}
		} else if lb := bytes.ToLower(body); imaging.KindOf(err) == imaging.KindUnknown &&
			!bytes.Contains(lb, []byte("detail")) && !bytes.Contains(lb, []byte("error")) && !bytes.Contains(lb, []byte("code")) {
			// Only a vendor error body may leave an error unclassified.
			t.Errorf("unclassified error %v", err)
		}
		if id, err := plain.CallbackTaskID(http.Header{}, body, now); err == nil && id == "" {
			t.Error("empty callback task id without error")
		}
		_, _ = signed.CallbackTaskID(h, body, now)
	})
}
