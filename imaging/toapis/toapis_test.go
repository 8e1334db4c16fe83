package toapis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/imaging/toapis"
)

const testKey = "sk-toapis-secret-123"

// newClient returns a client for base with fast retries.
func newClient(base string, opts ...toapis.Option) *toapis.Client {
	all := append([]toapis.Option{
		toapis.WithBaseURL(base),
		toapis.WithRetryWait(time.Millisecond, 20*time.Millisecond),
	}, opts...)
	return toapis.New(testKey, all...)
}

func newFake(t *testing.T, opts ...imagingtest.Option) *imagingtest.ToAPIsServer {
	t.Helper()
	return imagingtest.NewToAPIs(t, append([]imagingtest.Option{imagingtest.WithAPIKey(testKey)}, opts...)...)
}

func ptr[T any](v T) *T { return &v }

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	return m
}

func asError(t *testing.T, err error) *imaging.Error {
	t.Helper()
	e, ok := errors.AsType[*imaging.Error](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *imaging.Error", err, err)
	}
	return e
}

func TestCapabilities(t *testing.T) {
	c := toapis.New("k")
	if got, want := c.Name(), "toapis"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	got := c.Capabilities()
	want := imaging.Capabilities{
		DisplayName:   "ToAPIs",
		Models:        []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:  []string{"1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9", "9:21"},
		Formats:       []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:     1,
		ImageURLs:     true,
		ImageBytes:    true,
		MaxImageBytes: 10 << 20,
		Safety:        &imaging.Range{Min: 0, Max: 6},
		Upsampling:    true,
		Progress:      true,
		PollDelay:     5 * time.Second,
		PollInterval:  5 * time.Second,
		Concurrency:   20,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Capabilities() =\n%+v\nwant\n%+v", got, want)
	}
	if !toapis.New("k", toapis.WithWebhookSecret("s")).Capabilities().Callbacks {
		t.Error("Callbacks = false with a webhook secret, want true")
	}
	// match_input_image is a wire value, not a ratio users choose.
	if err := got.Check(&imaging.Request{Prompt: "x", AspectRatio: "match_input_image"}, false); err == nil {
		t.Error("Check accepted match_input_image as an aspect ratio")
	}
}

func TestSubmitWireBody(t *testing.T) {
	const hook = "https://bot.example/hooks/toapis"
	tests := []struct {
		name    string
		req     imaging.Request
		secret  string // client webhook secret; also enables webhooks on the fake
		want    string // expected body; "UPLOADED" stands for the upload URL
		uploads int
	}{
		{
			name: "text-to-image defaults",
			req:  imaging.Request{Prompt: "Cyberpunk city at night", AspectRatio: "16:9"},
			want: `{"model":"flux-kontext-pro","prompt":"Cyberpunk city at night","size":"16:9","metadata":{"response_format":"png"}}`,
		},
		{
			name: "text-to-image without ratio sends 1:1",
			req:  imaging.Request{Prompt: "a cat"},
			want: `{"model":"flux-kontext-pro","prompt":"a cat","size":"1:1","metadata":{"response_format":"png"}}`,
		},
		{
			name: "max jpeg with every option",
			req: imaging.Request{Prompt: "a cat", Model: imaging.ModelMax, AspectRatio: "9:21", Format: imaging.FormatJPEG,
				SafetyTolerance: ptr(6), PromptUpsampling: true},
			want: `{"model":"flux-kontext-max","prompt":"a cat","size":"9:21",
				"metadata":{"response_format":"jpg","safety_tolerance":6,"prompt_upsampling":true}}`,
		},
		{
			name: "safety tolerance zero is sent",
			req:  imaging.Request{Prompt: "a cat", AspectRatio: "3:2", SafetyTolerance: ptr(0)},
			want: `{"model":"flux-kontext-pro","prompt":"a cat","size":"3:2","metadata":{"response_format":"png","safety_tolerance":0}}`,
		},
		{
			name: "edit by URL without ratio omits size",
			req: imaging.Request{Prompt: "watercolor", Model: imaging.ModelMax, Format: imaging.FormatJPEG,
				Images: []imaging.Image{{URL: "https://example.com/photo.jpg"}}},
			want: `{"model":"flux-kontext-max","prompt":"watercolor","image_urls":["https://example.com/photo.jpg"],
				"metadata":{"response_format":"jpg"}}`,
		},
		{
			name: "edit by URL with ratio",
			req:  imaging.Request{Prompt: "watercolor", AspectRatio: "2:3", Images: []imaging.Image{{URL: "http://example.com/a.png"}}},
			want: `{"model":"flux-kontext-pro","prompt":"watercolor","size":"2:3","image_urls":["http://example.com/a.png"],
				"metadata":{"response_format":"png"}}`,
		},
		{
			name: "edit by bytes uploads first",
			req: imaging.Request{Prompt: "watercolor",
				Images: []imaging.Image{{Data: imagingtest.JPEG(3), ContentType: "image/jpeg"}}},
			want:    `{"model":"flux-kontext-pro","prompt":"watercolor","image_urls":["UPLOADED"],"metadata":{"response_format":"png"}}`,
			uploads: 1,
		},
		{
			name: "callback ignored without webhook secret",
			req:  imaging.Request{Prompt: "a cat", AspectRatio: "1:1", CallbackURL: hook + "?job=1"},
			want: `{"model":"flux-kontext-pro","prompt":"a cat","size":"1:1","metadata":{"response_format":"png"}}`,
		},
		{
			name:   "callback sent with webhook secret",
			req:    imaging.Request{Prompt: "a cat", AspectRatio: "1:1", CallbackURL: hook + "?job=1"},
			secret: "whsec",
			want: `{"model":"flux-kontext-pro","prompt":"a cat","size":"1:1","metadata":{"response_format":"png"},
				"callback_url":"https://bot.example/hooks/toapis?job=1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			var opts []toapis.Option
			if tt.secret != "" {
				srv.EnableWebhooks(hook, tt.secret)
				opts = append(opts, toapis.WithWebhookSecret(tt.secret))
			}
			c := newClient(srv.URL, opts...)
			caps := c.Capabilities()
			if err := caps.Check(&tt.req, false); err != nil {
				t.Fatalf("Check: %v", err)
			}
			id, err := c.Submit(t.Context(), &tt.req)
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if !strings.HasPrefix(id, "task_img_") {
				t.Errorf("task id = %q, want the fake's task_img_ id", id)
			}
			subs := srv.Submits()
			if len(subs) != 1 {
				t.Fatalf("saw %d submits, want 1", len(subs))
			}
			sub := subs[0]
			if got, want := sub.Header.Get("Authorization"), "Bearer "+testKey; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if got, want := sub.Header.Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			got := sub.JSON()
			want := decode(t, tt.want)
			if ups := srv.Uploads(); len(ups) != tt.uploads {
				t.Fatalf("saw %d uploads, want %d", len(ups), tt.uploads)
			}
			if tt.uploads > 0 {
				u, _ := got["image_urls"].([]any)
				if len(u) != 1 {
					t.Fatalf("image_urls = %v, want one URL", got["image_urls"])
				}
				s, _ := u[0].(string)
				b, ok := srv.UploadedFile(s)
				if !ok || !bytes.Equal(b, tt.req.Images[0].Data) {
					t.Errorf("image_urls[0] = %q is not the uploaded image", s)
				}
				want["image_urls"] = []any{s}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s\nwant   %s", sub.Body, tt.want)
			}
		})
	}
}

func TestUploadRequest(t *testing.T) {
	tests := []struct {
		name, contentType, wantType, wantFile string
		data                                  []byte
	}{
		{"png sniffed", "", "image/png", "image.png", imagingtest.PNG(1)},
		{"jpeg given", "image/jpeg", "image/jpeg", "image.jpg", imagingtest.JPEG(2)},
		{"wrong type sniffed", "application/octet-stream", "image/png", "image.png", imagingtest.PNG(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t)
			req := &imaging.Request{Prompt: "edit", Images: []imaging.Image{{Data: tt.data, ContentType: tt.contentType}}}
			if _, err := newClient(srv.URL).Submit(t.Context(), req); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			ups := srv.Uploads()
			if len(ups) != 1 {
				t.Fatalf("saw %d uploads, want 1", len(ups))
			}
			up := ups[0]
			if got, want := up.Header.Get("Authorization"), "Bearer "+testKey; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			mt, params, err := mime.ParseMediaType(up.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/form-data" {
				t.Fatalf("Content-Type = %q, want multipart/form-data", up.Header.Get("Content-Type"))
			}
			mr := multipart.NewReader(bytes.NewReader(up.Body), params["boundary"])
			var parts []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				parts = append(parts, p.FormName())
				if p.FormName() != "file" {
					continue
				}
				if got := p.FileName(); got != tt.wantFile {
					t.Errorf("file name = %q, want %q", got, tt.wantFile)
				}
				if got := p.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("part Content-Type = %q, want %q", got, tt.wantType)
				}
				b, _ := io.ReadAll(p)
				if !bytes.Equal(b, tt.data) {
					t.Error("uploaded bytes differ from the image")
				}
			}
			if !slices.Equal(parts, []string{"file"}) {
				t.Errorf("parts = %v, want only [file] (purpose defaults to generation)", parts)
			}
		})
	}
}

func TestUploadFailures(t *testing.T) {
	png := imagingtest.PNG(1)
	tests := []struct {
		name        string
		data        []byte
		faults      []imagingtest.Fault
		wantKind    imaging.Kind
		wantUploads int
	}{
		{name: "unsupported type caught locally", data: []byte("plain text, not an image"),
			wantKind: imaging.KindImageUnreachable},
		{name: "vendor refuses type", data: png, wantKind: imaging.KindImageUnreachable, wantUploads: 1,
			faults: []imagingtest.Fault{{Status: 400, Body: `{"success":false,"message":"Unsupported image type. Allowed: JPEG, PNG, WebP, GIF"}`}}},
		{name: "vendor refuses size", data: png, wantKind: imaging.KindInvalid, wantUploads: 1,
			faults: []imagingtest.Fault{{Status: 400, Body: `{"success":false,"message":"Image too large. Maximum size is 10MB"}`}}},
		{name: "refusal in a 200 body", data: png, wantKind: imaging.KindImageUnreachable, wantUploads: 1,
			faults: []imagingtest.Fault{{Status: 200, Body: `{"success":false,"message":"Unsupported image type. Allowed: JPEG, PNG, WebP, GIF"}`}}},
		{name: "unauthorized", data: png, wantKind: imaging.KindUnauthorized, wantUploads: 1,
			faults: []imagingtest.Fault{{Status: 401}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t, imagingtest.WithUploadFaults(tt.faults...))
			req := &imaging.Request{Prompt: "edit", Images: []imaging.Image{{Data: tt.data}}}
			_, err := newClient(srv.URL).Submit(t.Context(), req)
			if got := imaging.KindOf(err); got != tt.wantKind {
				t.Fatalf("Submit error %v: kind %v, want %v", err, got, tt.wantKind)
			}
			if e := asError(t, err); e.Vendor != "ToAPIs" {
				t.Errorf("Vendor = %q, want ToAPIs", e.Vendor)
			}
			if got := len(srv.Uploads()); got != tt.wantUploads {
				t.Errorf("saw %d uploads, want %d", got, tt.wantUploads)
			}
			if got := len(srv.Submits()); got != 0 {
				t.Errorf("saw %d submits after a failed upload, want 0", got)
			}
		})
	}

	t.Run("retried on 5xx and drop", func(t *testing.T) {
		t.Parallel()
		srv := newFake(t, imagingtest.WithUploadFaults(imagingtest.Fault{Status: 500}, imagingtest.Fault{Drop: true}))
		req := &imaging.Request{Prompt: "edit", Images: []imaging.Image{{Data: png}}}
		if _, err := newClient(srv.URL).Submit(t.Context(), req); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if got := len(srv.Uploads()); got != 3 {
			t.Errorf("saw %d uploads, want 3", got)
		}
		if got := len(srv.Submits()); got != 1 {
			t.Errorf("saw %d submits, want 1", got)
		}
	})
}

func TestStatusLifecycle(t *testing.T) {
	for _, queued := range []string{"queued", "submitted"} {
		t.Run(queued, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t, imagingtest.WithPolls(1, 2))
			srv.SetQueuedStatus(queued)
			c := newClient(srv.URL)
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			want := []struct {
				state    imaging.State
				progress int
			}{
				{imaging.StateQueued, 0},
				{imaging.StateRunning, 45},
				{imaging.StateRunning, 90},
				{imaging.StateSucceeded, 100},
			}
			var last *imaging.Status
			for i, w := range want {
				st, err := c.Status(t.Context(), id)
				if err != nil {
					t.Fatalf("poll %d: %v", i+1, err)
				}
				if st.State != w.state || st.Progress != w.progress {
					t.Errorf("poll %d = %v %d%%, want %v %d%%", i+1, st.State, st.Progress, w.state, w.progress)
				}
				last = st
			}
			if got, want := last.URLs, []string{srv.URL + "/cdn/" + id + ".png"}; !slices.Equal(got, want) {
				t.Fatalf("URLs = %v, want %v", got, want)
			}
			if last.Err != nil || last.Cost != nil || last.Seed != nil {
				t.Errorf("success status has Err %v, Cost %v, Seed %v; want none", last.Err, last.Cost, last.Seed)
			}
			resp, err := http.Get(last.URLs[0])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(b, imagingtest.PNG(1)) {
				t.Error("result URL does not serve the image")
			}
			if got := srv.Polls(); got != 4 {
				t.Errorf("Polls() = %d, want 4", got)
			}
		})
	}
}

func TestStatusOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		outcome  imagingtest.Outcome
		wantKind imaging.Kind
		wantCode string
	}{
		{"safety", imagingtest.FailSafety, imaging.KindSafety, "content_policy_violation"},
		{"image", imagingtest.FailImage, imaging.KindImageUnreachable, "generation_failed"},
		{"generic", imagingtest.FailGeneric, imaging.KindUnknown, "generation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t, imagingtest.WithPolls(0, 0), imagingtest.WithOutcome(tt.outcome))
			c := newClient(srv.URL)
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			st, err := c.Status(t.Context(), id)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.State != imaging.StateFailed {
				t.Fatalf("State = %v, want failed", st.State)
			}
			e := asError(t, st.Err)
			if e.Kind != tt.wantKind || e.Code != tt.wantCode || e.Vendor != "ToAPIs" || e.Message == "" {
				t.Errorf("Err = %#v, want kind %v code %q from ToAPIs with a message", e, tt.wantKind, tt.wantCode)
			}
		})
	}

	t.Run("never", func(t *testing.T) {
		t.Parallel()
		srv := newFake(t, imagingtest.WithPolls(0, 1), imagingtest.WithOutcome(imagingtest.Never))
		c := newClient(srv.URL)
		id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			st, err := c.Status(t.Context(), id)
			if err != nil || st.State != imaging.StateRunning {
				t.Fatalf("poll %d = %+v, %v; want running", i+1, st, err)
			}
		}
	})

	t.Run("unknown task", func(t *testing.T) {
		t.Parallel()
		srv := newFake(t)
		_, err := newClient(srv.URL).Status(t.Context(), "task_img_nope")
		if got := imaging.KindOf(err); got != imaging.KindNotFound {
			t.Errorf("Status(unknown) error %v: kind %v, want not_found", err, got)
		}
		if got := srv.Polls(); got != 1 {
			t.Errorf("Polls() = %d, want 1 (404 is not retried)", got)
		}
	})
}

// TestStatusDocumentedBodies feeds the documents' own examples (and the
// variants they allow) through Status.
func TestStatusDocumentedBodies(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		state    imaging.State
		progress int
		urls     []string
		kind     imaging.Kind // for failed
		code     string
	}{
		{name: "queued (submit response)", state: imaging.StateQueued, progress: 0,
			body: `{"id":"task_img_abc123def456","object":"generation.task","model":"flux-kontext-pro","status":"queued","progress":0,"created_at":1703884800,"metadata":{}}`},
		{name: "submitted", state: imaging.StateQueued, progress: 0,
			body: `{"id":"x","object":"generation.task","status":"submitted","progress":0}`},
		{name: "in_progress", state: imaging.StateRunning, progress: 50,
			body: `{"id":"img_5b8b19afe5c24ab3a92df996f1a33931","object":"generation.task","model":"gemini-3-pro-image-preview","status":"in_progress","progress":50,"created_at":1768381010}`},
		{name: "completed", state: imaging.StateSucceeded, progress: 100,
			urls: []string{"https://files.toapis.com/generated/1768381061_c55c1bbb.jpg"},
			body: `{"id":"img_5b8b19afe5c24ab3a92df996f1a33931","object":"generation.task","model":"gemini-3-pro-image-preview","status":"completed","progress":100,"created_at":1768381010,"completed_at":1768381063,"expires_at":1768467463,"result":{"type":"image","data":[{"url":"https://files.toapis.com/generated/1768381061_c55c1bbb.jpg"}]}}`},
		{name: "completed with top-level url only", state: imaging.StateSucceeded, progress: 100,
			urls: []string{"https://files.toapis.com/generated/a.png"},
			body: `{"id":"x","status":"completed","progress":100,"url":"https://files.toapis.com/generated/a.png"}`},
		{name: "result preferred over url", state: imaging.StateSucceeded, progress: -1,
			urls: []string{"https://r/1.png", "https://r/2.png"},
			body: `{"id":"x","status":"completed","url":"https://u/0.png","result":{"type":"image","data":[{"url":"https://r/1.png"},{"url":""},{"url":"https://r/2.png"}]}}`},
		{name: "completed without url", state: imaging.StateFailed, progress: 100, kind: imaging.KindUnknown,
			body: `{"id":"x","status":"completed","progress":100,"result":{"type":"image","data":[]}}`},
		{name: "failed generic", state: imaging.StateFailed, progress: 0, kind: imaging.KindUnknown, code: "generation_failed",
			body: `{"id":"img_73c450923a9a43e4aabf426e1c681d64","object":"generation.task","model":"gemini-3-pro-image-preview","status":"failed","progress":0,"created_at":1768215312,"error":{"code":"generation_failed","message":"call upstream API failed: upstream returned status 422"}}`},
		{name: "failed moderation message", state: imaging.StateFailed, progress: 0, kind: imaging.KindSafety, code: "generation_failed",
			body: `{"id":"x","status":"failed","progress":0,"error":{"code":"generation_failed","message":"Request Moderated: NSFW content detected"}}`},
		{name: "failed image download", state: imaging.StateFailed, progress: 0, kind: imaging.KindImageUnreachable, code: "image_download_failed",
			body: `{"id":"x","status":"failed","progress":0,"error":{"code":"image_download_failed","message":"could not download"}}`},
		{name: "failed without error", state: imaging.StateFailed, progress: -1, kind: imaging.KindUnknown,
			body: `{"id":"x","status":"failed"}`},
		{name: "unknown status is running", state: imaging.StateRunning, progress: 30,
			body: `{"id":"x","status":"cancelling","progress":30}`},
		{name: "no progress", state: imaging.StateRunning, progress: -1,
			body: `{"id":"x","status":"in_progress"}`},
		{name: "progress out of range", state: imaging.StateRunning, progress: 100,
			body: `{"id":"x","status":"in_progress","progress":250}`},
		{name: "progress as webhook string", state: imaging.StateRunning, progress: 40,
			body: `{"id":"x","status":"in_progress","progress":"40%"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/images/generations/task_1" {
					http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			st, err := newClient(srv.URL).Status(t.Context(), "task_1")
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.State != tt.state || st.Progress != tt.progress || !slices.Equal(st.URLs, tt.urls) {
				t.Errorf("Status = %v %d%% %v, want %v %d%% %v", st.State, st.Progress, st.URLs, tt.state, tt.progress, tt.urls)
			}
			if tt.state != imaging.StateFailed {
				if st.Err != nil {
					t.Errorf("Err = %v, want nil", st.Err)
				}
				return
			}
			e := asError(t, st.Err)
			if e.Kind != tt.kind || e.Code != tt.code || e.Vendor != "ToAPIs" {
				t.Errorf("Err = %#v, want kind %v code %q", e, tt.kind, tt.code)
			}
		})
	}

	t.Run("malformed and empty bodies", func(t *testing.T) {
		t.Parallel()
		for body, want := range map[string]imaging.Kind{
			`not json`: imaging.KindUnavailable,
			`{}`:       imaging.KindUnavailable,
			`{"error":{"code":404,"message":"Task not found","type":"not_found_error"}}`: imaging.KindNotFound,
		} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, body)
			}))
			_, err := newClient(srv.URL).Status(t.Context(), "t")
			srv.Close()
			if got := imaging.KindOf(err); got != want {
				t.Errorf("body %s: error %v kind %v, want %v", body, err, got, want)
			}
		}
	})
}

// TestErrors checks every documented HTTP error shape, on submit and on
// status.
func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		fault    imagingtest.Fault
		kind     imaging.Kind
		code     string
		retried  bool // status retries it until the faults run out
		noSubmit bool // skip the submit check
	}{
		{name: "400 invalid_request", fault: imagingtest.Fault{Status: 400}, kind: imaging.KindInvalid, code: "invalid_request"},
		{name: "400 webhook_not_configured", kind: imaging.KindUnsupported, code: "webhook_not_configured",
			fault: imagingtest.Fault{Status: 400, Body: `{"error":{"code":"webhook_not_configured","message":"Task webhooks are not configured"}}`}},
		{name: "400 not json", fault: imagingtest.Fault{Status: 400, Body: "<html>bad</html>"}, kind: imaging.KindInvalid},
		{name: "401 documented (integer code)", fault: imagingtest.Fault{Status: 401}, kind: imaging.KindUnauthorized, code: "authentication_error"},
		{name: "401 string code", kind: imaging.KindUnauthorized, code: "unauthorized",
			fault: imagingtest.Fault{Status: 401, Body: `{"error":{"code":"unauthorized","message":"Invalid API key"}}`}},
		{name: "402 insufficient_quota", fault: imagingtest.Fault{Status: 402}, kind: imaging.KindCredits, code: "insufficient_quota"},
		{name: "402 integer code with type", kind: imaging.KindCredits, code: "insufficient_quota",
			fault: imagingtest.Fault{Status: 402, Body: `{"error":{"code":402,"message":"Insufficient balance","type":"insufficient_quota"}}`}},
		{name: "403", fault: imagingtest.Fault{Status: 403, Body: `{"error":{"code":403,"message":"Forbidden"}}`}, kind: imaging.KindUnauthorized, code: "403"},
		{name: "404 documented", fault: imagingtest.Fault{Status: 404}, kind: imaging.KindNotFound, code: "not_found_error"},
		{name: "404 task_not_found", kind: imaging.KindNotFound, code: "task_not_found",
			fault: imagingtest.Fault{Status: 404, Body: `{"error":{"code":"task_not_found","message":"Task not found"}}`}},
		{name: "422 content_policy_violation", fault: imagingtest.Fault{Status: 422}, kind: imaging.KindSafety, code: "content_policy_violation"},
		{name: "422 without a body", fault: imagingtest.Fault{Status: 422, Body: " "}, kind: imaging.KindSafety},
		{name: "422 invalid_request", kind: imaging.KindInvalid, code: "invalid_request",
			fault: imagingtest.Fault{Status: 422, Body: `{"error":{"code":"invalid_request","message":"size is invalid"}}`}},
		{name: "500 internal_error", fault: imagingtest.Fault{Status: 500}, kind: imaging.KindUnavailable, code: "internal_error", retried: true},
		{name: "502 html", fault: imagingtest.Fault{Status: 502, Body: "<html>Bad Gateway</html>"}, kind: imaging.KindUnavailable, retried: true},
		{name: "503 rate_limit_unavailable", fault: imagingtest.Fault{Status: 503}, kind: imaging.KindUnavailable,
			code: "rate_limit_unavailable", retried: true, noSubmit: true},
		{name: "429 rate_limit_exceeded", fault: imagingtest.Fault{Status: 429}, kind: imaging.KindRateLimited,
			code: "rate_limit_exceeded", retried: true, noSubmit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", op)
				}
				e := asError(t, err)
				if e.Kind != tt.kind || e.Code != tt.code || e.HTTPStatus != tt.fault.Status || e.Vendor != "ToAPIs" {
					t.Errorf("%s error = %#v, want kind %v code %q HTTP %d", op, e, tt.kind, tt.code, tt.fault.Status)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Errorf("%s error leaks the API key: %v", op, err)
				}
				if msg := imaging.UserMessage(err); strings.Contains(msg, testKey) {
					t.Errorf("user message leaks the API key: %s", msg)
				}
			}
			if !tt.noSubmit {
				srv := newFake(t, imagingtest.WithSubmitFaults(tt.fault))
				_, err := newClient(srv.URL).Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
				check("Submit", err)
				if got := len(srv.Submits()); got != 1 {
					t.Errorf("saw %d submits, want 1", got)
				}
			}
			faults := []imagingtest.Fault{tt.fault}
			if tt.retried {
				faults = slices.Repeat(faults, 5)
			}
			srv := newFake(t, imagingtest.WithStatusFaults(faults...))
			_, err := newClient(srv.URL).Status(t.Context(), "task_img_1")
			check("Status", err)
			if got, want := srv.Polls(), len(faults); got != want {
				t.Errorf("saw %d polls, want %d", got, want)
			}
		})
	}
}

func TestSubmitRetries(t *testing.T) {
	req := func() *imaging.Request { return &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"} }
	limiter := imagingtest.Fault{Status: 503, RetryAfter: "1"}
	tests := []struct {
		name    string
		faults  []imagingtest.Fault
		kind    imaging.Kind // KindUnknown with ok: success
		ok      bool
		submits int
	}{
		{name: "429 with Retry-After is retried", ok: true, submits: 2,
			faults: []imagingtest.Fault{{Status: 429, RetryAfter: "1"}}},
		{name: "500 is not retried", kind: imaging.KindUnavailable, submits: 1,
			faults: []imagingtest.Fault{{Status: 500}}},
		{name: "drop after the request is not retried", kind: imaging.KindUnavailable, submits: 1,
			faults: []imagingtest.Fault{{Drop: true}}},
		{name: "503 rate_limit_unavailable is retried", ok: true, submits: 2,
			faults: []imagingtest.Fault{limiter}},
		{name: "503 rate_limit_unavailable then 429", ok: true, submits: 3,
			faults: []imagingtest.Fault{limiter, {Status: 429, RetryAfter: "1"}}},
		{name: "503 rate_limit_unavailable gives up", kind: imaging.KindUnavailable, submits: 4,
			faults: slices.Repeat([]imagingtest.Fault{limiter}, 6)},
		{name: "other 503 is not retried", kind: imaging.KindUnavailable, submits: 1,
			faults: []imagingtest.Fault{{Status: 503, Body: `{"error":{"code":"internal_error","message":"upstream down"}}`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t, imagingtest.WithSubmitFaults(tt.faults...))
			id, err := newClient(srv.URL).Submit(t.Context(), req())
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Submit: %v", err)
			case tt.ok && id == "":
				t.Fatal("Submit returned no id")
			case !tt.ok && imaging.KindOf(err) != tt.kind:
				t.Fatalf("Submit error %v: kind %v, want %v", err, imaging.KindOf(err), tt.kind)
			}
			if got := len(srv.Submits()); got != tt.submits {
				t.Errorf("saw %d submits, want %d", got, tt.submits)
			}
		})
	}

	t.Run("429 Retry-After is reported when retries run out", func(t *testing.T) {
		t.Parallel()
		srv := newFake(t, imagingtest.WithSubmitFaults(slices.Repeat([]imagingtest.Fault{{Status: 429, RetryAfter: "1"}}, 5)...))
		_, err := newClient(srv.URL).Submit(t.Context(), req())
		if got := imaging.KindOf(err); got != imaging.KindRateLimited {
			t.Fatalf("kind = %v, want rate_limited", got)
		}
		if got := imaging.RetryAfterOf(err); got != time.Second {
			t.Errorf("RetryAfter = %v, want 1s", got)
		}
	})
}

func TestStatusRetries(t *testing.T) {
	srv := newFake(t, imagingtest.WithStatusFaults(
		imagingtest.Fault{Status: 500},
		imagingtest.Fault{Status: 429, RetryAfter: "1"},
		imagingtest.Fault{Drop: true},
		imagingtest.Fault{Status: 503},
	))
	c := newClient(srv.URL)
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.State != imaging.StateQueued {
		t.Errorf("State = %v, want queued", st.State)
	}
	if got := srv.Polls(); got != 5 {
		t.Errorf("Polls() = %d, want 5", got)
	}
}

func TestAuthFailure(t *testing.T) {
	srv := imagingtest.NewToAPIs(t, imagingtest.WithAPIKey("the-right-key"))
	c := newClient(srv.URL)
	_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1"})
	if got := imaging.KindOf(err); got != imaging.KindUnauthorized {
		t.Errorf("Submit error %v: kind %v, want unauthorized", err, got)
	}
	_, err = c.Status(t.Context(), "task_img_1")
	if got := imaging.KindOf(err); got != imaging.KindUnauthorized {
		t.Errorf("Status error %v: kind %v, want unauthorized", err, got)
	}
	_, err = c.Submit(t.Context(), &imaging.Request{Prompt: "x", Images: []imaging.Image{{Data: imagingtest.PNG(1)}}})
	if got := imaging.KindOf(err); got != imaging.KindUnauthorized {
		t.Errorf("upload error %v: kind %v, want unauthorized", err, got)
	}
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("error leaks the key: %v", err)
	}
}

func TestCallbackNotConfigured(t *testing.T) {
	// The client has a secret but the operator never enabled Task
	// Webhooks for the key: ToAPIs answers 400 webhook_not_configured.
	srv := newFake(t)
	c := newClient(srv.URL, toapis.WithWebhookSecret("whsec"))
	_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1", CallbackURL: "https://bot.example/cb"})
	if got := imaging.KindOf(err); got != imaging.KindUnsupported {
		t.Fatalf("Submit error %v: kind %v, want unsupported", err, got)
	}
	if msg := imaging.UserMessage(err); !strings.Contains(msg, "Task Webhooks") {
		t.Errorf("UserMessage = %q, want it to name Task Webhooks", msg)
	}
}

func TestCallbackTaskID(t *testing.T) {
	const hook, secret = "https://bot.example/hooks/toapis", "whsec_0123456789abcdef0123456789abcdef"
	now := time.Now()
	tests := []struct {
		name    string
		outcome imagingtest.Outcome
		secret  string // client's secret; default secret
		build   func(srv *imagingtest.ToAPIsServer, id string) (http.Header, []byte)
		wantErr error // nil: task id expected
	}{
		{name: "completed", build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
			return s.CallbackRequest(id)
		}},
		{name: "failed", outcome: imagingtest.FailGeneric, build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
			return s.CallbackRequest(id)
		}},
		{name: "4 minutes old", build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
			return s.CallbackRequestAt(id, now.Add(-4*time.Minute))
		}},
		{name: "signed with old and new secret after rotation", build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
			s.RotateWebhookSecret("whsec_new")
			return s.CallbackRequest(id)
		}},
		{name: "wrong secret", secret: "whsec_other", wantErr: toapis.ErrBadSignature,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) { return s.CallbackRequest(id) }},
		{name: "tampered body", wantErr: toapis.ErrBadSignature,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				h, b := s.CallbackRequest(id)
				return h, bytes.Replace(b, []byte(id), []byte("task_img_999"), 1)
			}},
		{name: "tampered event id", wantErr: toapis.ErrBadSignature,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				h, b := s.CallbackRequest(id)
				h.Set("X-ToAPIs-Webhook-Id", "evt_other")
				return h, b
			}},
		{name: "missing signature", wantErr: toapis.ErrBadSignature,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				h, b := s.CallbackRequest(id)
				h.Del("X-ToAPIs-Webhook-Signature")
				return h, b
			}},
		{name: "signature without v1 prefix", wantErr: toapis.ErrBadSignature,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				h, b := s.CallbackRequest(id)
				h.Set("X-ToAPIs-Webhook-Signature", strings.TrimPrefix(h.Get("X-ToAPIs-Webhook-Signature"), "v1="))
				return h, b
			}},
		{name: "stale timestamp", wantErr: toapis.ErrStaleCallback,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				return s.CallbackRequestAt(id, now.Add(-6*time.Minute))
			}},
		{name: "future timestamp", wantErr: toapis.ErrStaleCallback,
			build: func(s *imagingtest.ToAPIsServer, id string) (http.Header, []byte) {
				return s.CallbackRequestAt(id, now.Add(6*time.Minute))
			}},
		{name: "endpoint test event", wantErr: toapis.ErrTestEvent,
			build: func(s *imagingtest.ToAPIsServer, _ string) (http.Header, []byte) { return s.EndpointTestRequest(now) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFake(t, imagingtest.WithOutcome(tt.outcome))
			srv.EnableWebhooks(hook, secret)
			clientSecret := secret
			if tt.secret != "" {
				clientSecret = tt.secret
			}
			c := newClient(srv.URL, toapis.WithWebhookSecret(clientSecret))
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "a cat", AspectRatio: "1:1", CallbackURL: hook + "?job=7"})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			h, body := tt.build(srv, id)
			got, err := c.CallbackTaskID(h, body, now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("CallbackTaskID error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != id {
				t.Errorf("CallbackTaskID = %q, %v; want %q", got, err, id)
			}
		})
	}

	t.Run("callbacks disabled", func(t *testing.T) {
		t.Parallel()
		srv := newFake(t)
		srv.EnableWebhooks(hook, secret)
		h, b := srv.CallbackRequest("task_img_1")
		if _, err := newClient(srv.URL).CallbackTaskID(h, b, now); !errors.Is(err, toapis.ErrCallbacksDisabled) {
			t.Errorf("error = %v, want ErrCallbacksDisabled", err)
		}
	})

	t.Run("documented example", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"id":"evt_01abcdef","type":"generation.completed","api_version":"v1","created_at":1783953302,"data":{"task_id":"tsk_01abcdef","client_business_id":"order_123","task_type":"image","model":"model-name","status":"SUCCESS","progress":"100%","result":{"type":"image","data":[{"url":"https://cdn.example/result.png"}]},"error":null,"submitted_at":1783953000,"finished_at":1783953300}}`)
		h := http.Header{}
		h.Set("X-ToAPIs-Webhook-Id", "evt_01abcdef")
		h.Set("X-ToAPIs-Webhook-Timestamp", "1783953302")
		h.Set("X-ToAPIs-Webhook-Signature", "v1=00ff,v1="+imagingtest.ToAPIsSignature("s3cret", "evt_01abcdef", "1783953302", body))
		c := toapis.New("k", toapis.WithWebhookSecret("s3cret"))
		got, err := c.CallbackTaskID(h, body, time.Unix(1783953302, 0).Add(time.Minute))
		if err != nil || got != "tsk_01abcdef" {
			t.Errorf("CallbackTaskID = %q, %v; want tsk_01abcdef", got, err)
		}
	})
}

// TestFakeRejects checks that the fake refuses what ToAPIs' documents do
// not allow, so the wire tests above mean something.
func TestFakeRejects(t *testing.T) {
	tests := []struct {
		name, method, path, ctype, body string
		auth                            bool
		status                          int
		code                            string
	}{
		{"no auth", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x"}`, false, 401, ""},
		{"wrong method", "GET", "/v1/images/generations", "", "", true, 405, ""},
		{"wrong content type", "POST", "/v1/images/generations", "text/plain", `{"model":"flux-kontext-pro","prompt":"x"}`, true, 400, "invalid_request"},
		{"unknown model", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-ultra","prompt":"x"}`, true, 400, "invalid_request"},
		{"missing model", "POST", "/v1/images/generations", "application/json", `{"prompt":"x"}`, true, 400, "invalid_request"},
		{"missing prompt", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro"}`, true, 400, "invalid_request"},
		{"bad size", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","size":"5:4"}`, true, 400, "invalid_request"},
		{"match_input_image without image", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","size":"match_input_image"}`, true, 400, "invalid_request"},
		{"two images", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","image_urls":["https://a/1.png","https://a/2.png"]}`, true, 400, "invalid_request"},
		{"base64 image", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","image_urls":["data:image/png;base64,iVBORw0KGgo="]}`, true, 400, "invalid_request"},
		{"null field", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","size":null}`, true, 400, "invalid_request"},
		{"unknown field", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","seed":1}`, true, 400, "invalid_request"},
		{"unknown metadata field", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","metadata":{"seed":1}}`, true, 400, "invalid_request"},
		{"jpeg spelling", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","metadata":{"response_format":"jpeg"}}`, true, 400, "invalid_request"},
		{"safety out of range", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","metadata":{"safety_tolerance":7}}`, true, 400, "invalid_request"},
		{"callback without webhooks", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-pro","prompt":"x","callback_url":"https://a/cb"}`, true, 400, "webhook_not_configured"},
		{"unknown task", "GET", "/v1/images/generations/task_img_404", "", "", true, 404, "404"},
		{"upload not multipart", "POST", "/v1/uploads/images", "application/json", `{}`, true, 400, ""},
		{"valid submit", "POST", "/v1/images/generations", "application/json", `{"model":"flux-kontext-max","prompt":"x","size":"match_input_image","image_urls":["https://a/1.png"],"metadata":{"response_format":"jpg","safety_tolerance":0,"prompt_upsampling":false}}`, true, 200, ""},
	}
	srv := newFake(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth {
				req.Header.Set("Authorization", "Bearer "+testKey)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.status, b)
			}
			if tt.code == "" {
				return
			}
			var env struct {
				Error struct {
					Code json.RawMessage `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if got := strings.Trim(string(env.Error.Code), `"`); got != tt.code {
				t.Errorf("error.code = %s, want %s", got, tt.code)
			}
		})
	}
}
