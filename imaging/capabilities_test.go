package imaging_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fluxbot/fluxbot/imaging"
)

// apixoCaps mirrors a fixed-list, URL-only vendor.
func apixoCaps() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName:    "APIXO",
		Models:         []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		AspectRatios:   []string{"1:1", "4:3", "3:4", "9:16", "16:9", "21:9"},
		Formats:        []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:      1,
		ImageURLs:      true,
		ImageBytes:     false,
		MaxPromptRunes: 10,
		Safety:         &imaging.Range{Min: 0, Max: 2},
		Seed:           true,
		Upsampling:     true,
	}
}

// vtrixCaps mirrors a free-form-ratio vendor that takes bytes.
func vtrixCaps() imaging.Capabilities {
	return imaging.Capabilities{
		DisplayName:   "Vtrix",
		Models:        []imaging.Model{imaging.ModelPro, imaging.ModelMax},
		MinAspect:     9.0 / 21,
		MaxAspect:     21.0 / 9,
		Formats:       []imaging.Format{imaging.FormatPNG, imaging.FormatJPEG},
		MaxImages:     4,
		ImageURLs:     true,
		ImageBytes:    true,
		MaxImageBytes: 2 << 20,
	}
}

func ptr[T any](v T) *T { return &v }

func TestCapabilitiesCheck(t *testing.T) {
	t.Parallel()
	url := func(u string) imaging.Image { return imaging.Image{URL: u} }
	data := func(n int) imaging.Image { return imaging.Image{Data: make([]byte, n), ContentType: "image/png"} }
	cat := url("https://example.com/cat.png")
	tests := []struct {
		name     string
		caps     func() imaging.Capabilities
		change   func(*imaging.Capabilities) // optional tweak of caps
		req      imaging.Request
		host     bool
		wantKind imaging.Kind // KindUnknown: accepted
		wantMsg  string       // the whole user message
	}{
		{name: "minimal", caps: apixoCaps, req: imaging.Request{Prompt: "cat"}},
		{name: "everything allowed", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Model: imaging.ModelMax, AspectRatio: "21:9",
			Format: imaging.FormatJPEG, Seed: ptr[int64](1), PromptUpsampling: true, SafetyTolerance: ptr(2), Images: []imaging.Image{cat}}},

		{name: "empty prompt", caps: apixoCaps, req: imaging.Request{}, wantKind: imaging.KindInvalid,
			wantMsg: "Please describe the image you want (the prompt is empty)."},
		{name: "blank prompt", caps: apixoCaps, req: imaging.Request{Prompt: " \n\t "}, wantKind: imaging.KindInvalid,
			wantMsg: "Please describe the image you want (the prompt is empty)."},
		{name: "prompt at the limit in runes, over it in bytes", caps: apixoCaps, req: imaging.Request{Prompt: "éééééééééé"}},
		{name: "prompt over the limit in runes", caps: apixoCaps, req: imaging.Request{Prompt: "日本語のプロンプトです。"}, wantKind: imaging.KindInvalid,
			wantMsg: "The prompt is 12 characters long; APIXO accepts at most 10."},
		{name: "no prompt limit", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.MaxPromptRunes = 0 },
			req: imaging.Request{Prompt: strings.Repeat("a", 100000)}},

		{name: "model not offered", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.Models = []imaging.Model{imaging.ModelPro} },
			req: imaging.Request{Prompt: "cat", Model: imaging.ModelMax}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't offer the max model; it supports pro."},
		{name: "default model checked", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.Models = []imaging.Model{imaging.ModelMax} },
			req: imaging.Request{Prompt: "cat"}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't offer the pro model; it supports max."},

		{name: "fixed ratio listed", caps: apixoCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "9:16"}},
		{name: "fixed ratio not listed", caps: apixoCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "9:21"}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't support the aspect ratio 9:21; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."},
		{name: "fixed ratio equal value, other spelling", caps: apixoCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "32:18"}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't support the aspect ratio 32:18; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."},
		{name: "free-form widest", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "21:9"}},
		{name: "free-form tallest", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "9:21"}},
		{name: "free-form in between", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "5:4"}},
		{name: "free-form widest, other spelling", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "42:18"}},
		{name: "free-form too wide", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "22:9"}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support the aspect ratio 22:9; it supports any ratio from 9:21 to 21:9."},
		{name: "free-form too tall", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "9:22"}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support the aspect ratio 9:22; it supports any ratio from 9:21 to 21:9."},
		{name: "free-form not a ratio", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", AspectRatio: "wide"}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support the aspect ratio wide; it supports any ratio from 9:21 to 21:9."},
		{name: "free-form odd bounds named by value", caps: vtrixCaps, change: func(c *imaging.Capabilities) { c.MinAspect, c.MaxAspect = 0.5, 2 },
			req: imaging.Request{Prompt: "cat", AspectRatio: "3:1"}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support the aspect ratio 3:1; it supports any ratio from 0.50 to 2.00."},

		{name: "format not offered", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.Formats = []imaging.Format{imaging.FormatPNG} },
			req: imaging.Request{Prompt: "cat", Format: imaging.FormatJPEG}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't support the jpeg format; it supports png."},
		{name: "default format checked", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.Formats = []imaging.Format{imaging.FormatJPEG} },
			req: imaging.Request{Prompt: "cat"}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO doesn't support the png format; it supports jpeg."},

		{name: "seed unsupported", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Seed: ptr[int64](42)}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support a fixed seed. Remove --seed, or choose a vendor that supports it."},
		{name: "upsampling unsupported", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", PromptUpsampling: true}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't support prompt upsampling. Remove --upsample."},
		{name: "safety not exposed", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", SafetyTolerance: ptr(0)}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't let the safety tolerance be set. Remove --safety."},
		{name: "safety at minimum", caps: apixoCaps, req: imaging.Request{Prompt: "cat", SafetyTolerance: ptr(0)}},
		{name: "safety above range", caps: apixoCaps, req: imaging.Request{Prompt: "cat", SafetyTolerance: ptr(3)}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO accepts a safety tolerance from 0 to 2, not 3."},
		{name: "safety below range", caps: apixoCaps, req: imaging.Request{Prompt: "cat", SafetyTolerance: ptr(-1)}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO accepts a safety tolerance from 0 to 2, not -1."},

		{name: "two images, one allowed", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{cat, cat}}, wantKind: imaging.KindInvalid,
			wantMsg: "APIXO edits one image at a time, but 2 were given."},
		{name: "five images, four allowed", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{cat, cat, cat, cat, cat}}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix accepts at most 4 reference images, but 5 were given."},
		{name: "four images, four allowed", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{cat, cat, cat, cat}}},

		{name: "http link", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{url("http://example.com/a.png")}}},
		{name: "ftp link", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{url("ftp://example.com/a.png")}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image link must start with https://."},
		{name: "file link", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{url("file:///etc/passwd")}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image link must start with https://."},
		{name: "links not accepted", caps: vtrixCaps, change: func(c *imaging.Capabilities) { c.ImageURLs = false },
			req: imaging.Request{Prompt: "cat", Images: []imaging.Image{cat}}, wantKind: imaging.KindInvalid,
			wantMsg: "Vtrix doesn't accept image links; attach the image instead."},
		{name: "empty image", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{{ContentType: "image/png"}}}, wantKind: imaging.KindInvalid,
			wantMsg: "The reference image is empty."},

		{name: "bytes on URL-only vendor without hosting", caps: apixoCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(100)}},
			wantKind: imaging.KindUnsupported,
			wantMsg:  "APIXO can only edit images it can download from a public link, and this bot isn't set up to host uploaded images (PUBLIC_URL is not set). Use an image link, or ask the operator to set PUBLIC_URL or choose another vendor."},
		{name: "bytes on URL-only vendor with hosting", caps: apixoCaps, host: true, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(100)}}},
		{name: "bytes on bytes vendor", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(100)}}},
		{name: "bytes at the size limit", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(2 << 20)}}},
		{name: "bytes over the size limit", caps: vtrixCaps, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(3 << 20)}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image is 3.0 MB; Vtrix accepts at most 2.0 MB."},
		{name: "bytes over a KB limit", caps: vtrixCaps, change: func(c *imaging.Capabilities) { c.MaxImageBytes = 1024 },
			req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(2048)}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image is 2 KB; Vtrix accepts at most 1 KB."},
		{name: "bytes over a tiny limit", caps: vtrixCaps, change: func(c *imaging.Capabilities) { c.MaxImageBytes = 10 },
			req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(11)}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image is 11 bytes; Vtrix accepts at most 10 bytes."},
		{name: "size limit applies to hosted bytes", caps: apixoCaps, change: func(c *imaging.Capabilities) { c.MaxImageBytes = 1024 },
			host: true, req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(2048)}}, wantKind: imaging.KindInvalid,
			wantMsg: "The image is 2 KB; APIXO accepts at most 1 KB."},
		{name: "no size limit", caps: vtrixCaps, change: func(c *imaging.Capabilities) { c.MaxImageBytes = 0 },
			req: imaging.Request{Prompt: "cat", Images: []imaging.Image{data(3 << 20)}}},

		{name: "first problem is reported", caps: vtrixCaps, req: imaging.Request{Prompt: "", Model: "turbo", AspectRatio: "99:1"}, wantKind: imaging.KindInvalid,
			wantMsg: "Please describe the image you want (the prompt is empty)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.caps()
			if tt.change != nil {
				tt.change(&c)
			}
			err := c.Check(&tt.req, tt.host)
			if tt.wantKind == imaging.KindUnknown {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			e, ok := errors.AsType[*imaging.Error](err)
			if !ok {
				t.Fatalf("Check() = %v, want *imaging.Error", err)
			}
			if got, want := e.Kind, tt.wantKind; got != want {
				t.Errorf("Kind = %v, want %v", got, want)
			}
			if got, want := e.Vendor, c.DisplayName; got != want {
				t.Errorf("Vendor = %q, want %q", got, want)
			}
			if got, want := imaging.UserMessage(err), tt.wantMsg; got != want {
				t.Errorf("UserMessage() = %q\nwant %q", got, want)
			}
		})
	}
}

func TestCapabilitiesHelpers(t *testing.T) {
	t.Parallel()
	a, v := apixoCaps(), vtrixCaps()
	if !a.SupportsModel(imaging.ModelMax) || a.SupportsModel("turbo") {
		t.Errorf("SupportsModel: max %v, turbo %v; want true, false", a.SupportsModel(imaging.ModelMax), a.SupportsModel("turbo"))
	}
	if got, want := a.AspectList(), "1:1, 4:3, 3:4, 9:16, 16:9, 21:9"; got != want {
		t.Errorf("AspectList() = %q, want %q", got, want)
	}
	if got, want := v.AspectList(), "any ratio from 9:21 to 21:9"; got != want {
		t.Errorf("AspectList() = %q, want %q", got, want)
	}
	for ar, want := range map[string]bool{"21:9": true, "1:1": true, "9:21": true, "3:1": false, "1:3": false, "": false} {
		if got := v.SupportsAspect(ar); got != want {
			t.Errorf("free-form SupportsAspect(%q) = %v, want %v", ar, got, want)
		}
	}
}

func TestParseAspect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   float64
		wantOK bool
	}{
		{"16:9", 16.0 / 9, true},
		{"1:1", 1, true},
		{"9:21", 9.0 / 21, true},
		{"10000:1", 10000, true},
		{"1:10000", 0.0001, true},
		{"10001:1", 0, false},
		{"1:10001", 0, false},
		{"0:1", 0, false},
		{"1:0", 0, false},
		{"-16:9", 0, false},
		{"16:-9", 0, false},
		{"16/9", 0, false},
		{"16x9", 0, false},
		{"16:", 0, false},
		{":9", 0, false},
		{":", 0, false},
		{"", 0, false},
		{"16:9:1", 0, false},
		{"a:b", 0, false},
		{" 16:9", 0, false},
		{"16 : 9", 0, false},
		{"1.5:1", 0, false},
		{"16∶9", 0, false}, // ratio sign U+2236; the flag parser translates it
		{"１６:９", 0, false},
		{"99999999999999999999:1", 0, false},
	}
	for _, tt := range tests {
		got, ok := imaging.ParseAspect(tt.in)
		if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ParseAspect(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBugParseAspectAcceptsSign(t *testing.T) {
	t.Parallel()
	if got, ok := imaging.ParseAspect("+16:9"); ok {
		t.Errorf(`ParseAspect("+16:9") = %v, true; want false (not W:H with digits)`, got)
	}
	c := vtrixCaps()
	if err := c.Check(&imaging.Request{Prompt: "cat", AspectRatio: "+16:9"}, false); err == nil {
		t.Errorf(`free-form Check(AspectRatio "+16:9") = nil; want KindInvalid, the vendor would get "+16:9"`)
	}
}
