package apixo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/apixo"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
)

const testKey = "test-key"

func setup(t *testing.T, opts ...imagingtest.Option) (*apixo.Client, *imagingtest.APIXOServer) {
	t.Helper()
	srv := imagingtest.NewAPIXO(t, opts...)
	c := apixo.New(testKey, apixo.WithBaseURL(srv.BaseURL()), apixo.WithRetryWait(time.Millisecond, 20*time.Millisecond))
	return c, srv
}

func ptr[T any](v T) *T { return &v }

// asError returns err's *imaging.Error, failing the test if there is none.
func asError(t *testing.T, err error) *imaging.Error {
	t.Helper()
	e, ok := errors.AsType[*imaging.Error](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *imaging.Error", err, err)
	}
	return e
}

func jsonMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestClientIdentity(t *testing.T) {
	c := apixo.New("k")
	if got, want := c.Name(), "apixo"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	caps := c.Capabilities()
	if caps.DisplayName != "APIXO" || caps.MaxImages != 1 || !caps.ImageURLs || caps.ImageBytes ||
		caps.MaxPromptRunes != 10000 || caps.Seed || !caps.Upsampling || !caps.Callbacks || caps.Progress ||
		caps.Safety == nil || *caps.Safety != (imaging.Range{Min: 0, Max: 2}) ||
		caps.PollDelay != 20*time.Second || caps.PollInterval != 4*time.Second || caps.Concurrency != 50 {
		t.Errorf("Capabilities() = %+v", caps)
	}
	if got, want := caps.AspectRatios, []string{"1:1", "4:3", "3:4", "9:16", "16:9", "21:9"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AspectRatios = %v, want %v", got, want)
	}
	if got, want := caps.Models, []imaging.Model{imaging.ModelPro, imaging.ModelMax}; !reflect.DeepEqual(got, want) {
		t.Errorf("Models = %v, want %v", got, want)
	}
	if got, want := caps.Formats, []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG}; !reflect.DeepEqual(got, want) {
		t.Errorf("Formats = %v, want %v", got, want)
	}
}

func TestCapabilitiesCheck(t *testing.T) {
	caps := apixo.New("k").Capabilities()
	tests := []struct {
		name string
		req  imaging.Request
		host bool
		want imaging.Kind // KindUnknown: valid
	}{
		{"valid text-to-image", imaging.Request{Prompt: "x", AspectRatio: "21:9"}, false, imaging.KindUnknown},
		{"valid edit by URL", imaging.Request{Prompt: "x", Images: []imaging.Image{{URL: "https://e.com/a.png"}}}, false, imaging.KindUnknown},
		{"bytes without hosting", imaging.Request{Prompt: "x", Images: []imaging.Image{{Data: []byte{1}, ContentType: "image/png"}}}, false, imaging.KindUnsupported},
		{"bytes with hosting", imaging.Request{Prompt: "x", Images: []imaging.Image{{Data: []byte{1}, ContentType: "image/png"}}}, true, imaging.KindUnknown},
		{"3:2 undocumented", imaging.Request{Prompt: "x", AspectRatio: "3:2"}, false, imaging.KindInvalid},
		{"9:21 undocumented", imaging.Request{Prompt: "x", AspectRatio: "9:21"}, false, imaging.KindInvalid},
		{"seed", imaging.Request{Prompt: "x", Seed: ptr[int64](1)}, false, imaging.KindInvalid},
		{"safety 3", imaging.Request{Prompt: "x", SafetyTolerance: ptr(3)}, false, imaging.KindInvalid},
		{"two images", imaging.Request{Prompt: "x", Images: []imaging.Image{{URL: "https://e.com/a"}, {URL: "https://e.com/b"}}}, false, imaging.KindInvalid},
		{"prompt 10001", imaging.Request{Prompt: strings.Repeat("é", 10001)}, false, imaging.KindInvalid},
		{"prompt 10000", imaging.Request{Prompt: strings.Repeat("é", 10000)}, false, imaging.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := caps.Check(&tt.req, tt.host)
			if tt.want == imaging.KindUnknown {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if got := imaging.KindOf(err); got != tt.want {
				t.Errorf("Check() kind = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestSubmitWireBody(t *testing.T) {
	tests := []struct {
		name        string
		req         imaging.Request
		want        string
		wantCallbck string
	}{
		{
			name: "text-to-image defaults",
			req:  imaging.Request{Prompt: "a castle on a quiet hill at sunset", AspectRatio: "1:1"},
			want: `{"request_type":"async","input":{"mode":"pro","prompt":"a castle on a quiet hill at sunset","aspect_ratio":"1:1","output_format":"png"}}`,
		},
		{
			name: "text-to-image every option",
			req: imaging.Request{Prompt: "a greenhouse", Model: imaging.ModelMax, AspectRatio: "21:9", Format: imaging.FormatJPEG,
				PromptUpsampling: true, SafetyTolerance: ptr(0)},
			want: `{"request_type":"async","input":{"mode":"max","prompt":"a greenhouse","aspect_ratio":"21:9","output_format":"jpeg","promptUpsampling":true,"safetyTolerance":0}}`,
		},
		{
			name: "edit by URL with ratio left to the vendor",
			req: imaging.Request{Prompt: "turn this room into a warm mid-century interior", Model: imaging.ModelMax,
				Images: []imaging.Image{{URL: "https://example.com/source.jpg"}}, SafetyTolerance: ptr(2)},
			want: `{"request_type":"async","input":{"mode":"max","prompt":"turn this room into a warm mid-century interior","aspect_ratio":"1:1","image_urls":["https://example.com/source.jpg"],"output_format":"png","safetyTolerance":2}}`,
		},
		{
			name: "edit with ratio",
			req:  imaging.Request{Prompt: "p", AspectRatio: "4:3", Images: []imaging.Image{{URL: "http://example.com/a.png"}}},
			want: `{"request_type":"async","input":{"mode":"pro","prompt":"p","aspect_ratio":"4:3","image_urls":["http://example.com/a.png"],"output_format":"png"}}`,
		},
		{
			name:        "callback",
			req:         imaging.Request{Prompt: "p", AspectRatio: "9:16", CallbackURL: "https://bot.example/hooks/apixo?job=abc"},
			want:        `{"request_type":"callback","callback_url":"https://bot.example/hooks/apixo?job=abc","input":{"mode":"pro","prompt":"p","aspect_ratio":"9:16","output_format":"png"}}`,
			wantCallbck: "https://bot.example/hooks/apixo?job=abc",
		},
		{
			name: "plain-http callback is dropped",
			req:  imaging.Request{Prompt: "p", AspectRatio: "16:9", CallbackURL: "http://bot.example/hooks/apixo"},
			want: `{"request_type":"async","input":{"mode":"pro","prompt":"p","aspect_ratio":"16:9","output_format":"png"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := setup(t)
			id, err := c.Submit(t.Context(), &tt.req)
			if err != nil {
				t.Fatalf("Submit() error = %v", err)
			}
			if got, want := id, "task_1"; got != want {
				t.Errorf("Submit() = %q, want %q", got, want)
			}
			subs := srv.Submits()
			if len(subs) != 1 {
				t.Fatalf("submits = %d, want 1", len(subs))
			}
			r := subs[0]
			if r.Method != http.MethodPost || r.Path != "/api/v1/generateTask/flux-kontext" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			if got, want := r.Header.Get("Authorization"), "Bearer "+testKey; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := r.JSON(), jsonMap(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s\nwant   %s", r.Body, tt.want)
			}
			if got := srv.CallbackURL(id); got != tt.wantCallbck {
				t.Errorf("fake's callback_url = %q, want %q", got, tt.wantCallbck)
			}
		})
	}
}

func TestSubmitImageBytesUnsupported(t *testing.T) {
	c, srv := setup(t)
	req := &imaging.Request{Prompt: "p", Images: []imaging.Image{{Data: imagingtest.PNG(1), ContentType: "image/png"}}}
	_, err := c.Submit(t.Context(), req)
	if e := asError(t, err); e.Kind != imaging.KindUnsupported || e.Vendor != "APIXO" {
		t.Errorf("Submit() error = %v, want APIXO unsupported", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestStatusLifecycle(t *testing.T) {
	img := imagingtest.JPEG(3)
	c, srv := setup(t, imagingtest.WithPolls(1, 2), imagingtest.WithImage(img))
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1", Format: imaging.FormatJPEG})
	if err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	for i, want := range []imaging.State{imaging.StateQueued, imaging.StateRunning, imaging.StateRunning, imaging.StateSucceeded, imaging.StateSucceeded} {
		st, err := c.Status(t.Context(), id)
		if err != nil {
			t.Fatalf("poll %d: Status() error = %v", i, err)
		}
		if st.State != want || st.Progress != -1 || st.Cost != nil || st.Seed != nil || st.Err != nil {
			t.Fatalf("poll %d: Status() = %+v, want state %v, progress -1", i, st, want)
		}
		if want == imaging.StateSucceeded {
			if got, want := st.URLs, []string{srv.ResultURL(id)}; !reflect.DeepEqual(got, want) {
				t.Fatalf("URLs = %v, want %v", got, want)
			}
			if !strings.HasSuffix(st.URLs[0], ".jpg") {
				t.Errorf("result URL %q is not a .jpg", st.URLs[0])
			}
		} else if st.URLs != nil {
			t.Errorf("poll %d: URLs = %v before success", i, st.URLs)
		}
	}
	polls := srv.Requests()[1:]
	if got, want := polls[0].Path, "/api/v1/statusTask/flux-kontext?taskId="+id; got != want {
		t.Errorf("status path = %q, want %q", got, want)
	}
	if got, want := polls[0].Header.Get("Authorization"), "Bearer "+testKey; got != want {
		t.Errorf("status Authorization = %q, want %q", got, want)
	}
	if len(polls[0].Body) != 0 || polls[0].Method != http.MethodGet {
		t.Errorf("status request = %s with body %q", polls[0].Method, polls[0].Body)
	}

	resp, err := http.Get(srv.ResultURL(id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, img) || srv.Downloads() != 1 {
		t.Errorf("download = %d bytes (downloads %d), want the configured image", len(got), srv.Downloads())
	}
}

func TestStatusEscapesTaskID(t *testing.T) {
	c, srv := setup(t)
	_, err := c.Status(t.Context(), "a b&c=d")
	if got := imaging.KindOf(err); got != imaging.KindNotFound {
		t.Errorf("Status() kind = %v (%v), want not_found", got, err)
	}
	if got, want := srv.Requests()[0].Path, "/api/v1/statusTask/flux-kontext?taskId=a+b%26c%3Dd"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if _, err := c.Status(t.Context(), ""); imaging.KindOf(err) != imaging.KindInvalid {
		t.Errorf("Status(\"\") = %v, want invalid", err)
	}
}

// poll submits and polls once, with tasks ending on the first poll.
func pollOnce(t *testing.T, c *apixo.Client) *imaging.Status {
	t.Helper()
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	if err != nil {
		t.Fatalf("Submit() error = %v", err)
	}
	st, err := c.Status(t.Context(), id)
	if err != nil {
		t.Fatalf("Status() error = %v", err)
	}
	return st
}

func TestStatusOutcomes(t *testing.T) {
	tests := []struct {
		outcome  imagingtest.Outcome
		wantKind imaging.Kind
		wantCode string
	}{
		{imagingtest.FailSafety, imaging.KindSafety, "SensitiveContent"},
		{imagingtest.FailImage, imaging.KindImageUnreachable, "ImageNotAccess"},
		{imagingtest.FailGeneric, imaging.KindUnknown, "Unknown error"},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode, func(t *testing.T) {
			c, _ := setup(t, imagingtest.WithPolls(0, 0), imagingtest.WithOutcome(tt.outcome))
			st := pollOnce(t, c)
			if st.State != imaging.StateFailed || st.URLs != nil {
				t.Fatalf("Status() = %+v, want failed", st)
			}
			e := asError(t, st.Err)
			if e.Kind != tt.wantKind || e.Code != tt.wantCode || e.Vendor != "APIXO" || e.Message == "" {
				t.Errorf("Status().Err = %+v, want kind %v code %q", e, tt.wantKind, tt.wantCode)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		c, _ := setup(t, imagingtest.WithPolls(0, 0), imagingtest.WithOutcome(imagingtest.Never))
		id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if st, err := c.Status(t.Context(), id); err != nil || st.State != imaging.StateRunning {
				t.Fatalf("Status() = %+v, %v, want running", st, err)
			}
		}
	})
}

// TestFailCodes covers every failCode of every version of APIXO's
// documents, end to end through the fake.
func TestFailCodes(t *testing.T) {
	tests := []struct {
		code, msg string
		want      imaging.Kind
	}{
		{"SensitiveContent", "Content violates provider policy, please adjust the prompt", imaging.KindSafety},
		{"SensitiveContentDetected", "", imaging.KindSafety},
		{"InputImageSensitiveContentDetected", "", imaging.KindSafety},
		{"InputOutputSensitiveContentDetected", "", imaging.KindSafety},
		{"NSFW", "", imaging.KindSafety},
		{"NSFW_DETECTED", "", imaging.KindSafety},
		{"ProhibitedContentDetected", "", imaging.KindSafety},
		{"CONTENT_VIOLATION", "", imaging.KindSafety},
		{"OutputSensitiveContentV2", "", imaging.KindSafety},
		{"Unknown error", "The output was flagged as NSFW", imaging.KindSafety},
		{"ImageNotAccess", "A reference image URL could not be fetched", imaging.KindImageUnreachable},
		{"INVALID_IMAGE_URL", "", imaging.KindImageUnreachable},
		{"IMAGE_DOWNLOAD_FAILED", "", imaging.KindImageUnreachable},
		{"IMAGE_TOO_LARGE", "", imaging.KindImageUnreachable},
		{"UNSUPPORTED_FORMAT", "", imaging.KindImageUnreachable},
		{"PromptInvalid", "Prompt was rejected or malformed", imaging.KindInvalid},
		{"INVALID_PROMPT", "", imaging.KindInvalid},
		{"PROMPT_TOO_LONG", "", imaging.KindInvalid},
		{"PromptLengthExceeded", "", imaging.KindInvalid},
		{"RateLimited", "Provider-side rate limit reached", imaging.KindRateLimited},
		{"Timeout", "Provider-side timeout", imaging.KindTimeout},
		{"PROCESSING_TIMEOUT", "", imaging.KindTimeout},
		{"INSUFFICIENT_CREDITS", "", imaging.KindCredits},
		{"MODEL_UNAVAILABLE", "", imaging.KindUnavailable},
		{"Unknown error", "Provider returned an unmapped failure", imaging.KindUnknown},
		{"GENERATION_FAILED", "", imaging.KindUnknown},
		{"SomethingNew", "", imaging.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.msg, func(t *testing.T) {
			c, srv := setup(t, imagingtest.WithPolls(0, 0), imagingtest.WithOutcome(imagingtest.FailGeneric))
			srv.SetFailure(tt.code, tt.msg)
			st := pollOnce(t, c)
			if st.State != imaging.StateFailed {
				t.Fatalf("Status() = %+v, want failed", st)
			}
			e := asError(t, st.Err)
			if e.Kind != tt.want || e.Code != tt.code || e.Vendor != "APIXO" {
				t.Errorf("Err = %+v, want kind %v code %q", e, tt.want, tt.code)
			}
			if tt.msg != "" && !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Err.Message = %q, want it to carry %q", e.Message, tt.msg)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     imaging.State
		wantURLs []string
		wantID   string
		wantErr  imaging.Kind // for a returned error, or Status.Err when failed
	}{
		{"documented processing", `{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"processing","createTime":1767965610929}}`,
			imaging.StateRunning, nil, "task_12345678", 0},
		{"pending", `{"code":200,"message":"success","data":{"taskId":"t","state":"pending","createTime":1767965610929}}`,
			imaging.StateQueued, nil, "t", 0},
		{"documented success", `{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"success","resultJson":"{\"resultUrls\":[\"https://r2.apixo.ai/xxx.png\"]}","createTime":1767965610929,"completeTime":1767965652317,"costTime":41388}}`,
			imaging.StateSucceeded, []string{"https://r2.apixo.ai/xxx.png"}, "task_12345678", 0},
		{"documented failure", `{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"failed","failCode":"SensitiveContent","failMsg":"Content violates provider policy, please adjust the prompt","createTime":1767965610929,"completeTime":1767965620132,"costTime":9203}}`,
			imaging.StateFailed, nil, "task_12345678", imaging.KindSafety},
		{"unknown state is running", `{"code":200,"data":{"taskId":"t","state":"queued_upstream"}}`, imaging.StateRunning, nil, "t", 0},
		{"missing state is running", `{"code":200,"data":{"taskId":"t"}}`, imaging.StateRunning, nil, "t", 0},
		{"state case", `{"code":200,"data":{"taskId":"t","state":"SUCCESS","resultJson":"{\"resultUrls\":[\"https://a/b.png\"]}"}}`,
			imaging.StateSucceeded, []string{"https://a/b.png"}, "t", 0},
		{"resultJson as object", `{"code":200,"data":{"taskId":"t","state":"success","resultJson":{"resultUrls":["https://a/b.png"]}}}`,
			imaging.StateSucceeded, []string{"https://a/b.png"}, "t", 0},
		{"success without resultJson", `{"code":200,"data":{"taskId":"t","state":"success"}}`, imaging.StateFailed, nil, "t", imaging.KindUnknown},
		{"success with empty list", `{"code":200,"data":{"taskId":"t","state":"success","resultJson":"{\"resultUrls\":[]}"}}`, imaging.StateFailed, nil, "t", imaging.KindUnknown},
		{"success with garbage resultJson", `{"code":200,"data":{"taskId":"t","state":"success","resultJson":"nope"}}`, imaging.StateFailed, nil, "t", imaging.KindUnknown},
		{"failed without code", `{"code":200,"data":{"taskId":"t","state":"failed"}}`, imaging.StateFailed, nil, "t", imaging.KindUnknown},
		{"no code field", `{"data":{"taskId":"t","state":"processing"}}`, imaging.StateRunning, nil, "t", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, id, err := apixo.ParseStatus([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseStatus() error = %v", err)
			}
			if st.State != tt.want || !reflect.DeepEqual(st.URLs, tt.wantURLs) || id != tt.wantID || st.Progress != -1 {
				t.Errorf("ParseStatus() = %+v, %q, want %v %v %q", st, id, tt.want, tt.wantURLs, tt.wantID)
			}
			if tt.want == imaging.StateFailed {
				if got := imaging.KindOf(st.Err); got != tt.wantErr || st.Err == nil {
					t.Errorf("Err = %v, want kind %v", st.Err, tt.wantErr)
				}
			} else if st.Err != nil {
				t.Errorf("Err = %v, want nil", st.Err)
			}
		})
	}
	errTests := []struct {
		name, body string
		want       imaging.Kind
	}{
		{"not JSON", `<html>`, imaging.KindUnavailable},
		{"null", `null`, imaging.KindUnavailable},
		{"no data", `{"code":200,"message":"success"}`, imaging.KindUnavailable},
		{"data not an object", `{"code":200,"message":"success","data":"x"}`, imaging.KindUnavailable},
		{"body code 404", `{"code":404,"message":"Task not found"}`, imaging.KindNotFound},
		{"body code 500", `{"code":500,"message":"Internal error"}`, imaging.KindUnavailable},
		{"body code as string", `{"code":"402","message":"Insufficient balance"}`, imaging.KindCredits},
		{"body code 401", `{"code":401,"message":"Invalid or missing API key"}`, imaging.KindUnauthorized},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, err := apixo.ParseStatus([]byte(tt.body))
			if err == nil || st != nil {
				t.Fatalf("ParseStatus() = %+v, %v, want an error", st, err)
			}
			if got := imaging.KindOf(err); got != tt.want {
				t.Errorf("kind = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestSubmitErrors(t *testing.T) {
	tests := []struct {
		name     string
		fault    imagingtest.Fault
		tries    int
		want     imaging.Kind
		wantHTTP int
		wantCode string
		wantText string
	}{
		{"400 documented", imagingtest.Fault{Status: 400}, 1, imaging.KindInvalid, 400, "", "Missing required field: input.prompt"},
		{"400 unreachable image", imagingtest.Fault{Status: 400, Body: `{"code":400,"message":"Invalid request","data":{"error":"Failed to download image from input.image_urls[0]"}}`},
			1, imaging.KindImageUnreachable, 400, "", "Failed to download image"},
		{"400 unsupported value", imagingtest.Fault{Status: 400, Body: `{"code":400,"message":"Invalid request","data":{"error":"Unsupported value for input.aspect_ratio"}}`},
			1, imaging.KindInvalid, 400, "", "Unsupported value"},
		{"400 provider identifier", imagingtest.Fault{Status: 400, Body: `{"code":400,"message":"Invalid request","data":{"error":"SensitiveContentDetected"}}`},
			1, imaging.KindSafety, 400, "SensitiveContentDetected", ""},
		{"400 image identifier", imagingtest.Fault{Status: 400, Body: `{"code":400,"message":"INVALID_IMAGE_URL"}`},
			1, imaging.KindImageUnreachable, 400, "INVALID_IMAGE_URL", ""},
		{"400 without body", imagingtest.Fault{Status: 400, Body: " "}, 1, imaging.KindInvalid, 400, "", ""},
		{"401 documented", imagingtest.Fault{Status: 401}, 1, imaging.KindUnauthorized, 401, "", "Invalid or missing API key"},
		{"402", imagingtest.Fault{Status: 402}, 1, imaging.KindCredits, 402, "", "Insufficient balance"},
		{"403", imagingtest.Fault{Status: 403}, 1, imaging.KindUnauthorized, 403, "", "cannot access"},
		{"404", imagingtest.Fault{Status: 404}, 1, imaging.KindNotFound, 404, "", ""},
		{"429 exhausted", imagingtest.Fault{Status: 429, RetryAfter: "1"}, 5, imaging.KindRateLimited, 429, "", ""},
		{"500", imagingtest.Fault{Status: 500}, 1, imaging.KindUnavailable, 500, "", ""},
		{"502", imagingtest.Fault{Status: 502}, 1, imaging.KindUnavailable, 502, "", "Upstream"},
		{"502 moderation", imagingtest.Fault{Status: 502, Body: `{"code":502,"message":"Upstream provider error","data":{"error":"NSFW_DETECTED"}}`},
			1, imaging.KindSafety, 502, "NSFW_DETECTED", ""},
		{"504", imagingtest.Fault{Status: 504}, 1, imaging.KindTimeout, 504, "", "timeout"},
		{"200 wrapping 402", imagingtest.Fault{Status: 200, Body: `{"code":402,"message":"Insufficient balance"}`},
			1, imaging.KindCredits, 200, "402", "Insufficient balance"},
		{"200 wrapping 400", imagingtest.Fault{Status: 200, Body: `{"code":400,"message":"Invalid request","data":{"error":"Missing required field: input.aspect_ratio"}}`},
			1, imaging.KindInvalid, 200, "400", "input.aspect_ratio"},
		{"200 wrapping 403", imagingtest.Fault{Status: 200, Body: `{"code":403,"message":"Forbidden"}`}, 1, imaging.KindUnauthorized, 200, "403", ""},
		{"200 without taskId", imagingtest.Fault{Status: 200, Body: `{"code":200,"message":"success","data":{}}`}, 1, imaging.KindUnavailable, 200, "", ""},
		{"200 not JSON", imagingtest.Fault{Status: 200, Body: `oops`}, 1, imaging.KindUnavailable, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults := make([]imagingtest.Fault, tt.tries)
			for i := range faults {
				faults[i] = tt.fault
			}
			c, srv := setup(t, imagingtest.WithSubmitFaults(faults...))
			id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
			if err == nil {
				t.Fatalf("Submit() = %q, want an error", id)
			}
			e := asError(t, err)
			if e.Kind != tt.want || e.HTTPStatus != tt.wantHTTP || e.Code != tt.wantCode || e.Vendor != "APIXO" {
				t.Errorf("error = %+v, want kind %v HTTP %d code %q", e, tt.want, tt.wantHTTP, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q leaks the API key", err)
			}
			if got := len(srv.Submits()); got != tt.tries {
				t.Errorf("submits = %d, want %d", got, tt.tries)
			}
			if tt.fault.RetryAfter == "1" && e.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %v, want 1s", e.RetryAfter)
			}
		})
	}
}

func TestSubmitRetryPolicy(t *testing.T) {
	t.Run("429 then success is retried", func(t *testing.T) {
		c, srv := setup(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: 429, RetryAfter: "1"}))
		id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
		if err != nil || id != "task_1" {
			t.Fatalf("Submit() = %q, %v, want task_1", id, err)
		}
		subs := srv.Submits()
		if len(subs) != 2 || subs[0].Status != 429 || subs[1].Status != 200 {
			t.Fatalf("submits = %d, want 2 (429 then 200)", len(subs))
		}
		if !bytes.Equal(subs[0].Body, subs[1].Body) {
			t.Errorf("retried body differs: %s vs %s", subs[0].Body, subs[1].Body)
		}
	})
	t.Run("500 is not retried", func(t *testing.T) {
		c, srv := setup(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Status: 500}))
		_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
		if imaging.KindOf(err) != imaging.KindUnavailable {
			t.Errorf("Submit() = %v, want unavailable", err)
		}
		if got := len(srv.Submits()); got != 1 {
			t.Errorf("submits = %d, want 1", got)
		}
	})
	t.Run("drop after the request is not retried", func(t *testing.T) {
		c, srv := setup(t, imagingtest.WithSubmitFaults(imagingtest.Fault{Drop: true}))
		_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
		if imaging.KindOf(err) != imaging.KindUnavailable {
			t.Errorf("Submit() = %v, want unavailable", err)
		}
		if got := len(srv.Submits()); got != 1 {
			t.Errorf("submits = %d, want 1", got)
		}
	})
}

func TestStatusRetries(t *testing.T) {
	c, srv := setup(t)
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	if err != nil {
		t.Fatal(err)
	}
	c2, srv2 := setup(t, imagingtest.WithStatusFaults(
		imagingtest.Fault{Status: 500}, imagingtest.Fault{Status: 429, RetryAfter: "1"}, imagingtest.Fault{Drop: true}, imagingtest.Fault{Status: 502}))
	id2, err := c2.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c2.Status(t.Context(), id2)
	if err != nil || st.State != imaging.StateQueued {
		t.Fatalf("Status() = %+v, %v, want queued after retries", st, err)
	}
	if got := srv2.Polls(); got != 5 {
		t.Errorf("polls = %d, want 5", got)
	}

	// Persistent 5xx: the error surfaces once the attempts are spent.
	c3, srv3 := setup(t, imagingtest.WithStatusFaults(
		imagingtest.Fault{Status: 504}, imagingtest.Fault{Status: 504}, imagingtest.Fault{Status: 504}, imagingtest.Fault{Status: 504}, imagingtest.Fault{Status: 504}))
	_, err = c3.Status(t.Context(), "task_1")
	if e := asError(t, err); e.Kind != imaging.KindTimeout || e.HTTPStatus != 504 {
		t.Errorf("Status() = %v, want timeout (HTTP 504)", err)
	}
	if got := srv3.Polls(); got != 5 {
		t.Errorf("polls = %d, want 5", got)
	}

	// Unknown task: the documented 404, not retried.
	_, err = c.Status(t.Context(), id+"x")
	if e := asError(t, err); e.Kind != imaging.KindNotFound || e.HTTPStatus != 404 || !strings.Contains(e.Message, "Task not found") {
		t.Errorf("Status(unknown) = %v, want not found", err)
	}
	if got := srv.Polls(); got != 1 {
		t.Errorf("polls = %d, want 1", got)
	}
}

func TestStatusOtherTask(t *testing.T) {
	c, _ := setup(t, imagingtest.WithStatusFaults(imagingtest.Fault{Status: 200,
		Body: `{"code":200,"message":"success","data":{"taskId":"task_9","state":"processing"}}`}))
	_, err := c.Status(t.Context(), "task_1")
	if imaging.KindOf(err) != imaging.KindUnavailable {
		t.Errorf("Status() = %v, want unavailable for another task's status", err)
	}
}

func TestStatusWrappedError(t *testing.T) {
	c, _ := setup(t, imagingtest.WithStatusFaults(imagingtest.Fault{Status: 200, Body: `{"code":404,"message":"Task not found"}`}))
	_, err := c.Status(t.Context(), "task_1")
	if e := asError(t, err); e.Kind != imaging.KindNotFound || e.HTTPStatus != 200 || e.Code != "404" {
		t.Errorf("Status() = %+v, want not found, HTTP 200, code 404", e)
	}
}

func TestUnauthorized(t *testing.T) {
	srv := imagingtest.NewAPIXO(t)
	const key = "sk-wrong-secret"
	c := apixo.New(key, apixo.WithBaseURL(srv.BaseURL()), apixo.WithRetryWait(time.Millisecond, 20*time.Millisecond))
	_, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1"})
	if e := asError(t, err); e.Kind != imaging.KindUnauthorized || e.HTTPStatus != 401 {
		t.Errorf("Submit() = %v, want unauthorized (HTTP 401)", err)
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("error %q leaks the key", err)
	}
	_, err = c.Status(t.Context(), "task_1")
	if e := asError(t, err); e.Kind != imaging.KindUnauthorized || strings.Contains(err.Error(), key) {
		t.Errorf("Status() = %v, want unauthorized without the key", err)
	}
	if got := len(srv.Requests()); got != 2 {
		t.Errorf("requests = %d, want 2 (401 is not retried)", got)
	}
}

func TestCallbackTaskID(t *testing.T) {
	c, srv := setup(t, imagingtest.WithOutcome(imagingtest.FailSafety))
	id, err := c.Submit(t.Context(), &imaging.Request{Prompt: "p", AspectRatio: "1:1", CallbackURL: "https://bot.example/cb/tok"})
	if err != nil {
		t.Fatal(err)
	}
	h, body := srv.CallbackRequest(id)
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("callback Content-Type = %q", got)
	}
	if got, err := c.CallbackTaskID(h, body, time.Now()); err != nil || got != id {
		t.Errorf("CallbackTaskID(fake) = %q, %v, want %q", got, err, id)
	}
	st, _, err := apixo.ParseStatus(body)
	if err != nil || st.State != imaging.StateFailed || imaging.KindOf(st.Err) != imaging.KindSafety {
		t.Errorf("callback body parses to %+v, %v; want a safety failure", st, err)
	}

	documented := `{"code":200,"message":"success","data":{"taskId":"task_abc123xyz","state":"success","resultJson":"{\"resultUrls\":[\"https://cdn.apixo.ai/output/abc.jpg\"]}","costTime":12500,"createTime":1704067200000,"completeTime":1704067212500}}`
	// APIXO signs nothing: headers and the clock do not matter.
	if got, err := c.CallbackTaskID(nil, []byte(documented), time.Time{}); err != nil || got != "task_abc123xyz" {
		t.Errorf("CallbackTaskID(documented) = %q, %v", got, err)
	}

	for _, bad := range []string{``, `nope`, `null`, `[]`, `{"code":200}`, `{"data":"task_1"}`, `{"data":{"taskId":""}}`,
		`{"data":{"taskId":"a b"}}`, `{"data":{"taskId":"a\u0000b"}}`, `{"data":{"taskId":"` + strings.Repeat("x", 300) + `"}}`} {
		if got, err := c.CallbackTaskID(http.Header{}, []byte(bad), time.Now()); imaging.KindOf(err) != imaging.KindInvalid {
			t.Errorf("CallbackTaskID(%.40q) = %q, %v, want invalid", bad, got, err)
		}
	}
}

// TestFakeRejects checks the fake against the documents, and that the
// client classifies each documented 400 body.
func TestFakeRejects(t *testing.T) {
	srv := imagingtest.NewAPIXO(t)
	valid := func(in string) string {
		return `{"request_type":"async","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"` + in + `}}`
	}
	tests := []struct {
		name, method, path, ctype, auth, body string
		wantStatus                            int
		wantText                              string
		wantKind                              imaging.Kind
	}{
		{"minimal", "", "", "", "", `{"input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 200, "taskId", 0},
		{"every field", "", "", "", "", `{"request_type":"callback","callback_url":"https://x.example/cb","input":{"mode":"max","prompt":"p","aspect_ratio":"21:9","image_urls":["https://e.com/a.png"],"output_format":"jpeg","promptUpsampling":false,"safetyTolerance":2}}`, 200, "taskId", 0},
		{"10000 runes", "", "", "", "", `{"input":{"mode":"pro","prompt":"` + strings.Repeat("é", 10000) + `","aspect_ratio":"1:1"}}`, 200, "taskId", 0},
		{"no auth", "", "", "", "-", valid(""), 401, `{"code":401,"message":"Invalid or missing API key"}`, imaging.KindUnauthorized},
		{"wrong key", "", "", "", "Bearer nope", valid(""), 401, "Invalid or missing API key", imaging.KindUnauthorized},
		{"wrong content type", "", "", "text/plain", "", valid(""), 400, "Content-Type", imaging.KindInvalid},
		{"wrong method", "GET", "", "", "", "", 405, "Method not allowed", 0},
		{"other model", "", "/api/v1/generateTask/flux-kontext-pro", "", "", valid(""), 404, "Model not found", imaging.KindNotFound},
		{"not JSON", "", "", "", "", `{`, 400, "Invalid JSON", imaging.KindInvalid},
		{"trailing data", "", "", "", "", valid("") + `{}`, 400, "Invalid JSON", imaging.KindInvalid},
		{"provider", "", "", "", "", `{"provider":"auto","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 400, "Unknown field: provider", imaging.KindInvalid},
		{"legacy image_url", "", "", "", "", valid(`,"image_url":"https://e.com/a.png"`), 400, "Unknown field: input.image_url", imaging.KindInvalid},
		{"legacy enableTranslation", "", "", "", "", valid(`,"enableTranslation":true`), 400, "Unknown field", imaging.KindInvalid},
		{"snake_case safety", "", "", "", "", valid(`,"safety_tolerance":2`), 400, "Unknown field", imaging.KindInvalid},
		{"seed", "", "", "", "", valid(`,"seed":1`), 400, "Unknown field", imaging.KindInvalid},
		{"null output_format", "", "", "", "", valid(`,"output_format":null`), 400, "output_format", imaging.KindInvalid},
		{"no input", "", "", "", "", `{"request_type":"async"}`, 400, "Missing required field: input", imaging.KindInvalid},
		{"no mode", "", "", "", "", `{"input":{"prompt":"p","aspect_ratio":"1:1"}}`, 400, "Missing required field: input.mode", imaging.KindInvalid},
		{"no prompt", "", "", "", "", `{"input":{"mode":"pro","aspect_ratio":"1:1"}}`, 400, "Missing required field: input.prompt", imaging.KindInvalid},
		{"no aspect_ratio", "", "", "", "", `{"input":{"mode":"pro","prompt":"p"}}`, 400, "Missing required field: input.aspect_ratio", imaging.KindInvalid},
		{"bad mode", "", "", "", "", `{"input":{"mode":"ultra","prompt":"p","aspect_ratio":"1:1"}}`, 400, "input.mode", imaging.KindInvalid},
		{"empty prompt", "", "", "", "", `{"input":{"mode":"pro","prompt":"","aspect_ratio":"1:1"}}`, 400, "input.prompt", imaging.KindInvalid},
		{"long prompt", "", "", "", "", `{"input":{"mode":"pro","prompt":"` + strings.Repeat("a", 10001) + `","aspect_ratio":"1:1"}}`, 400, "10000", imaging.KindInvalid},
		{"3:2", "", "", "", "", `{"input":{"mode":"pro","prompt":"p","aspect_ratio":"3:2"}}`, 400, "input.aspect_ratio", imaging.KindInvalid},
		{"jpg", "", "", "", "", valid(`,"output_format":"jpg"`), 400, "input.output_format", imaging.KindInvalid},
		{"empty image_urls", "", "", "", "", valid(`,"image_urls":[]`), 400, "cannot be empty", imaging.KindInvalid},
		{"two images", "", "", "", "", valid(`,"image_urls":["https://e.com/a","https://e.com/b"]`), 400, "more than 1", imaging.KindInvalid},
		{"base64 image", "", "", "", "", valid(`,"image_urls":["iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"]`), 400, "public HTTP(S) image URL", imaging.KindImageUnreachable},
		{"data URI image", "", "", "", "", valid(`,"image_urls":["data:image/png;base64,iVBORw0KGgo="]`), 400, "public HTTP(S) image URL", imaging.KindImageUnreachable},
		{"string upsampling", "", "", "", "", valid(`,"promptUpsampling":"true"`), 400, "promptUpsampling", imaging.KindInvalid},
		{"safety 3", "", "", "", "", valid(`,"safetyTolerance":3`), 400, "safetyTolerance", imaging.KindInvalid},
		{"safety 1.5", "", "", "", "", valid(`,"safetyTolerance":1.5`), 400, "safetyTolerance", imaging.KindInvalid},
		{"safety string", "", "", "", "", valid(`,"safetyTolerance":"1"`), 400, "safetyTolerance", imaging.KindInvalid},
		{"bad request_type", "", "", "", "", `{"request_type":"sync","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 400, "request_type", imaging.KindInvalid},
		{"callback without url", "", "", "", "", `{"request_type":"callback","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 400, "callback_url", imaging.KindInvalid},
		{"callback_url with async", "", "", "", "", `{"callback_url":"https://x.example/cb","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 400, "callback_url", imaging.KindInvalid},
		{"http callback", "", "", "", "", `{"request_type":"callback","callback_url":"http://x.example/cb","input":{"mode":"pro","prompt":"p","aspect_ratio":"1:1"}}`, 400, "HTTPS", imaging.KindInvalid},
		{"status unknown task", "GET", "/api/v1/statusTask/flux-kontext?taskId=task_404", "", "", "", 404, `{"code":404,"message":"Task not found"}`, imaging.KindNotFound},
		{"status without taskId", "GET", "/api/v1/statusTask/flux-kontext", "", "", "", 400, "taskId", imaging.KindInvalid},
		{"status extra query", "GET", "/api/v1/statusTask/flux-kontext?taskId=task_1&model=x", "", "", "", 400, "Unknown query parameter", imaging.KindInvalid},
		{"status by POST", "POST", "/api/v1/statusTask/flux-kontext?taskId=task_1", "", "", "", 405, "Method not allowed", 0},
		{"status no auth", "GET", "/api/v1/statusTask/flux-kontext?taskId=task_1", "", "-", "", 401, "Invalid or missing API key", imaging.KindUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path, ctype, auth := tt.method, tt.path, tt.ctype, tt.auth
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/api/v1/generateTask/flux-kontext"
			}
			if ctype == "" && method == http.MethodPost {
				ctype = "application/json"
			}
			if auth == "" {
				auth = "Bearer " + testKey
			}
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if auth != "-" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantText) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", method, path, resp.StatusCode, body, tt.wantStatus, tt.wantText)
			}
			var env struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Message == "" ||
				(resp.StatusCode != 200 && env.Code != resp.StatusCode) {
				t.Errorf("body %s is not the {code, message} envelope", body)
			}
			if resp.StatusCode == 400 {
				var d struct {
					Data struct {
						Error string `json:"error"`
					} `json:"data"`
				}
				if json.Unmarshal(body, &d); env.Message != "Invalid request" || d.Data.Error == "" {
					t.Errorf("400 body %s is not the documented shape", body)
				}
			}
			if tt.wantKind != 0 {
				if got := apixo.Classify(resp.StatusCode, body, resp.Header).Kind; got != tt.wantKind {
					t.Errorf("Classify() kind = %v, want %v", got, tt.wantKind)
				}
			}
		})
	}
}

var fuzzSeeds = []string{
	`{"code":200,"message":"success","data":{"taskId":"task_12345678"}}`,
	`{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"processing","createTime":1767965610929}}`,
	`{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"success","resultJson":"{\"resultUrls\":[\"https://r2.apixo.ai/xxx.png\"]}","createTime":1767965610929,"completeTime":1767965652317,"costTime":41388}}`,
	`{"code":200,"message":"success","data":{"taskId":"task_12345678","state":"failed","failCode":"SensitiveContent","failMsg":"Content violates provider policy, please adjust the prompt","createTime":1767965610929,"completeTime":1767965620132,"costTime":9203}}`,
	`{"code":200,"message":"success","data":{"taskId":"task_abc123xyz","state":"success","resultJson":"{\"resultUrls\":[\"https://cdn.apixo.ai/output/abc.jpg\"]}","costTime":12500,"createTime":1704067200000,"completeTime":1704067212500}}`,
	`{"code":400,"message":"Invalid request","data":{"error":"Missing required field: input.prompt"}}`,
	`{"code":401,"message":"Invalid or missing API key"}`,
	`{"code":404,"message":"Task not found"}`,
	`{"code":200,"message":"success","data":74.8700}`,
	`{"code":"1e99","data":{"state":"success","resultJson":{"resultUrls":[1]}}}`,
}

func FuzzStatus(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		st, _, err := apixo.ParseStatus(body)
		switch {
		case err != nil:
			if st != nil {
				t.Fatalf("status %+v with error %v", st, err)
			}
			if _, ok := errors.AsType[*imaging.Error](err); !ok {
				t.Fatalf("error %v is not an *imaging.Error", err)
			}
		case st == nil:
			t.Fatal("nil status without error")
		case st.Progress != -1:
			t.Fatalf("progress %d", st.Progress)
		case st.State == imaging.StateSucceeded && len(st.URLs) == 0:
			t.Fatal("success without URLs")
		case st.State == imaging.StateFailed && st.Err == nil:
			t.Fatal("failure without error")
		}
		for _, code := range []int{200, 400, 401, 500} {
			if e := apixo.Classify(code, body, nil); e == nil {
				t.Fatalf("Classify(%d) = nil", code)
			}
		}
	})
}

func FuzzCallbackTaskID(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	c := apixo.New("k")
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := c.CallbackTaskID(nil, body, time.Time{})
		if (err == nil) == (id == "") {
			t.Fatalf("CallbackTaskID() = %q, %v", id, err)
		}
	})
}
