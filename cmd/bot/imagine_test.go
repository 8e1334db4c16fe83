package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
)

// fakeVendor is what the tests need of an imagingtest server.
type fakeVendor interface {
	Requests() []imagingtest.Recorded
	Submits() []imagingtest.Recorded
	Polls() int
}

// startFake starts the named strict fake vendor and returns it with the
// environment that points the bot at it.
func startFake(t *testing.T, vendor string, opts ...imagingtest.Option) (fakeVendor, map[string]string) {
	t.Helper()
	var (
		f    fakeVendor
		base string
	)
	switch vendor {
	case "poyo":
		s := imagingtest.NewPoYo(t, opts...)
		f, base = s, s.URL
	case "toapis":
		s := imagingtest.NewToAPIs(t, opts...)
		f, base = s, s.URL
	case "apixo":
		s := imagingtest.NewAPIXO(t, opts...)
		f, base = s, s.BaseURL()
	case "vtrix":
		s := imagingtest.NewVtrix(t, opts...)
		f, base = s, s.URL
	default:
		t.Fatalf("no fake for %q", vendor)
	}
	up := strings.ToUpper(vendor)
	return f, map[string]string{
		up + "_API_KEY":         "test-key",
		up + "_BASE_URL":        base,
		"IMAGING_POLL_DELAY":    "10ms",
		"IMAGING_POLL_INTERVAL": "10ms",
	}
}

// runBot runs the program with args and env, returning the exit code and
// what it wrote.
func runBot(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, mapEnv(env), &out, &errb)
	return code, out.String(), errb.String()
}

// dig walks a decoded JSON value by map keys and slice indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func wantField(t *testing.T, body map[string]any, want any, path ...any) {
	t.Helper()
	if got := dig(body, path...); !reflect.DeepEqual(got, want) {
		t.Errorf("submit body %v = %#v, want %#v", path, got, want)
	}
}

// oneSubmit returns the body of the fake's only submit.
func oneSubmit(t *testing.T, f fakeVendor) map[string]any {
	t.Helper()
	subs := f.Submits()
	if len(subs) != 1 {
		t.Fatalf("fake saw %d submits, want 1", len(subs))
	}
	if subs[0].Status != 200 {
		t.Errorf("fake answered the submit with %d: %s", subs[0].Status, subs[0].Body)
	}
	return subs[0].JSON()
}

// imagineCases are the per-vendor flags and the submit fields they must
// produce.
var imagineCases = []struct {
	vendor string
	image  []byte
	flags  []string
	check  func(t *testing.T, body map[string]any)
}{
	{"poyo", imagingtest.PNG(11), []string{"--ar", "16:9", "--model", "max"}, func(t *testing.T, b map[string]any) {
		wantField(t, b, "flux-kontext-max", "model")
		wantField(t, b, "16:9", "input", "size")
		wantField(t, b, "a lighthouse at dawn", "input", "prompt")
		wantField(t, b, nil, "input", "image_urls")
	}},
	{"toapis", imagingtest.JPEG(12), []string{"--format", "jpeg"}, func(t *testing.T, b map[string]any) {
		wantField(t, b, "flux-kontext-pro", "model")
		wantField(t, b, "jpg", "metadata", "response_format")
		wantField(t, b, "a lighthouse at dawn", "prompt")
	}},
	{"apixo", imagingtest.PNG(13), []string{"--model", "max", "--ar", "21:9"}, func(t *testing.T, b map[string]any) {
		wantField(t, b, "max", "input", "mode")
		wantField(t, b, "21:9", "input", "aspect_ratio")
		wantField(t, b, "a lighthouse at dawn", "input", "prompt")
	}},
	{"vtrix", imagingtest.PNG(14), []string{"--seed", "7", "--ar", "3:2"}, func(t *testing.T, b map[string]any) {
		wantField(t, b, "flux_kontext_pro", "model")
		wantField(t, b, float64(7), "input", 0, "params", "seed")
		wantField(t, b, "3:2", "input", 0, "params", "aspect_ratio")
		wantField(t, b, "a lighthouse at dawn", "input", 0, "params", "prompt")
	}},
}

func TestImagineEachVendor(t *testing.T) {
	t.Parallel()
	for _, tc := range imagineCases {
		t.Run(tc.vendor, func(t *testing.T) {
			t.Parallel()
			f, env := startFake(t, tc.vendor, imagingtest.WithImage(tc.image))
			out := filepath.Join(t.TempDir(), "out.png")
			args := append([]string{"imagine", "-o", out}, tc.flags...)
			args = append(args, "a", "lighthouse", "at", "dawn")
			code, stdout, stderr := runBot(t, env, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if got, want := stdout, out+"\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.image) {
				t.Errorf("written image (%d bytes) differs from the fake's result (%d bytes)", len(got), len(tc.image))
			}
			for _, w := range []string{"submitting to " + tc.vendor, " accepted\n", "succeeded ", "done in "} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(stderr, "\n"); n < 4 {
				t.Errorf("stderr has %d lines of progress, want at least 4:\n%s", n, stderr)
			}
			if strings.Contains(stderr, "test-key") {
				t.Errorf("stderr shows the API key:\n%s", stderr)
			}
			if f.Polls() < 1 {
				t.Errorf("fake saw no status poll")
			}
			tc.check(t, oneSubmit(t, f))
		})
	}
}

// TestImagineInlineFlags checks that flags typed inside the prompt (one
// quoted argument, or trailing words) send exactly what leading flags send.
func TestImagineInlineFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range imagineCases {
		t.Run(tc.vendor, func(t *testing.T) {
			t.Parallel()
			submitBody := func(args ...string) map[string]any {
				t.Helper()
				f, env := startFake(t, tc.vendor, imagingtest.WithImage(tc.image))
				out := filepath.Join(t.TempDir(), "out.img")
				code, stdout, stderr := runBot(t, env, append([]string{"imagine", "--output=" + out}, args...)...)
				if code != 0 {
					t.Fatalf("%q: exit %d, stderr:\n%s", args, code, stderr)
				}
				if stdout != out+"\n" {
					t.Errorf("%q: stdout = %q, want %q", args, stdout, out+"\n")
				}
				if got, _ := os.ReadFile(out); !bytes.Equal(got, tc.image) {
					t.Errorf("%q: written image differs from the fake's", args)
				}
				return oneSubmit(t, f)
			}
			flags := strings.Join(tc.flags, " ")
			leading := submitBody(append(append([]string{}, tc.flags...), "a lighthouse at dawn")...)
			quoted := submitBody("a lighthouse " + flags + " at dawn")
			trailing := submitBody(append([]string{"a", "lighthouse", "at", "dawn"}, tc.flags...)...)
			tc.check(t, quoted)
			if !reflect.DeepEqual(quoted, leading) {
				t.Errorf("inline flags sent %v, leading flags sent %v", quoted, leading)
			}
			if !reflect.DeepEqual(trailing, leading) {
				t.Errorf("trailing flags sent %v, leading flags sent %v", trailing, leading)
			}
		})
	}
}

// TestImagineDefaultOutput checks the file named after the job in the
// working directory.
func TestImagineDefaultOutput(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		vendor, ext string
		image       []byte
	}{
		{"poyo", ".png", imagingtest.PNG(21)},
		{"toapis", ".jpg", imagingtest.JPEG(22)},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			_, env := startFake(t, tc.vendor, imagingtest.WithImage(tc.image))
			code, stdout, stderr := runBot(t, env, "imagine", "a", "red", "fox")
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			path, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(path, "\n") {
				t.Fatalf("stdout = %q, want one path line", stdout)
			}
			if filepath.Base(path) != path {
				t.Errorf("path %q is not a bare name in the working directory", path)
			}
			if !strings.HasPrefix(path, tc.vendor+"-") || !strings.HasSuffix(path, tc.ext) {
				t.Errorf("path %q, want %s-<task>%s", path, tc.vendor, tc.ext)
			}
			got, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.image) {
				t.Errorf("written image differs from the fake's result")
			}
		})
	}
}

func TestImagineVendorChoice(t *testing.T) {
	t.Parallel()
	newEnv := func(t *testing.T) (p, v fakeVendor, env map[string]string) {
		p, penv := startFake(t, "poyo")
		v, venv := startFake(t, "vtrix")
		return p, v, with(penv, "VTRIX_API_KEY", venv["VTRIX_API_KEY"], "VTRIX_BASE_URL", venv["VTRIX_BASE_URL"])
	}
	t.Run("first configured by default", func(t *testing.T) {
		t.Parallel()
		p, v, env := newEnv(t)
		if code, _, stderr := runBot(t, env, "imagine", "-o", filepath.Join(t.TempDir(), "x"), "a cat"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if len(p.Submits()) != 1 || len(v.Submits()) != 0 {
			t.Errorf("submits poyo, vtrix = %d, %d, want 1, 0", len(p.Submits()), len(v.Submits()))
		}
	})
	t.Run("IMAGING_VENDOR", func(t *testing.T) {
		t.Parallel()
		p, v, env := newEnv(t)
		env["IMAGING_VENDOR"] = "vtrix"
		if code, _, stderr := runBot(t, env, "imagine", "-o", filepath.Join(t.TempDir(), "x"), "a cat"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if len(p.Submits()) != 0 || len(v.Submits()) != 1 {
			t.Errorf("submits poyo, vtrix = %d, %d, want 0, 1", len(p.Submits()), len(v.Submits()))
		}
	})
	t.Run("--vendor overrides IMAGING_VENDOR", func(t *testing.T) {
		t.Parallel()
		p, v, env := newEnv(t)
		env["IMAGING_VENDOR"] = "vtrix"
		if code, _, stderr := runBot(t, env, "imagine", "-o", filepath.Join(t.TempDir(), "x"), "a cat --vendor PoYo"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if len(p.Submits()) != 1 || len(v.Submits()) != 0 {
			t.Errorf("submits poyo, vtrix = %d, %d, want 1, 0", len(p.Submits()), len(v.Submits()))
		}
	})
	t.Run("--vendor not configured", func(t *testing.T) {
		t.Parallel()
		p, v, env := newEnv(t)
		code, _, stderr := runBot(t, env, "imagine", "--vendor", "apixo", "a cat")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		for _, w := range []string{`"apixo"`, "poyo, vtrix"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr lacks %q: %s", w, stderr)
			}
		}
		if n := len(p.Requests()) + len(v.Requests()); n != 0 {
			t.Errorf("fakes saw %d requests, want 0", n)
		}
	})
}

// wantOneErrorLine checks that stderr ends with exactly one "bot: " line
// containing every want, and returns it.
func wantOneErrorLine(t *testing.T, stderr string, want ...string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "bot: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || lines[len(lines)-1] != errLines[0] || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("want stderr to end with one line starting \"bot: \"; got:\n%s", stderr)
		return ""
	}
	for _, w := range want {
		if !strings.Contains(errLines[0], w) {
			t.Errorf("error line %q lacks %q", errLines[0], w)
		}
	}
	return errLines[0]
}

func TestImagineSafetyFailure(t *testing.T) {
	t.Parallel()
	for _, vendor := range []string{"poyo", "toapis", "apixo", "vtrix"} {
		t.Run(vendor, func(t *testing.T) {
			t.Parallel()
			f, env := startFake(t, vendor, imagingtest.WithOutcome(imagingtest.FailSafety))
			out := filepath.Join(t.TempDir(), "out.png")
			code, stdout, stderr := runBot(t, env, "imagine", "-o", out, "something", "forbidden")
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			wantOneErrorLine(t, stderr, "safety filter")
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failure (stat: %v)", out, err)
			}
			if n := len(f.Submits()); n != 1 {
				t.Errorf("fake saw %d submits, want 1", n)
			}
		})
	}
}

func TestImagineWrongAPIKey(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-do-not-print-9f3a"
	for _, vendor := range []string{"poyo", "toapis", "apixo", "vtrix"} {
		t.Run(vendor, func(t *testing.T) {
			t.Parallel()
			f, env := startFake(t, vendor, imagingtest.WithAPIKey("other"))
			env[strings.ToUpper(vendor)+"_API_KEY"] = secret
			out := filepath.Join(t.TempDir(), "out.png")
			code, stdout, stderr := runBot(t, env, "imagine", "-o", out, "a cat")
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			wantOneErrorLine(t, stderr, "API key")
			if strings.Contains(stderr, secret) || strings.Contains(stderr, secret[len(secret)-6:]) {
				t.Errorf("stderr shows the API key:\n%s", stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failure", out)
			}
			subs := f.Submits()
			if len(subs) != 1 || subs[0].Status != 401 {
				t.Errorf("fake saw %d submits (want 1, answered 401)", len(subs))
			}
			if got, want := subs[0].Header.Get("Authorization"), "Bearer "+secret; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
		})
	}
}

func TestImagineVtrixMaxRefusedLocally(t *testing.T) {
	t.Parallel()
	f, env := startFake(t, "vtrix")
	out := filepath.Join(t.TempDir(), "out.png")
	code, stdout, stderr := runBot(t, env, "imagine", "--model", "max", "-o", out, "a cat")
	if code != 1 && code != 2 {
		t.Errorf("exit %d, want 1 or 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	wantOneErrorLine(t, stderr, "max", "pro")
	if n := len(f.Requests()); n != 0 {
		t.Errorf("fake saw %d requests (%d submits), want none", n, len(f.Submits()))
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failure", out)
	}
}

// TestImagineUsage covers command-line mistakes: exit 2, nothing sent.
func TestImagineUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"imagine", "--colour", "red", "a", "cat"}, []string{"--colour", imaging.FlagHelp}},
		{"unknown flag inline", []string{"imagine", "a cat --stylize 100"}, []string{"--stylize", imaging.FlagHelp}},
		{"no prompt", []string{"imagine"}, []string{"needs a prompt", "usage:"}},
		{"flags but no prompt", []string{"imagine", "--ar", "16:9", "-o", "x.png"}, []string{"needs a prompt"}},
		{"blank prompt", []string{"imagine", "  "}, []string{"needs a prompt"}},
		{"-o without a file", []string{"imagine", "a", "cat", "-o"}, []string{"-o needs a file name"}},
		{"flag without value", []string{"imagine", "a", "cat", "--ar"}, []string{"--ar needs a value"}},
		{"bad model", []string{"imagine", "--model", "ultra", "a", "cat"}, []string{`"ultra"`, "pro", "max"}},
		{"bad aspect", []string{"imagine", "--ar", "wide", "a", "cat"}, []string{`"wide"`}},
		{"bad seed", []string{"imagine", "--seed", "lucky", "a", "cat"}, []string{`"lucky"`}},
		{"flag twice", []string{"imagine", "--ar", "1:1", "a cat --ar 16:9"}, []string{"twice"}},
		{"missing local image", []string{"imagine", "--image", "/nonexistent/cat.png", "a", "cat"}, []string{"/nonexistent/cat.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, env := startFake(t, "poyo")
			code, stdout, stderr := runBot(t, env, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			if !strings.HasPrefix(stderr, "bot: ") {
				t.Errorf("stderr does not start with \"bot: \": %q", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if n := len(f.Requests()); n != 0 {
				t.Errorf("fake saw %d requests, want none", n)
			}
		})
	}
}

// TestImagineConfigProblems: the terminal command reports configuration
// problems in plain words before contacting anyone.
func TestImagineConfigProblems(t *testing.T) {
	t.Parallel()
	f, env := startFake(t, "poyo")
	env["IMAGING_VENDOR"] = "toapis"
	env["LOG_LEVEL"] = "loud"
	code, _, stderr := runBot(t, env, "imagine", "a cat")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, w := range []string{"bot: configuration:", "IMAGING_VENDOR=toapis but TOAPIS_API_KEY is empty", `LOG_LEVEL="loud"`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}

	code, _, stderr = runBot(t, map[string]string{}, "imagine", "a cat")
	if code != 1 || !strings.Contains(stderr, "no vendor API key is set") {
		t.Errorf("no keys: exit %d, stderr %q", code, stderr)
	}
}

// TestImagineLocalImagePoYo: a local --image file is uploaded, then an edit
// is submitted with the upload's URL.
func TestImagineLocalImagePoYo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ref := imagingtest.PNG(3)
	refPath := filepath.Join(dir, "ref.png")
	if err := os.WriteFile(refPath, ref, 0o600); err != nil {
		t.Fatal(err)
	}
	result := imagingtest.PNG(4)
	p := imagingtest.NewPoYo(t, imagingtest.WithImage(result))
	env := map[string]string{"POYO_API_KEY": "test-key", "POYO_BASE_URL": p.URL,
		"IMAGING_POLL_DELAY": "10ms", "IMAGING_POLL_INTERVAL": "10ms"}
	out := filepath.Join(dir, "out.png")
	code, stdout, stderr := runBot(t, env, "imagine", "--image", refPath, "-o", out, "make", "it", "snowy")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != out+"\n" {
		t.Errorf("stdout = %q", stdout)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, result) {
		t.Errorf("written image differs from the fake's result")
	}

	var kinds []string
	for _, r := range p.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/api/common/upload/"):
			kinds = append(kinds, "upload")
		case r.Path == "/api/generate/submit":
			kinds = append(kinds, "submit")
		}
	}
	if got, want := strings.Join(kinds, ","), "upload,submit"; got != want {
		t.Fatalf("upload/submit order = %s, want %s", got, want)
	}
	up := p.Uploads()[0]
	if up.Status != 200 {
		t.Fatalf("upload answered %d: %s", up.Status, up.Body)
	}
	b64, _ := up.JSON()["base64_data"].(string)
	if _, rest, ok := strings.Cut(b64, ";base64,"); ok {
		b64 = rest
	}
	if data, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(data, ref) {
		t.Errorf("uploaded bytes differ from the local file (decode err %v)", err)
	}
	body := oneSubmit(t, p)
	wantField(t, body, "flux-kontext-pro-edit", "model")
	wantField(t, body, "make it snowy", "input", "prompt")
	u, _ := dig(body, "input", "image_urls", 0).(string)
	if !strings.HasPrefix(u, p.URL+"/cdn/temp/") {
		t.Errorf("input.image_urls[0] = %q, want the fake's upload URL", u)
	}
}

// TestImagineLocalImageURLOnlyVendor: APIXO takes only links, and the
// terminal command cannot host an image, so a local file is refused before
// anything is sent.
func TestImagineLocalImageURLOnlyVendor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	refPath := filepath.Join(dir, "ref.png")
	if err := os.WriteFile(refPath, imagingtest.PNG(3), 0o600); err != nil {
		t.Fatal(err)
	}
	f, env := startFake(t, "apixo")
	code, _, stderr := runBot(t, env, "imagine", "--image", refPath, "make it snowy")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	wantOneErrorLine(t, stderr, "link")
	if n := len(f.Requests()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

func TestImagineLocalFileNotImage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("just text"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, env := startFake(t, "poyo")
	code, _, stderr := runBot(t, env, "imagine", "--img", path, "a cat")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	wantOneErrorLine(t, stderr, "is not a PNG, JPEG, WebP or GIF image")
	if n := len(f.Requests()); n != 0 {
		t.Errorf("fake saw %d requests, want none", n)
	}
}

// TestImagineImageURL: an --image link is passed to the vendor as is.
func TestImagineImageURL(t *testing.T) {
	t.Parallel()
	f, env := startFake(t, "toapis")
	out := filepath.Join(t.TempDir(), "o.png")
	code, _, stderr := runBot(t, env, "imagine", "-o", out, "make it snowy --image https://example.com/cat.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	body := oneSubmit(t, f)
	wantField(t, body, []any{"https://example.com/cat.png"}, "image_urls")
}
