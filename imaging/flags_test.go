package imaging_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fluxbot/fluxbot/imaging"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	longURL := "https://example.com/" + strings.Repeat("a", 2100)
	tests := []struct {
		name    string
		in      string
		want    imaging.Flags
		wantErr string // the whole user message
	}{
		{name: "empty", in: "", want: imaging.Flags{}},
		{name: "plain prompt", in: "a lighthouse at dawn", want: imaging.Flags{Prompt: "a lighthouse at dawn"}},
		{name: "whitespace collapsed", in: "  a   lighthouse\n\tat\u00a0dawn ", want: imaging.Flags{Prompt: "a lighthouse at dawn"}},
		{name: "every flag",
			in: "a cat --ar 16:9 --model max --format jpeg --seed 42 --upsample --safety 2 --vendor poyo --image https://example.com/a.png",
			want: imaging.Flags{Prompt: "a cat", AspectRatio: "16:9", Model: imaging.ModelMax, Format: imaging.FormatJPEG, Seed: ptr[int64](42),
				Upsample: true, Safety: ptr(2), Vendor: "poyo", Images: []string{"https://example.com/a.png"}}},
		{name: "aliases",
			in: "cat --aspect 4:3 --m pro --f png --upsampling --safety-tolerance 0 --img http://example.com/b.jpg",
			want: imaging.Flags{Prompt: "cat", AspectRatio: "4:3", Model: imaging.ModelPro, Format: imaging.FormatPNG,
				Upsample: true, Safety: ptr(0), Images: []string{"http://example.com/b.jpg"}}},
		{name: "aspect-ratio alias", in: "cat --aspect-ratio 3:4", want: imaging.Flags{Prompt: "cat", AspectRatio: "3:4"}},
		{name: "name=value form", in: "cat --ar=21:9 --seed=-7 --model=max --image=https://example.com/c.png",
			want: imaging.Flags{Prompt: "cat", AspectRatio: "21:9", Seed: ptr[int64](-7), Model: imaging.ModelMax, Images: []string{"https://example.com/c.png"}}},
		{name: "em dash", in: "cat —ar 16:9 —model=max", want: imaging.Flags{Prompt: "cat", AspectRatio: "16:9", Model: imaging.ModelMax}},
		{name: "en dash", in: "cat –seed 5 –upsample", want: imaging.Flags{Prompt: "cat", Seed: ptr[int64](5), Upsample: true}},
		{name: "flags anywhere", in: "--ar 16:9 a cat --model max in space --seed 1",
			want: imaging.Flags{Prompt: "a cat in space", AspectRatio: "16:9", Model: imaging.ModelMax, Seed: ptr[int64](1)}},
		{name: "ratio sign", in: "cat --ar 16∶9", want: imaging.Flags{Prompt: "cat", AspectRatio: "16:9"}},
		{name: "look-alikes stay in the prompt", in: "a -- b --> c — d – e --1 f -x g --- h --=x i ->",
			want: imaging.Flags{Prompt: "a -- b --> c — d – e --1 f -x g --- h --=x i ->"}},
		{name: "dashes inside words stay", in: "well--known cat—dog x--ar", want: imaging.Flags{Prompt: "well--known cat—dog x--ar"}},
		{name: "case-insensitive", in: "cat --AR 16:9 --Model MAX --FORMAT PNG --Vendor TOAPIS --UPSAMPLE",
			want: imaging.Flags{Prompt: "cat", AspectRatio: "16:9", Model: imaging.ModelMax, Format: imaging.FormatPNG, Vendor: "toapis", Upsample: true}},
		{name: "jpg is jpeg", in: "cat --format jpg", want: imaging.Flags{Prompt: "cat", Format: imaging.FormatJPEG}},
		{name: "JPG is jpeg", in: "cat --format=JPG", want: imaging.Flags{Prompt: "cat", Format: imaging.FormatJPEG}},
		{name: "upsample bare", in: "cat --upsample", want: imaging.Flags{Prompt: "cat", Upsample: true}},
		{name: "upsample=false", in: "cat --upsample=false", want: imaging.Flags{Prompt: "cat", Upsample: false}},
		{name: "upsample=true", in: "cat --upsample=1", want: imaging.Flags{Prompt: "cat", Upsample: true}},
		{name: "upsample takes no separate value", in: "cat --upsample false", want: imaging.Flags{Prompt: "cat false", Upsample: true}},
		{name: "upsample twice is fine", in: "cat --upsample --upsampling", want: imaging.Flags{Prompt: "cat", Upsample: true}},
		{name: "several images in order", in: "merge --image https://a.example/1.png and --img https://b.example/2.png",
			want: imaging.Flags{Prompt: "merge and", Images: []string{"https://a.example/1.png", "https://b.example/2.png"}}},
		{name: "Slack link with label", in: "blue --image <https://files.slack.com/a.png|a.png>",
			want: imaging.Flags{Prompt: "blue", Images: []string{"https://files.slack.com/a.png"}}},
		{name: "Slack link", in: "blue --image <https://files.slack.com/a.png>",
			want: imaging.Flags{Prompt: "blue", Images: []string{"https://files.slack.com/a.png"}}},
		{name: "longest prompt", in: strings.Repeat("é", imaging.MaxPromptInput), want: imaging.Flags{Prompt: strings.Repeat("é", imaging.MaxPromptInput)}},

		{name: "prompt too long", in: strings.Repeat("a", imaging.MaxPromptInput+1), wantErr: "That prompt is too long (more than 12000 characters)."},
		{name: "duplicate", in: "cat --ar 1:1 --ar 16:9", wantErr: "--ar is given twice."},
		{name: "duplicate through alias", in: "cat --ar 1:1 --aspect=16:9", wantErr: "--aspect is given twice."},
		{name: "duplicate seed", in: "--seed 1 cat --seed=2", wantErr: "--seed is given twice."},
		{name: "duplicate vendor", in: "cat --vendor poyo --vendor vtrix", wantErr: "--vendor is given twice."},
		{name: "unknown flag", in: "cat --style anime", wantErr: "I don't know the option --style. Options: " + imaging.FlagHelp + "."},
		{name: "unknown em-dash flag", in: "cat —stylize 100", wantErr: "I don't know the option --stylize. Options: " + imaging.FlagHelp + "."},
		{name: "missing ar", in: "cat --ar", wantErr: "--ar needs a value, e.g. --ar 16:9."},
		{name: "missing seed", in: "cat --seed", wantErr: "--seed needs a value, e.g. --seed 42."},
		{name: "missing model", in: "cat --m", wantErr: "--m needs a value, e.g. --model max."},
		{name: "missing image", in: "--image", wantErr: "--image needs a value, e.g. --image https://example.com/cat.png."},
		{name: "missing vendor", in: "cat --vendor", wantErr: "--vendor needs a value, e.g. --vendor poyo."},
		{name: "bad ratio", in: "cat --ar wide", wantErr: `The aspect ratio "wide" isn't W:H, e.g. --ar 16:9.`},
		{name: "zero ratio", in: "cat --ar=0:1", wantErr: `The aspect ratio "0:1" isn't W:H, e.g. --ar 16:9.`},
		{name: "empty ratio", in: "cat --ar=", wantErr: `The aspect ratio "" isn't W:H, e.g. --ar 16:9.`},
		{name: "bad model", in: "cat --model ultra", wantErr: `The model "ultra" isn't one I know; use --model pro or --model max.`},
		{name: "bad model truncated", in: "cat --model " + strings.Repeat("x", 100),
			wantErr: `The model "` + strings.Repeat("x", 40) + `…" isn't one I know; use --model pro or --model max.`},
		{name: "bad format", in: "cat --format gif", wantErr: `The format "gif" isn't one I know; use --format png or --format jpeg.`},
		{name: "bad seed", in: "cat --seed abc", wantErr: `The seed "abc" isn't a whole number, e.g. --seed 42.`},
		{name: "fractional seed", in: "cat --seed 1.5", wantErr: `The seed "1.5" isn't a whole number, e.g. --seed 42.`},
		{name: "seed overflow", in: "cat --seed 99999999999999999999", wantErr: `The seed "99999999999999999999" isn't a whole number, e.g. --seed 42.`},
		{name: "safety too high", in: "cat --safety 7", wantErr: `The safety tolerance "7" isn't a number from 0 to 6.`},
		{name: "safety negative", in: "cat --safety=-1", wantErr: `The safety tolerance "-1" isn't a number from 0 to 6.`},
		{name: "safety not a number", in: "cat --safety two", wantErr: `The safety tolerance "two" isn't a number from 0 to 6.`},
		{name: "upsample bad value", in: "cat --upsample=maybe", wantErr: "--upsample takes no value (or true/false)."},
		{name: "image not a link", in: "cat --image cat.png", wantErr: `The image "cat.png" isn't a link starting with https://.`},
		{name: "image ftp", in: "cat --image ftp://example.com/a.png", wantErr: `The image "ftp://example.com/a.png" isn't a link starting with https://.`},
		{name: "image link too long", in: "cat --image " + longURL, wantErr: "The image link is too long."},
		{name: "flag name as value", in: "cat --ar --model max", wantErr: `The aspect ratio "--model" isn't W:H, e.g. --ar 16:9.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := imaging.ParseFlags(tt.in)
			if tt.wantErr != "" {
				e, ok := errors.AsType[*imaging.Error](err)
				if !ok {
					t.Fatalf("ParseFlags(%q) = %+v, %v; want a KindInvalid *imaging.Error", tt.in, got, err)
				}
				if e.Kind != imaging.KindInvalid {
					t.Errorf("Kind = %v, want invalid", e.Kind)
				}
				if msg := imaging.UserMessage(err); msg != tt.wantErr {
					t.Errorf("UserMessage() = %q\nwant %q", msg, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFlags(%q) error = %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFlags(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFlagsApply(t *testing.T) {
	t.Parallel()
	old := imaging.Image{URL: "https://example.com/old.png"}
	tests := []struct {
		name  string
		flags imaging.Flags
		req   imaging.Request
		want  imaging.Request
	}{
		{name: "only the prompt",
			flags: imaging.Flags{Prompt: "new"},
			req: imaging.Request{Prompt: "old", Model: imaging.ModelMax, AspectRatio: "4:3", Format: imaging.FormatJPEG,
				Seed: ptr[int64](1), PromptUpsampling: true, SafetyTolerance: ptr(1), Images: []imaging.Image{old}},
			want: imaging.Request{Prompt: "new", Model: imaging.ModelMax, AspectRatio: "4:3", Format: imaging.FormatJPEG,
				Seed: ptr[int64](1), PromptUpsampling: true, SafetyTolerance: ptr(1), Images: []imaging.Image{old}}},
		{name: "every flag",
			flags: imaging.Flags{Prompt: "new", Model: imaging.ModelPro, AspectRatio: "16:9", Format: imaging.FormatPNG, Seed: ptr[int64](9),
				Upsample: true, Safety: ptr(5), Vendor: "poyo", Images: []string{"https://example.com/new.png"}},
			req: imaging.Request{Prompt: "old", Model: imaging.ModelMax, AspectRatio: "4:3", Format: imaging.FormatJPEG, Images: []imaging.Image{old}},
			want: imaging.Request{Prompt: "new", Model: imaging.ModelPro, AspectRatio: "16:9", Format: imaging.FormatPNG, Seed: ptr[int64](9),
				PromptUpsampling: true, SafetyTolerance: ptr(5), Images: []imaging.Image{old, {URL: "https://example.com/new.png"}}}},
		{name: "upsample false does not clear",
			flags: imaging.Flags{Prompt: "p"},
			req:   imaging.Request{PromptUpsampling: true},
			want:  imaging.Request{Prompt: "p", PromptUpsampling: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.req
			tt.flags.Apply(&got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Apply()\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseFlagsThenCheck(t *testing.T) {
	t.Parallel()
	f, err := imaging.ParseFlags("a fox --ar 16:9 --model max --seed 3 --format jpg")
	if err != nil {
		t.Fatal(err)
	}
	var r imaging.Request
	f.Apply(&r)
	caps := apixoCaps()
	if err := caps.Check(&r, false); err != nil {
		t.Errorf("Check(%+v) = %v, want nil", r, err)
	}
	f, err = imaging.ParseFlags("a fox --ar 2:1")
	if err != nil {
		t.Fatal(err)
	}
	r = imaging.Request{}
	f.Apply(&r)
	if got, want := imaging.UserMessage(caps.Check(&r, false)), "APIXO doesn't support the aspect ratio 2:1; it supports 1:1, 4:3, 3:4, 9:16, 16:9, 21:9."; got != want {
		t.Errorf("UserMessage(Check()) = %q, want %q", got, want)
	}
}

func TestBugFlagTokenChecksByteNotRune(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"the end —— or is it", `she said —“hello”`, "and then --… nothing", "price —€5"} {
		f, err := imaging.ParseFlags(in)
		if err != nil {
			t.Errorf("ParseFlags(%q) error = %v; want the look-alike kept in the prompt", in, err)
			continue
		}
		if f.Prompt != in {
			t.Errorf("ParseFlags(%q).Prompt = %q, want it unchanged", in, f.Prompt)
		}
	}
}

// flagNames are the names ParseFlags recognises.
var flagNames = []string{"ar", "aspect", "aspect-ratio", "model", "m", "format", "f", "seed", "upsample", "upsampling",
	"safety", "safety-tolerance", "vendor", "image", "img"}

// isFlagToken reports whether tok is a recognised flag, in any spelling.
func isFlagToken(tok string) bool {
	for _, p := range []string{"--", "—", "–"} {
		if rest, ok := strings.CutPrefix(tok, p); ok {
			name, _, _ := strings.Cut(rest, "=")
			if slices.Contains(flagNames, strings.ToLower(name)) {
				return true
			}
		}
	}
	return false
}

func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"",
		"a lighthouse at dawn, oil painting",
		"a cat --ar 16:9 --model max",
		"--ar=21:9 cyberpunk street at night, neon reflections --seed 1234 --format jpg",
		"portrait of an old fisherman —ar 3:4 —upsample",
		"make the sky purple --image <https://files.slack.com/files-pri/T1/cat.png|cat.png> --safety 2",
		"logo --> arrow -- dash — em – en --1 ---",
		"--vendor POYO --img http://example.com/a.png --upsample=false a b c",
		"cat --ar 16∶9",
		"cat --seed",
		"cat --style anime",
		"日本の庭園、桜 --ar 9:16",
		"the end —— or is it",
		"\xff\xfe --ar 1:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fl, err := imaging.ParseFlags(text)
		if err != nil {
			e, ok := errors.AsType[*imaging.Error](err)
			if !ok || e.Kind != imaging.KindInvalid || e.Message == "" {
				t.Fatalf("ParseFlags(%q) error = %#v, want a KindInvalid *imaging.Error with a message", text, err)
			}
			return
		}
		if utf8.ValidString(text) && utf8.RuneCountInString(fl.Prompt) > utf8.RuneCountInString(text) {
			t.Errorf("prompt %q longer than the input %q", fl.Prompt, text)
		}
		if fl.Prompt != strings.Join(strings.Fields(fl.Prompt), " ") {
			t.Errorf("prompt %q is not single-spaced and trimmed", fl.Prompt)
		}
		for _, tok := range strings.Fields(fl.Prompt) {
			if isFlagToken(tok) {
				t.Errorf("ParseFlags(%q).Prompt = %q keeps the flag token %q", text, fl.Prompt, tok)
			}
		}
		again, err := imaging.ParseFlags(fl.Prompt)
		if err != nil {
			t.Fatalf("re-parsing the prompt %q: %v", fl.Prompt, err)
		}
		if !reflect.DeepEqual(again, imaging.Flags{Prompt: fl.Prompt}) {
			t.Errorf("re-parsing the prompt %q = %+v, want the same prompt and no flags", fl.Prompt, again)
		}

		if _, ok := imaging.ParseAspect(fl.AspectRatio); fl.AspectRatio != "" && !ok {
			t.Errorf("AspectRatio %q is not W:H", fl.AspectRatio)
		}
		if fl.Model != "" && fl.Model != imaging.ModelPro && fl.Model != imaging.ModelMax {
			t.Errorf("Model = %q", fl.Model)
		}
		if fl.Format != "" && fl.Format != imaging.FormatPNG && fl.Format != imaging.FormatJPEG {
			t.Errorf("Format = %q", fl.Format)
		}
		if fl.Safety != nil && (*fl.Safety < 0 || *fl.Safety > 6) {
			t.Errorf("Safety = %d, want 0..6", *fl.Safety)
		}
		if fl.Vendor != strings.ToLower(fl.Vendor) {
			t.Errorf("Vendor = %q, want lower case", fl.Vendor)
		}
		for _, u := range fl.Images {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || len(u) > 2048 || strings.Contains(u, "|") {
				t.Errorf("image %q is not a clean http(s) link", u)
			}
		}
	})
}
